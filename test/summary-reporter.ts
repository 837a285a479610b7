// Prints one closing line, "N passed, N failed" (", N skipped" when any), that scripts and CI
// read after the default reporter's output.
import type { Reporter, TestModule } from 'vitest/node';

export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    let passed = 0, failed = 0, skipped = 0;
    for (const m of modules) {
      let moduleFailed = 0;
      for (const t of m.children.allTests()) {
        const s = t.result().state;
        if (s === 'passed') passed++;
        else if (s === 'failed') moduleFailed++;
        else skipped++;
      }
      // A file whose hooks or imports failed fails even when none of its tests ran.
      failed += moduleFailed === 0 && m.state() === 'failed' ? 1 : moduleFailed;
    }
    process.stdout.write(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
  }
}
