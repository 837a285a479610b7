/*
 * Compiles the benchmark's two small C tools (pktgen: 64-byte frame generator; udprr: UDP
 * request/response latency) with gcc into a directory of the caller's, at the start of each
 * run. Called by bench/run.ts; control path.
 */
import { join } from 'node:path';
import { must } from '../sh.js';

export interface GenTools {
  pktgen: string;
  udprr: string;
}

/** Builds bench/gen/*.c from the checkout at `root` into `outDir`; throws with gcc's errors. */
export function buildGenTools(root: string, outDir: string): GenTools {
  const out = { pktgen: join(outDir, 'pktgen'), udprr: join(outDir, 'udprr') };
  for (const name of ['pktgen', 'udprr'] as const) {
    must('gcc', ['-O2', '-Wall', '-Wextra', '-o', out[name], join(root, 'bench', 'gen', `${name}.c`)]);
  }
  return out;
}
