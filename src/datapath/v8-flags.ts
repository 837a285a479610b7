/*
 * The V8 flags the datapath daemon runs with: a lower tier-up budget and no memory-reducer
 * collections (why: below), then VSWITCH_DATAPATH_V8_FLAGS (diagnostics, e.g. '--trace-deopt
 * --redirect-code-traces --redirect-code-traces-to=FILE' or '--trace-gc': the daemon gets no
 * node flags). Read by main.ts before any other module of the daemon loads. Control path.
 */
import { setFlagsFromString } from 'node:v8';

/**
 * V8's tier-up budget for this process, in bytes of bytecode run per profiler tick (V8's default
 * is 66 KiB). The per-frame functions run once per wakeup, not in long loops: with the default
 * a ping (two wakeups per round trip) reaches optimised code only after about a thousand round
 * trips, and again after every deoptimisation. 8 KiB gets there eight times sooner; the cost is
 * optimising some control-path functions that would otherwise stay interpreted.
 */
export const JIT_INTERRUPT_BUDGET = 8192;

/**
 * No "memory reducer" collections. V8 arms its memory reducer once the old generation has grown
 * 1 MiB past the start-up snapshot (loading our modules does that); some 8 s later, if the
 * process allocates little (a forwarding datapath allocates almost nothing), it runs up to three
 * full mark-compacts to hand memory back, each stopping this thread for 4-9 ms on a 2-CPU host:
 * every frame arriving meanwhile waits (measured: ping round trips of 3-9 ms at about +8 s and
 * +17 s after start). The datapath's heap is small and steady, so there is little to hand back;
 * ordinary collections (allocation-driven) are unaffected. The flag is only read when the heap
 * grows, so it is set before any module of ours loads.
 */
export const GC_FLAGS = '--no-memory-reducer-for-small-heaps';

/** The flags, in the order they are set (the environment's last: it may override ours). */
export function datapathV8Flags(env: NodeJS.ProcessEnv): string[] {
  const flags = [`--interrupt-budget=${JIT_INTERRUPT_BUDGET}`, GC_FLAGS];
  const extra = env.VSWITCH_DATAPATH_V8_FLAGS?.trim();
  if (extra) flags.push(extra);
  return flags;
}

/** Sets datapathV8Flags(env) on this process's V8. */
export function setDatapathV8Flags(env: NodeJS.ProcessEnv, set: (flags: string) => void = setFlagsFromString): void {
  for (const f of datapathV8Flags(env)) set(f);
}
