/*
 * The datapath thread's scheduling priority, raised once at start by the daemon (daemon-main.ts);
 * control path. Frames wait while this thread waits for a CPU, so it runs ahead of the control
 * plane: measured on 2 CPUs, vswitchd's once-a-second requests (port_list, the revalidator's
 * dump) woke vswitchd onto the datapath's CPU on every reply, where it preempted the datapath
 * for 0.5-3 ms while a ping sat unread (p99 round trip 1-3 ms whenever the ping's 10 ms period
 * lined up with that second). At nice -10 (what ovs-ctl gives ovs-vswitchd) a woken vswitchd
 * no longer preempts it. Only the calling thread changes (Linux nice is per thread): V8's and
 * libuv's helper threads keep the default. Without CAP_SYS_NICE it stays at its current nice.
 */
import { setPriority } from 'node:os';

/** Nice level of the datapath's thread unless VSWITCH_DATAPATH_NICE says otherwise. */
export const DEFAULT_DATAPATH_NICE = -10;

export interface PriorityResult {
  /** The nice level asked for. */
  nice: number;
  /** Why it was not applied (bad VSWITCH_DATAPATH_NICE, no permission), or null. */
  error: string | null;
}

/** Reads VSWITCH_DATAPATH_NICE (an integer -20..19, default DEFAULT_DATAPATH_NICE); never throws. */
export function datapathNice(env: NodeJS.ProcessEnv): { nice: number; error: string | null } {
  const raw = env.VSWITCH_DATAPATH_NICE;
  if (raw === undefined || raw === '') return { nice: DEFAULT_DATAPATH_NICE, error: null };
  const n = Number(raw);
  if (!Number.isInteger(n) || n < -20 || n > 19) {
    return { nice: DEFAULT_DATAPATH_NICE, error: `VSWITCH_DATAPATH_NICE=${raw}: not an integer from -20 to 19; using ${DEFAULT_DATAPATH_NICE}` };
  }
  return { nice: n, error: null };
}

/** Sets the calling thread's nice level from the environment; returns what happened. */
export function raiseDatapathPriority(env: NodeJS.ProcessEnv = process.env, set: (nice: number) => void = (n) => setPriority(0, n)): PriorityResult {
  const want = datapathNice(env);
  try {
    set(want.nice);
    return want;
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    return { nice: want.nice, error: `cannot set nice ${want.nice} (${why}); running at the inherited priority` };
  }
}
