/*
 * l2-learning: a MAC learning switch run from the controller (`--app l2-learning[:OPTIONS]`).
 * On switch up it installs the table-miss flow "priority=0,actions=CONTROLLER:65535" (and sets
 * miss_send_len to 65535), so unknown traffic comes up whole. Per packet-in it learns the
 * source MAC on the ingress port, then: a known unicast destination on another port gets a
 * flow "priority=P,in_port=IN,dl_dst=DST,dl_src=SRC,actions=output:OUT" with an idle timeout,
 * plus a packet-out of this packet (or, for a buffered packet, the flow mod names the buffer);
 * broadcast, multicast and unknown destinations are flooded with a packet-out; a destination
 * on the ingress port is dropped. Steady traffic therefore matches flows in the switch and
 * never reaches the controller. Flows carry the app's cookie, so a MAC that moves (seen on
 * another port) has its flows deleted ("cookie=C/-1,dl_dst=MAC"), and so do flows out of a
 * port that goes down or away. MACs are per switch, forgotten when it disconnects, and bounded
 * (oldest first out). VLAN tags are carried, not interpreted. Control path, once per packet-in.
 *
 * Options (ARG, "key=value,..."): idle_timeout (s, default 60), hard_timeout (0), priority
 * (100), table (0), match_src (yes: also match dl_src; with no, one flow per destination and
 * port, but a new source's first packets to a known destination are never seen), table_miss
 * (yes), cookie (0x4c32), max_macs (65536 per switch).
 */
import type { App, AppContext, AppCounter } from '../app.js';
import { isMulticastMac, NO_BUFFER, portIsUp, type PacketInEvent, type PortStatusEvent } from '../events.js';
import type { SwitchSession } from '../switch-session.js';
import type { OfAction } from '../../vswitchd/ofp/actions.js';
import { F_ETH_DST, F_ETH_SRC, F_IN_PORT } from '../../vswitchd/ofp/fields.js';
import { newFlowMod } from '../../vswitchd/ofp/flow-syntax.js';
import { OFPP_FLOOD, OFPP_LOCAL, OFPP_MAX } from '../../vswitchd/ofp/layout.js';
import { formatMac } from '../../vswitchd/ofp/values.js';
import { parseAppOptions } from './options.js';

export interface L2Options {
  idleTimeout: number;
  hardTimeout: number;
  priority: number;
  table: number;
  matchSrc: boolean;
  tableMiss: boolean;
  cookie: bigint;
  maxMacs: number;
}

export const L2_DEFAULTS: Readonly<L2Options> = {
  idleTimeout: 60, hardTimeout: 0, priority: 100, table: 0, matchSrc: true, tableMiss: true, cookie: 0x4c32n, maxMacs: 65536,
};

export function parseL2Options(arg: string | undefined): L2Options {
  const o = parseAppOptions('l2-learning', arg, {
    idle_timeout: { type: 'int', min: 0, max: 65535 }, hard_timeout: { type: 'int', min: 0, max: 65535 },
    priority: { type: 'int', min: 1, max: 65535 }, table: { type: 'int', min: 0, max: 254 }, match_src: { type: 'bool' },
    table_miss: { type: 'bool' }, cookie: { type: 'bigint' }, max_macs: { type: 'int', min: 1, max: 1 << 24 },
  });
  return {
    idleTimeout: (o.idle_timeout as number | undefined) ?? L2_DEFAULTS.idleTimeout,
    hardTimeout: (o.hard_timeout as number | undefined) ?? L2_DEFAULTS.hardTimeout,
    priority: (o.priority as number | undefined) ?? L2_DEFAULTS.priority,
    table: (o.table as number | undefined) ?? L2_DEFAULTS.table,
    matchSrc: (o.match_src as boolean | undefined) ?? L2_DEFAULTS.matchSrc,
    tableMiss: (o.table_miss as boolean | undefined) ?? L2_DEFAULTS.tableMiss,
    cookie: (o.cookie as bigint | undefined) ?? L2_DEFAULTS.cookie,
    maxMacs: (o.max_macs as number | undefined) ?? L2_DEFAULTS.maxMacs,
  };
}

/** What to do with one packet. */
export type L2Decision =
  | { kind: 'forward'; port: number }
  | { kind: 'flood' }
  | { kind: 'drop'; why: 'same_port' | 'short' };

/** The MAC table of one switch: MAC (48-bit number) -> port, oldest first. */
export class MacTable {
  private readonly macs = new Map<number, number>();
  constructor(private readonly max: number) {}

  get size(): number {
    return this.macs.size;
  }
  lookup(mac: number): number | undefined {
    return this.macs.get(mac);
  }
  /** Learns `mac` on `port`; returns the port it was on before (undefined: new). */
  learn(mac: number, port: number): number | undefined {
    const prev = this.macs.get(mac);
    if (prev === port) return prev;
    if (prev !== undefined) this.macs.delete(mac); // re-inserted last: the newest
    else if (this.macs.size >= this.max) this.macs.delete(this.macs.keys().next().value as number);
    this.macs.set(mac, port);
    return prev;
  }
  /** Forgets every MAC on `port`; returns how many. */
  forgetPort(port: number): number {
    let n = 0;
    for (const [mac, p] of this.macs) {
      if (p === port) {
        this.macs.delete(mac);
        n++;
      }
    }
    return n;
  }
  entries(): [number, number][] {
    return [...this.macs];
  }
}

/** A real ingress port: a numbered port or the bridge's own (LOCAL), not "unknown". */
export function isLearnablePort(p: number): boolean {
  return p < OFPP_MAX || p === OFPP_LOCAL;
}

/** Learns from and decides for one packet (data at least 14 bytes long). */
export function l2Decide(t: MacTable, inPort: number, src: number, dst: number): { decision: L2Decision; moved: boolean; learned: boolean } {
  let moved = false;
  let learned = false;
  if (!isMulticastMac(src) && isLearnablePort(inPort)) {
    const prev = t.learn(src, inPort);
    learned = prev === undefined;
    moved = prev !== undefined && prev !== inPort;
  }
  if (isMulticastMac(dst)) return { decision: { kind: 'flood' }, moved, learned };
  const out = t.lookup(dst);
  if (out === undefined) return { decision: { kind: 'flood' }, moved, learned };
  if (out === inPort) return { decision: { kind: 'drop', why: 'same_port' }, moved, learned };
  return { decision: { kind: 'forward', port: out }, moved, learned };
}

interface Counters {
  learned: AppCounter;
  moves: AppCounter;
  flows: AppCounter;
  floods: AppCounter;
  forwards: AppCounter;
  drops: AppCounter;
  truncated: AppCounter;
}

const FLOOD_ACTIONS: readonly OfAction[] = [{ type: 'output', port: OFPP_FLOOD }];

export class L2Learning implements App {
  readonly name = 'l2-learning';
  readonly opts: L2Options;
  private readonly tables = new Map<string, MacTable>();
  private c: Counters | null = null;
  private ctx: AppContext | null = null;

  constructor(opts: L2Options) {
    this.opts = opts;
  }

  start(ctx: AppContext): void {
    this.ctx = ctx;
    this.c = {
      learned: ctx.counter('l2_macs_learned', 'MAC addresses learned (new on a switch).'),
      moves: ctx.counter('l2_mac_moves', 'MAC addresses seen on a new port (their flows deleted).'),
      flows: ctx.counter('l2_flows_installed', 'Forwarding flows installed.'),
      floods: ctx.counter('l2_floods', 'Packets flooded with a packet-out (broadcast, multicast, unknown destination).'),
      forwards: ctx.counter('l2_forwards', 'Packets sent to a learned port with a packet-out.'),
      drops: ctx.counter('l2_drops', 'Packets dropped: destination on the ingress port, or too short for Ethernet.'),
      truncated: ctx.counter('l2_truncated', 'Packet-ins that carried only part of the packet (not sent on; raise max_len).'),
    };
    ctx.gauge('l2_macs', 'MAC addresses known, over all switches.', () => {
      let n = 0;
      for (const t of this.tables.values()) n += t.size;
      return n;
    });
  }

  /** The MAC table of a switch (tests, REST). */
  table(dpid: string): MacTable | undefined {
    return this.tables.get(dpid);
  }

  onSwitchUp(sw: SwitchSession): void {
    this.tables.set(sw.id, new MacTable(this.opts.maxMacs));
    if (this.opts.tableMiss) {
      sw.setConfig({ missSendLen: 0xffff });
      sw.addFlow(`table=${this.opts.table},priority=0,cookie=0x${this.opts.cookie.toString(16)},actions=CONTROLLER:65535`);
    }
  }

  onSwitchDown(sw: SwitchSession): void {
    this.tables.delete(sw.id);
  }

  onPacketIn(sw: SwitchSession, pi: PacketInEvent): void {
    const c = this.c!;
    let t = this.tables.get(sw.id);
    if (t === undefined) {
      t = new MacTable(this.opts.maxMacs);
      this.tables.set(sw.id, t);
    }
    if (pi.data.length < 14) {
      c.drops.inc();
      return;
    }
    const inPort = pi.inPort;
    const { decision, moved, learned } = l2Decide(t, inPort, pi.ethSrcNum, pi.ethDstNum);
    if (learned) c.learned.inc();
    if (moved) {
      c.moves.inc();
      this.ctx?.log.info({ dpid: sw.id, mac: pi.ethSrc, port: inPort }, 'MAC moved');
      sw.deleteFlows(`table=${this.opts.table},cookie=0x${this.opts.cookie.toString(16)}/-1,dl_dst=${pi.ethSrc}`);
    }
    const whole = pi.bufferId !== NO_BUFFER || pi.data.length >= pi.totalLen;
    switch (decision.kind) {
      case 'drop':
        c.drops.inc();
        return;
      case 'flood':
        if (!whole) {
          c.truncated.inc();
          return;
        }
        c.floods.inc();
        sw.packetOut({ inPort: pi.inPort, actions: FLOOD_ACTIONS, data: pi.data, bufferId: pi.bufferId });
        return;
      case 'forward': {
        if (isLearnablePort(inPort)) this.installFlow(sw, pi, decision.port); // no flow for an unknown in_port
        if (pi.bufferId !== NO_BUFFER) return; // the flow mod released the buffered packet through the new flow
        if (!whole) {
          c.truncated.inc();
          return;
        }
        c.forwards.inc();
        sw.packetOut({ inPort: pi.inPort, actions: [{ type: 'output', port: decision.port }], data: pi.data });
        return;
      }
    }
  }

  private installFlow(sw: SwitchSession, pi: PacketInEvent, out: number): void {
    const o = this.opts;
    const fm = newFlowMod('add');
    fm.table = o.table;
    fm.priority = o.priority;
    fm.cookie = o.cookie;
    fm.idleTimeout = o.idleTimeout;
    fm.hardTimeout = o.hardTimeout;
    fm.match.setFieldNum(F_IN_PORT, pi.inPort);
    fm.match.setFieldNum(F_ETH_DST, pi.ethDstNum);
    if (o.matchSrc) fm.match.setFieldNum(F_ETH_SRC, pi.ethSrcNum);
    fm.actions = [{ type: 'output', port: out }];
    sw.addFlow(fm, { bufferId: pi.bufferId });
    this.c!.flows.inc();
  }

  onPortStatus(sw: SwitchSession, ev: PortStatusEvent): void {
    if (ev.reasonName !== 'delete' && portIsUp(ev.port)) return;
    const t = this.tables.get(sw.id);
    const n = t?.forgetPort(ev.port.portNo) ?? 0;
    sw.deleteFlows(`table=${this.opts.table},cookie=0x${this.opts.cookie.toString(16)}/-1,out_port=${ev.port.portNo}`);
    this.ctx?.log.info({ dpid: sw.id, port: ev.port.name, forgotten: n }, 'port down or removed: its MACs and flows forgotten');
  }

  describe(): unknown {
    const switches: Record<string, { mac: string; port: number }[]> = {};
    for (const [id, t] of this.tables) switches[id] = t.entries().map(([mac, port]) => ({ mac: formatMac(mac), port }));
    return {
      options: { ...this.opts, cookie: `0x${this.opts.cookie.toString(16)}` },
      switches,
    };
  }
}

export function createL2Learning(arg: string | undefined): App {
  return new L2Learning(parseL2Options(arg));
}
