// Test configuration: unit tests run in parallel; end-to-end tests (root: namespaces, taps,
// daemons, QEMU guests) run one file at a time, since they share the machine's CPUs and
// kernel. `npm test` runs the two projects one after the other, so timing-sensitive unit tests
// never compete with a guest booting.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    reporters: ['default', './test/summary-reporter.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 30000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 120000,
          hookTimeout: 120000,
          fileParallelism: false,
        },
      },
    ],
  },
});
