/*
 * A bridge's fail mode, as Open vSwitch does it (ofproto/fail-open.c and connmgr.c). Gaining
 * the first controller or losing the last one flushes the bridge's flows, as does changing the
 * fail mode while there is no controller; after a flush a bridge without controllers in
 * standalone mode gets its `priority=0,actions=NORMAL` back. In standalone mode with at least
 * one active (tcp:/unix:) controller target, once no controller connection has been admitted
 * (ofconn.ts: it sent something only a controller in charge sends, or stayed 30 s) for three
 * times the longest inactivity probe (1 s when probes are off), the bridge fails open: its
 * flows are flushed and Bridge.failOpen makes every packet go through NORMAL (OVS installs a
 * hidden NORMAL flow above all others; neither shows in dump-flows), so no packet reaches a
 * controller. It stays open while controllers are merely connected (they get a bogus RARP
 * packet-in every 2 s, controllers.ts) and leaves fail-open, without flushing again, as soon
 * as one is admitted: the tables are then whatever the controller puts in them. Listening
 * (ptcp:/punix:) targets alone never make a bridge fail open. Secure mode keeps the flows and
 * never fails open. Owned by ControllerManager (controllers.ts). Control path.
 */
import type { Bridge } from './bridge.js';
import { newFlowMod } from './ofp/flow-syntax.js';
import { OFPP_NORMAL, OFPTT_ALL } from './ofp/layout.js';

export type FailMode = 'standalone' | 'secure';

/** How long without an admitted controller before a standalone bridge fails open. */
export function failOpenAfterMs(probeMs: number): number {
  return probeMs > 0 ? 3 * probeMs : 1000;
}

/** Deletes every flow of `br`; puts back priority=0,actions=NORMAL when `withNormal`. */
export function flushFlows(br: Bridge, withNormal: boolean): void {
  const del = newFlowMod('delete');
  del.table = OFPTT_ALL;
  br.tables.apply(del);
  if (!withNormal) return;
  const add = newFlowMod('add');
  add.priority = 0;
  add.actions = [{ type: 'output', port: OFPP_NORMAL }];
  br.tables.apply(add);
}

/** Sets `br.failOpen`; cached datapath flows are revalidated when it changes. */
export function setFailOpen(br: Bridge, on: boolean): boolean {
  if (br.failOpen === on) return false;
  br.failOpen = on;
  br.tables.generation++;
  if (br.onTablesChange !== null) br.onTablesChange();
  return true;
}

/** The fail-mode state of one bridge. */
export class BridgeFailMode {
  /** As after the bridge was created: no controllers, standalone. */
  private hadControllers = false;
  private mode: FailMode = 'standalone';
  /** Since when no controller has been connected (ms), null while one is. */
  private downSince: number | null;

  constructor(private readonly br: Bridge, now = Date.now()) {
    this.downSince = now;
  }

  /** Follows the configuration; returns true when the flows were flushed. */
  configure(hasControllers: boolean, mode: FailMode): boolean {
    const flush = hasControllers !== this.hadControllers || (!hasControllers && mode !== this.mode);
    this.hadControllers = hasControllers;
    this.mode = mode;
    if (flush) flushFlows(this.br, !hasControllers && mode === 'standalone');
    if (!hasControllers || mode === 'secure') setFailOpen(this.br, false);
    return flush;
  }

  /**
   * Called periodically and when a connection comes, goes or is admitted: `admitted` whether
   * some controller connection is admitted, `hasActive` whether the bridge has an active
   * (tcp:/unix:) target. Returns true if failOpen changed; entering fail-open flushes the flows.
   */
  update(admitted: boolean, hasActive: boolean, probeMs: number, now = Date.now()): boolean {
    if (admitted) {
      this.downSince = null;
      return setFailOpen(this.br, false);
    }
    if (this.downSince === null) this.downSince = now;
    const open = this.hadControllers && hasActive && this.mode === 'standalone' && now - this.downSince >= failOpenAfterMs(probeMs);
    if (open && !this.br.failOpen) flushFlows(this.br, false);
    return setFailOpen(this.br, open);
  }
}
