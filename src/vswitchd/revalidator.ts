/*
 * The revalidator keeps the datapath's megaflows true to the current OpenFlow tables, MAC
 * tables and configuration, credits the OpenFlow rules with the traffic of the flows that went
 * through them, expires idle flows, times out OpenFlow entries and enforces the dynamic flow
 * limit (udpif.ts). Woken by a configuration change (trigger(): every flow is translated
 * again), by a flow table change (at once: a rule that stops matching stops forwarding), by a
 * MAC table change, when an OpenFlow entry is due to time out, and every second. Control path:
 * it streams the datapath's flows page by page (DpifClient.dumpFlows) and never holds the whole
 * table.
 *
 * A pass:
 *  1. Walks every datapath flow, one dump page at a time, with its ukey (ukeys.ts):
 *     - packets and bytes it gained since the last look are credited to every OpenFlow rule its
 *       translation went through (and their last-used time, for idle timeouts);
 *     - idle longer than max-idle (Open_vSwitch other_config:max-idle, default 10 s; 100 ms
 *       while the datapath holds more flows than the flow limit, so idle flows are evicted
 *       first) → delete;
 *     - in_port no longer a bridge port → delete (a drop flow is kept until idle, so a stray
 *       port's frames stay down in the datapath);
 *     - used since the previous pass → refresh the MAC entry of its (in_port, dl_src, VLAN) if
 *       it went through NORMAL, and run its learn actions again: traffic on cached flows never
 *       reaches the upcall handler, so without this a busy host's entry (or learned flow)
 *       would time out under it;
 *     - translated again WITHOUT side effects when its ukey is missing, its bridge's tables
 *       changed since its translation, it used NORMAL and the MAC table changed, or the pass
 *       is a full one; if the new translation consults a bit the flow's mask wildcards, the
 *       flow is too wide now and is deleted (the next miss installs the right one); else if the
 *       actions differ they are replaced (a flooding flow becomes unicast once its destination
 *       is learned, a flow hit by a new drop rule stops forwarding).
 *  2. Ages out MAC entries (mac-aging-time) that no cached flow refreshed, removes OpenFlow
 *     entries whose idle or hard timeout passed (flow_removed events), forgets the ukeys of
 *     flows that left the datapath behind its back, and arms a timer for the next timeout.
 *  3. Adjusts the dynamic flow limit from the pass's duration and flow count.
 *  A table that changed during the pass (learning, timeouts) makes another pass follow at once.
 * So on a quiet switch a pass over 200k flows translates nothing.
 * After a restart (`relearn`), a first dump learns every (in_port, dl_src) from the cached
 * flows, oldest use first, so the MAC tables come back as they were; then a full pass runs.
 * Passes never overlap: a wakeup during a pass makes one more pass right after it.
 */
import type { DpifClient } from '../lib/dpif-client.js';
import type { FlowDumpPage } from '../lib/flow-dump.js';
import { KEY_WORDS, W_ETH_MID, W_ETH_SRC_LO, W_IN_PORT, W_TYPE_TCI, ethSrc, inPort, isMulticastMac, vlanTci, VLAN_CFI } from '../lib/flow-key.js';
import { maskHas, maskIsSubset } from '../lib/flow-mask.js';
import type { Logger } from '../lib/log.js';
import { inputVlan, type Bridge, type BridgePort } from './bridge.js';
import type { SwitchState } from './state.js';
import { flowLimitCeiling, OVER_LIMIT_IDLE_MS, udpifOf, type Udpif } from './udpif.js';
import type { Ukey } from './ukeys.js';
import { Xlator } from './xlate.js';

export type { DumpedFlow } from '../lib/flow-dump.js';

export const REVALIDATE_INTERVAL_MS = 1000;
/** Flows per dump page. */
export const DUMP_PAGE_FLOWS = 1024;
/** Least time between two passes that follow each other because of changes during a pass. */
const AGAIN_GAP_MS = 20;

/** Longest wait for the next OpenFlow timeout check (the 1 s pass runs anyway). */
const MAX_EXPIRY_WAIT_MS = 60000;

/** What one pass decides with (fixed at its start). */
interface PassCtx {
  dp: DpifClient;
  now: number;
  /** Start of the previous completed pass: flows used since then get their MACs refreshed. */
  since: number;
  maxIdle: number;
  overLimit: boolean;
  full: boolean;
  genAtStart: Map<Bridge, number>;
  seen: number;
  deleted: number;
  pass: number;
}

export class Revalidator {
  private readonly state: SwitchState;
  private readonly log: Logger;
  private readonly udpif: Udpif;
  private dp: DpifClient | null = null;
  private readonly xlator: Xlator;
  private readonly key = new Uint32Array(KEY_WORDS);
  private readonly mask = new Uint32Array(KEY_WORDS);
  private running = false;
  private again = false;
  private relearnNext = false;
  private fullNext = true;
  private scheduled = false;
  private timer: NodeJS.Timeout | null = null;
  /** Start time (ms) of the last completed pass; -Infinity before the first. */
  private lastStart = -Infinity;
  private idleWaiters: (() => void)[] = [];
  private passNo = 0;
  private expiryTimer: NodeJS.Timeout | null = null;
  private readonly wakeFn = (): void => this.wake();

  constructor(state: SwitchState, log: Logger) {
    this.state = state;
    this.log = log;
    this.udpif = udpifOf(state);
    this.udpif.wake = this.wakeFn;
    this.udpif.settle = () => this.settle();
    this.xlator = new Xlator(this.udpif.xlateCounters);
  }

  attach(dp: DpifClient): void {
    this.dp = dp;
  }

  detach(): void {
    this.dp = null;
  }

  /** Starts the once-a-second (incremental) pass. */
  start(intervalMs = REVALIDATE_INTERVAL_MS): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.wake(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.expiryTimer = null;
  }

  /**
   * Asks for a full pass soon (every flow translated again: the configuration changed);
   * `relearn` makes it first learn MACs from every cached flow (restart).
   */
  trigger(relearn = false): void {
    if (relearn) this.relearnNext = true;
    this.fullNext = true;
    this.wake();
  }

  /** Asks for an incremental pass soon (a MAC table changed, or the timer). */
  wake(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.loop();
    });
  }

  /** Runs a full pass now (waiting for a running one first) and resolves when it is done. */
  async run(relearn = false): Promise<void> {
    this.trigger(relearn);
    await this.whenIdle();
  }

  /**
   * Resolves once no pass is running or queued and the datapath has applied what the passes
   * sent (a request on the same connection is answered after the puts and deletes before it).
   */
  async settle(): Promise<void> {
    await this.whenIdle();
    const dp = this.dp;
    if (dp !== null && !dp.isClosed) await dp.request('dp_stats').catch(() => undefined);
  }

  /** Resolves once no pass is running or queued. */
  whenIdle(): Promise<void> {
    if (!this.running && !this.scheduled && !this.again) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private async loop(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      do {
        this.again = false;
        const relearn = this.relearnNext;
        const full = this.fullNext || relearn;
        this.relearnNext = false;
        this.fullNext = false;
        try {
          await this.pass(full, relearn);
        } catch (e) {
          if (relearn) this.relearnNext = true;
          if (full) this.fullNext = true;
          this.log.warn({ err: (e as Error).message }, 'revalidation pass failed');
          break;
        }
        if (this.again) await new Promise((r) => setTimeout(r, AGAIN_GAP_MS));
      } while (this.again);
    } finally {
      this.running = false;
      if (!this.scheduled && !this.again) {
        const w = this.idleWaiters.splice(0);
        for (const f of w) f();
      }
    }
  }

  private async pass(full: boolean, relearn: boolean): Promise<void> {
    const dp = this.dp;
    const st = this.state;
    // Before the ports are reconciled with this datapath the port map may be stale.
    if (dp === null || dp.isClosed || !st.ready) return;
    const started = Date.now();
    if (relearn) await this.relearn(dp);
    if (this.dp !== dp || dp.isClosed) return;

    const now = Date.now();
    const genAtStart = new Map<Bridge, number>();
    for (const br of st.bridges.values()) {
      genAtStart.set(br, br.macs.generation + br.tables.generation * 0x100000);
      br.onTablesChange = this.wakeFn;
    }
    const u = this.udpif;
    const overLimit = u.nFlows > u.flowLimit;
    const pass = ++this.passNo;
    u.ukeys.pass = pass;
    const ctx: PassCtx = {
      dp, now, since: full ? -Infinity : this.lastStart, maxIdle: overLimit ? OVER_LIMIT_IDLE_MS : st.maxIdleMs,
      overLimit, full, genAtStart, seen: 0, deleted: 0, pass,
    };
    if (full) u.counters.revalidate_full++;
    await dp.dumpFlows((pg) => this.page(ctx, pg), DUMP_PAGE_FLOWS);
    if (this.dp !== dp || dp.isClosed) return;
    dp.flush();
    u.counters.ukeys_swept += u.ukeys.sweep(pass);
    // Age out after the walk refreshed what cached flows still use; flows that relied on an
    // aged-out entry see its generation move and are fixed by the pass that follows. OpenFlow
    // timeouts likewise, now that the rules' last-used times are fresh.
    const t = Date.now();
    for (const br of st.bridges.values()) {
      br.macs.expire(t);
      br.tables.expire(t);
    }
    this.armExpiry();

    st.counters.revalidations++;
    st.counters.flows_dumped += ctx.seen;
    for (const [br, gen] of genAtStart) {
      if (br.macs.generation + br.tables.generation * 0x100000 !== gen) this.again = true; // changed meanwhile
    }
    this.lastStart = started;
    u.adjust(Date.now() - started, ctx.seen - ctx.deleted, flowLimitCeiling(st));
  }

  /** Wakes a pass when the next OpenFlow entry times out. */
  private armExpiry(): void {
    let next = Infinity;
    for (const br of this.state.bridges.values()) next = Math.min(next, br.tables.nextExpiry());
    if (this.expiryTimer !== null) clearTimeout(this.expiryTimer);
    this.expiryTimer = null;
    if (next === Infinity) return;
    const wait = Math.min(Math.max(0, next - Date.now()) + 5, MAX_EXPIRY_WAIT_MS);
    this.expiryTimer = setTimeout(() => {
      this.expiryTimer = null;
      this.wake();
    }, wait);
    this.expiryTimer.unref();
  }

  /** Credits the rules of `u` with what the flow gained since last time. */
  private credit(u: Ukey | undefined, br: Bridge, pg: FlowDumpPage, i: number, now: number): void {
    if (u === undefined) return;
    const p = pg.packets[i];
    const b = pg.bytes[i];
    if (p < u.packets) {
      // A new datapath flow with the same identity (the old one was deleted behind our back).
      u.packets = 0;
      u.bytes = 0;
    }
    const dp = p - u.packets;
    if (dp <= 0) return;
    const db = b - u.bytes;
    u.packets = p;
    u.bytes = b;
    const used = pg.used[i] || now;
    for (const e of u.rules) br.tables.credit(e, dp, db, used);
  }

  /** Handles one dump page (synchronously: the next page is asked for after it). */
  private page(ctx: PassCtx, pg: FlowDumpPage): void {
    const st = this.state;
    const u = this.udpif;
    const ukeys = u.ukeys;
    const dp = ctx.dp;
    const key = this.key;
    const x = this.xlator;
    u.counters.dump_pages++;
    for (let i = 0; i < pg.n; i++) {
      const b = i * KEY_WORDS;
      for (let w = 0; w < KEY_WORDS; w++) key[w] = pg.keys[b + w];
      ctx.seen++;
      const used = pg.used[i];
      const bp = maskHas(pg.masks, W_IN_PORT, 0xffffffff, b) ? st.portsByOdp.get(inPort(key)) : undefined;
      const uk = ukeys.get(pg.keys, b, pg.masks, b);
      if (uk !== undefined) uk.seen = ctx.pass;
      const idle = ctx.now - (used || pg.created[i]);
      if (idle > ctx.maxIdle) {
        if (bp !== undefined) this.credit(uk, bp.bridge, pg, i, ctx.now);
        this.del(dp, key, pg, b);
        ctx.deleted++;
        if (ctx.overLimit && idle <= st.maxIdleMs) u.counters.flows_evicted++;
        else st.counters.flows_deleted_idle++;
        continue;
      }
      if (bp === undefined) {
        if (pg.nActions(i) > 0) {
          this.del(dp, key, pg, b);
          ctx.deleted++;
          st.counters.flows_deleted_no_port++;
        }
        continue;
      }
      const br = bp.bridge;
      this.credit(uk, br, pg, i, ctx.now);
      if (used > 0 && used >= ctx.since) {
        if (uk === undefined || uk.usesNormal) this.refresh(bp, key, pg.masks, b, ctx.now);
        if (uk !== undefined && uk.learns !== null) this.relearnFlows(br, uk, used);
      }
      const macGen = br.macs.generation;
      const tablesGen = br.tables.generation;
      if (!ctx.full && uk !== undefined && uk.tablesGen === tablesGen && (!uk.usesNormal || uk.macGen === macGen)) continue;
      u.counters.flows_revalidated++;
      x.translate(br, key, bp.ofport, { sideEffects: false, now: ctx.now, trace: null });
      if (!maskIsSubset(x.mask, 0, pg.masks, b)) {
        this.del(dp, key, pg, b);
        ctx.deleted++;
        u.counters.flows_deleted_mask++;
        continue;
      }
      for (let w = 0; w < KEY_WORDS; w++) this.mask[w] = pg.masks[b + w];
      if (!x.out.equals(pg.actionsOf(i))) {
        dp.flowPut(key, this.mask, x.out.buf, x.out.n);
        st.counters.flows_modified++;
      }
      if (uk !== undefined) {
        ukeys.update(uk, x.rules, x.learns, x.usesNormal, tablesGen, macGen);
      } else {
        // Traffic before now (a previous vswitchd, flows installed elsewhere) is nobody's.
        const nu = ukeys.put(key, this.mask, x.rules, x.learns, x.usesNormal, tablesGen, macGen);
        nu.packets = pg.packets[i];
        nu.bytes = pg.bytes[i];
      }
    }
  }

  /** Runs a used flow's learn actions again, refreshing (or restoring) what they learned. */
  private relearnFlows(br: Bridge, uk: Ukey, used: number): void {
    for (const l of uk.learns as NonNullable<Ukey['learns']>) {
      try {
        br.tables.learn(l.spec, l.flow, used);
      } catch {
        this.udpif.xlateCounters.xlate_learn_failed++;
      }
    }
  }

  private del(dp: DpifClient, key: Uint32Array, pg: FlowDumpPage, b: number): void {
    for (let w = 0; w < KEY_WORDS; w++) this.mask[w] = pg.masks[b + w];
    dp.flowDel(key, this.mask);
    this.udpif.ukeys.delete(key, 0, this.mask, 0);
  }

  /** Learns (refreshes) the flow's source MAC on its port, if its mask pins both down. */
  private refresh(bp: BridgePort, key: Uint32Array, masks: Uint32Array, b: number, now: number): boolean {
    if (!maskHas(masks, W_ETH_MID, 0xffff, b) || !maskHas(masks, W_ETH_SRC_LO, 0xffffffff, b) || !maskHas(masks, W_TYPE_TCI, 0xffff, b)) return false;
    const src = ethSrc(key);
    if (isMulticastMac(src)) return false;
    const tci = vlanTci(key);
    const vlan = inputVlan(bp.vlan, (tci & VLAN_CFI) !== 0 ? tci & 0xfff : 0);
    if (vlan < 0) return false;
    bp.bridge.macs.learn(src, vlan, bp.ofport, now);
    this.state.counters.macs_refreshed++;
    return true;
  }

  /** After a restart: learns every cached flow's source, oldest use first (latest wins). */
  private async relearn(dp: DpifClient): Promise<void> {
    const st = this.state;
    const found: { bp: BridgePort; key: Uint32Array; mask: Uint32Array; t: number }[] = [];
    await dp.dumpFlows((pg) => {
      for (let i = 0; i < pg.n; i++) {
        const b = i * KEY_WORDS;
        if (!maskHas(pg.masks, W_IN_PORT, 0xffffffff, b)) continue;
        const bp = st.portsByOdp.get(pg.keys[b + W_IN_PORT]);
        if (bp === undefined) continue;
        found.push({
          bp, key: pg.keys.slice(b, b + KEY_WORDS), mask: pg.masks.slice(b, b + KEY_WORDS), t: pg.used[i] || pg.created[i],
        });
      }
    }, DUMP_PAGE_FLOWS);
    found.sort((a, b) => a.t - b.t);
    const now = Date.now();
    for (const f of found) this.refresh(f.bp, f.key, f.mask, 0, now);
  }
}
