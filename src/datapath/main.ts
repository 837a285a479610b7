/*
 * The datapath daemon: `node dist/src/datapath/main.js [--pidfile FILE] [--log-file FILE]
 * [--socket PATH] [--flow-limit N]`. Serves datapath.sock (paths().dpSock unless --socket) and
 * the appctl socket datapath.ctl (JSON-RPC: exit, version, coverage/show, dpif/show). Writes
 * its pidfile once both listen; on SIGTERM, SIGINT or `exit` closes every port (removing the tap
 * devices), removes the sockets and the pidfile and exits 0. Started detached by `vswitch start`.
 *
 * This entry only sets the process's V8 flags, then loads the daemon (daemon-main.ts): some
 * flags act on what happens while modules load, so they must come before any of ours does.
 */
import { setFlagsFromString } from 'node:v8';

/**
 * V8's tier-up budget for this process, in bytes of bytecode run per profiler tick (V8's default
 * is 66 KiB). The per-frame functions run once per wakeup, not in long loops: with the default
 * a ping (two wakeups per round trip) reaches optimised code only after about a thousand round
 * trips, and again after every deoptimisation. 8 KiB gets there eight times sooner; the cost is
 * optimising some control-path functions that would otherwise stay interpreted.
 */
const JIT_INTERRUPT_BUDGET = 8192;

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
const GC_FLAGS = '--no-memory-reducer-for-small-heaps';

/** Sets the tier-up budget and GC_FLAGS, then VSWITCH_DATAPATH_V8_FLAGS (diagnostics, e.g.
 *  '--trace-deopt --redirect-code-traces --redirect-code-traces-to=FILE' or '--trace-gc': the
 *  daemon gets no node flags). */
function tuneV8(env: NodeJS.ProcessEnv): void {
  setFlagsFromString(`--interrupt-budget=${JIT_INTERRUPT_BUDGET}`);
  setFlagsFromString(GC_FLAGS);
  const extra = env.VSWITCH_DATAPATH_V8_FLAGS;
  if (extra) setFlagsFromString(extra);
}

tuneV8(process.env);
await import('./daemon-main.js');
