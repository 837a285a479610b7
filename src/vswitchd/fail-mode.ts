/*
 * A bridge's fail mode, as Open vSwitch does it. Gaining the first controller or losing the
 * last one flushes the bridge's flows, as does changing the fail mode while there is no
 * controller; after a flush a bridge without controllers in standalone mode gets its
 * `priority=0,actions=NORMAL` back. With controllers in standalone mode, once none has been
 * connected for three inactivity probes the bridge fails open (Bridge.failOpen: every packet
 * is switched by NORMAL, the tables are ignored) until one connects. Secure mode keeps the
 * flows and never fails open. Owned by ControllerManager (controllers.ts). Control path.
 */
import type { Bridge } from './bridge.js';
import { newFlowMod } from './ofp/flow-syntax.js';
import { OFPP_NORMAL, OFPTT_ALL } from './ofp/layout.js';

export type FailMode = 'standalone' | 'secure';

/** How long without a connected controller before a standalone bridge fails open. */
export function failOpenAfterMs(probeMs: number): number {
  return probeMs > 0 ? 3 * probeMs : 15000;
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

  /** Called periodically and on every connect/disconnect; returns true if failOpen changed. */
  update(connected: boolean, probeMs: number, now = Date.now()): boolean {
    if (connected) {
      this.downSince = null;
      return setFailOpen(this.br, false);
    }
    if (this.downSince === null) this.downSince = now;
    const open = this.hadControllers && this.mode === 'standalone' && now - this.downSince >= failOpenAfterMs(probeMs);
    return setFailOpen(this.br, open);
  }
}
