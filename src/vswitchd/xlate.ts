/*
 * Translation: runs a packet's flow through its bridge's OpenFlow tables (ofp/tables.ts) and
 * produces the datapath actions and the megaflow mask to install. Called by the upcall handler
 * (with side effects: MAC learning, learn actions, table counters), the revalidator (without,
 * to check a cached flow), packet-out and ofproto/trace. Per upcall, not per packet: the
 * result is cached as a datapath flow.
 *
 * The pipeline, as OpenFlow 1.3 and Open vSwitch run it: look up table 0; run the matched
 * rule's actions in order; `goto_table` continues in a later table once the list is done,
 * `resubmit(port,table)` looks up a table (as if from `port`, restored after the lookup) and
 * runs what it finds, then carries on; a table miss drops (nothing happens for a resubmit).
 * Resubmits to the same or an earlier table nest at most MAX_DEPTH (64) deep and at most
 * MAX_RESUBMITS lookups happen per packet.
 * Field changes are made on the flow (so later lookups see them) and committed to the datapath
 * as masked sets before each output (xlate-fields.ts); NORMAL is xlate-normal.ts.
 *
 * Wildcards: `wcWords` starts with in_port, dl_type and (IP) the fragment type; every lookup
 * ORs in the bits the classifier consulted, every action the bits it read (move sources, learn
 * sources, the TTL dec_ttl tests, prerequisites), NORMAL the L2 fields. The datapath mask is
 * its first KEY_WORDS words with in_port exact (metadata and registers are derived from the
 * key bits already in the mask). So a flow that only goes through NORMAL stays as wide as
 * NORMAL makes it, and a rule on tp_dst pins tp_dst, nw_proto and dl_type.
 *
 * What a translation leaves for the caller: `out` (datapath actions), `mask`, `rules` (every
 * rule it went through, to credit with the datapath flow's packets), `learns` (learn actions
 * run, to repeat while the flow is used), `usesNormal` (the result depends on the MAC table).
 */
import { KEY_WORDS, W_NW, W_TYPE_TCI, VLAN_CFI } from '../lib/flow-key.js';
import { Wildcards } from '../lib/flow-mask.js';
import type { Bridge, BridgePort } from './bridge.js';
import { encodePacketIn } from './packet-in.js';
import { OdpActions } from './odp-actions.js';
import { portCanForward, portCanReceive, portNoFlood, portPacketIn } from './ofport-config.js';
import { formatAction } from './ofp/action-syntax.js';
import { OFPR_ACTION, OFPR_INVALID_TTL, type OfAction } from './ofp/actions.js';
import { F_ETH_DST, F_ETH_SRC, F_IP_DST, F_IP_SRC, F_VLAN_PCP, F_VLAN_VID, P_IP_ANY, P_L4, refPos, type Field } from './ofp/fields.js';
import type { FlowEntry } from './ofp/flow-table.js';
import {
  dpMaskFromWildcards, OF_W_METADATA, OF_WORDS, ofFlowFromKey, onesBig, OFPP_ALL, OFPP_CONTROLLER, OFPP_FLOOD, OFPP_IN_PORT,
  OFPP_LOCAL, OFPP_NONE, OFPP_NORMAL, OFPP_TABLE, OFPTT_ALL, orOnes, setBig,
} from './ofp/layout.js';
import type { LearnSpec } from './ofp/learn.js';
import { formatMatch } from './ofp/match-syntax.js';
import { formatFieldRef } from './ofp/subfield.js';
import { formatFieldValue, hexAlt } from './ofp/values.js';
import { commit, flowTci, needsCommit, prereqOk, readBits, setFlowTci, writeBits, type FieldState } from './xlate-fields.js';
import { tagState, xlateNormalInto } from './xlate-normal.js';
import type { XlateTrace } from './xlate-trace.js';

export { OdpActions } from './odp-actions.js';
export { XR_DROP_RESERVED, XR_DROP_SAME_PORT, XR_DROP_VLAN, XR_FLOOD, XR_UNICAST, xlateNormal } from './xlate-normal.js';

/** Deepest nesting of resubmits to the same or an earlier table, as Open vSwitch. */
export const MAX_DEPTH = 64;
/** Most lookups one translation may make (resubmit loops cannot run away). */
export const MAX_RESUBMITS = 4096;

/** A learn action a translation ran: repeated (refreshing what it learned) while the flow is used. */
export interface LearnRecord {
  spec: LearnSpec;
  /** The flow the learn read (its bits are pinned by the datapath flow's mask). */
  flow: Uint32Array;
}

export interface XlateCounters {
  /** Translations cut short at MAX_DEPTH or MAX_RESUBMITS. */
  xlate_too_deep: number;
  /** learn actions whose flow could not be added (bad learned flow, table full). */
  xlate_learn_failed: number;
}

export interface XlateOptions {
  /** MAC learning, learn actions, table lookup counters (false for revalidation and trace). */
  sideEffects: boolean;
  now: number;
  trace: XlateTrace | null;
}

const NO_TRACE: XlateOptions = { sideEffects: false, now: 0, trace: null };

export class Xlator implements FieldState {
  readonly flow = new Uint32Array(OF_WORDS);
  /** The flow as it arrived (trace: "Final flow: unchanged"). */
  readonly initial = new Uint32Array(OF_WORDS);
  readonly base = new Uint32Array(OF_WORDS);
  readonly dirty = new Uint32Array(OF_WORDS);
  readonly wcWords = new Uint32Array(OF_WORDS);
  readonly wc = new Wildcards(this.wcWords);
  readonly out = new OdpActions();
  /** The datapath flow mask (valid after a translation). */
  readonly mask = new Uint32Array(KEY_WORDS);
  rules: FlowEntry[] = [];
  learns: LearnRecord[] | null = null;
  usesNormal = false;
  readonly counters: XlateCounters;
  private br: Bridge | null = null;
  /** Datapath port packet-ins are reported on. */
  private upcallPort = 0;
  private opts: XlateOptions = NO_TRACE;
  private depth = 0;
  private lookups = 0;
  private readonly user: number[] = [];

  constructor(counters?: XlateCounters) {
    this.counters = counters ?? { xlate_too_deep: 0, xlate_learn_failed: 0 };
  }

  /** Sets up the flow for `key` (datapath layout) arriving on OpenFlow port `ofInPort`;
   *  `meta` (OF_WORDS, optional) gives metadata and registers to start with. */
  private begin(br: Bridge, key: Uint32Array, ofInPort: number, opts: XlateOptions, meta: Uint32Array | null): void {
    this.br = br;
    this.opts = opts;
    this.out.reset();
    this.rules = [];
    this.learns = null;
    this.usesNormal = false;
    this.depth = 0;
    this.lookups = 0;
    this.dirty.fill(0);
    this.wc.initForKey(key);
    this.wcWords.fill(0, KEY_WORDS);
    ofFlowFromKey(key, ofInPort, this.flow);
    if (meta !== null) for (let w = KEY_WORDS; w < OF_WORDS; w++) this.flow[w] = meta[w];
    this.initial.set(this.flow);
    this.base.set(this.flow);
    this.upcallPort = key[0] !== 0 ? key[0] : br.ordered.length > 0 ? br.ordered[0].odpPort : 0;
    if (opts.trace !== null) opts.trace.bridge(br.name);
  }

  private finish(): void {
    dpMaskFromWildcards(this.wcWords, this.mask);
  }

  /** Translates `key` (its in_port is the datapath port) entering OpenFlow port `ofInPort`
   *  (`meta`: initial metadata and registers, OF_WORDS layout; ofproto/trace). A port a port
   *  mod made down or no-receive drops everything it receives. */
  translate(br: Bridge, key: Uint32Array, ofInPort: number, opts: XlateOptions, meta: Uint32Array | null = null): void {
    this.begin(br, key, ofInPort, opts, meta);
    const bp = br.port(ofInPort);
    if (bp !== undefined && !portCanReceive(bp)) {
      if (opts.trace !== null) opts.trace.warn(`port ${bp.name} is down or configured no-receive, dropping`);
    } else if (br.failOpen) {
      if (opts.trace !== null) opts.trace.warn('no controller is reachable (fail mode standalone): the bridge switches with NORMAL');
      this.normal();
    } else {
      this.lookupAndRun(0, -1, -1);
    }
    this.finish();
  }

  /** Translates an action list (packet-out) for `key` from `ofInPort`. */
  translateActions(br: Bridge, key: Uint32Array, ofInPort: number, actions: readonly OfAction[], opts: XlateOptions): void {
    this.begin(br, key, ofInPort, opts, null);
    this.runActions(null, 0, actions);
    this.finish();
  }

  private inPort(): number {
    return this.flow[0] & 0xffff;
  }

  /**
   * Looks up `table` (as from `inPortOverride` if >= 0) and runs the rule found. As in OVS,
   * only a lookup in the same or an earlier table than `fromTable` nests deeper (a goto chain
   * or a resubmit forward cannot loop).
   */
  private lookupAndRun(table: number, inPortOverride: number, fromTable: number): void {
    const br = this.br as Bridge;
    const trace = this.opts.trace;
    const deepens = table <= fromTable;
    if ((deepens && this.depth >= MAX_DEPTH) || ++this.lookups > MAX_RESUBMITS) {
      this.counters.xlate_too_deep++;
      if (trace !== null) trace.error(this.depth >= MAX_DEPTH ? `over max translation depth ${MAX_DEPTH}` : `over ${MAX_RESUBMITS} resubmit actions`);
      return;
    }
    const saved = this.flow[0];
    if (inPortOverride >= 0) this.flow[0] = inPortOverride & 0xffff;
    const e = br.tables.lookup(table, this.flow, this.wcWords, this.opts.sideEffects);
    this.flow[0] = saved;
    const head = table < 10 ? ` ${table}. ` : `${table}. `;
    if (e === null) {
      if (trace !== null) {
        const prev = trace.enterTable(`${head}No match.`);
        trace.action('drop');
        trace.leave(prev);
      }
      return;
    }
    if (!this.rules.includes(e)) this.rules.push(e);
    let prev = null;
    if (trace !== null) {
      const m = formatMatch(e.match, 32768);
      prev = trace.enterTable(`${head}${m ? `${m}, ` : ''}priority ${e.priority}${e.cookie !== 0n ? `, cookie 0x${e.cookie.toString(16)}` : ''}`);
    }
    if (deepens) this.depth++;
    this.runActions(e, e.table, e.actions);
    if (deepens) this.depth--;
    if (trace !== null && prev !== null) trace.leave(prev);
  }

  /** Runs an action list; `rule` (null for packet-out) is the entry it belongs to. */
  private runActions(rule: FlowEntry | null, table: number, actions: readonly OfAction[]): void {
    const trace = this.opts.trace;
    for (let i = 0; i < actions.length; i++) {
      const a = actions[i];
      if (trace !== null) trace.action(formatAction(a));
      if (!this.runAction(rule, table, a)) return;
    }
  }

  /** Runs one action; false stops the list (dec_ttl at TTL 1 or 0). */
  private runAction(rule: FlowEntry | null, table: number, a: OfAction): boolean {
    const trace = this.opts.trace;
    switch (a.type) {
      case 'output': this.output(a.port, 65535, rule, table); break;
      case 'output_reg': this.output(Number(readBits(this, refPos(a.src), a.src.nbits) & 0xffffn), 65535, rule, table); break;
      case 'controller': this.controller(a.reason, a.maxLen, a.id, a.userdata, rule, table); break;
      case 'mod_vlan_vid': {
        const t = flowTci(this);
        this.wc.vlanTci();
        setFlowTci(this, ((t & VLAN_CFI) !== 0 ? t & 0xe000 : 0) | VLAN_CFI | (a.vid & 0xfff));
        break;
      }
      case 'mod_vlan_pcp': {
        const t = flowTci(this);
        this.wc.vlanTci();
        setFlowTci(this, ((t & VLAN_CFI) !== 0 ? t & 0x0fff : 0) | VLAN_CFI | ((a.pcp & 7) << 13));
        break;
      }
      case 'strip_vlan': setFlowTci(this, 0); break;
      case 'push_vlan': {
        const t = flowTci(this);
        if ((t & VLAN_CFI) !== 0) {
          if (trace !== null) trace.warn('packet already has a VLAN tag; only one tag is supported, push_vlan ignored');
        } else setFlowTci(this, VLAN_CFI);
        break;
      }
      case 'mod_dl_src': this.setField(F_ETH_SRC, BigInt(a.mac)); break;
      case 'mod_dl_dst': this.setField(F_ETH_DST, BigInt(a.mac)); break;
      case 'mod_nw_src': this.setField(F_IP_SRC, BigInt(a.ip)); break;
      case 'mod_nw_dst': this.setField(F_IP_DST, BigInt(a.ip)); break;
      case 'mod_nw_tos': if (prereqOk(this, P_IP_ANY)) writeBits(this, 424, 8, BigInt(a.tos & 0xfc), 0xfcn); break;
      case 'mod_nw_ecn': if (prereqOk(this, P_IP_ANY)) writeBits(this, 430, 2, BigInt(a.ecn & 3)); break;
      case 'mod_nw_ttl': if (prereqOk(this, P_IP_ANY)) writeBits(this, 432, 8, BigInt(a.ttl & 0xff)); break;
      case 'mod_tp_src': if (prereqOk(this, P_L4)) writeBits(this, 448, 16, BigInt(a.port & 0xffff)); break;
      case 'mod_tp_dst': if (prereqOk(this, P_L4)) writeBits(this, 464, 16, BigInt(a.port & 0xffff)); break;
      case 'dec_ttl': return this.decTtl(a.ids, rule, table);
      case 'set_field': this.setField(a.field, a.value, a.mask); break;
      case 'load': this.setField(a.dst.field, a.value << BigInt(a.dst.ofs), onesBig(a.dst.nbits) << BigInt(a.dst.ofs)); break;
      case 'move': {
        if (!prereqOk(this, a.src.field.prereq)) break;
        const v = readBits(this, refPos(a.src), a.src.nbits);
        if (this.setField(a.dst.field, v << BigInt(a.dst.ofs), onesBig(a.dst.nbits) << BigInt(a.dst.ofs)) && trace !== null) {
          const whole = a.dst.ofs === 0 && a.dst.nbits === a.dst.field.width;
          trace.detail(`${formatFieldRef(a.dst)} is now ${whole ? formatFieldValue(a.dst.field, v) : hexAlt(v)}`);
        }
        break;
      }
      case 'resubmit': {
        const t = a.table === OFPTT_ALL ? table : a.table;
        this.lookupAndRun(t, a.port === OFPP_IN_PORT ? -1 : a.port, table);
        break;
      }
      case 'goto_table': this.lookupAndRun(a.table, -1, table); break;
      case 'write_metadata': {
        const old = (BigInt(this.flow[OF_W_METADATA]) << 32n) | BigInt(this.flow[OF_W_METADATA + 1]);
        setBig(this.flow, OF_W_METADATA * 32, 64, (old & ~a.mask) | (a.value & a.mask));
        break;
      }
      case 'note': break;
      case 'learn': this.learn(a.spec); break;
    }
    return true;
  }

  /** set_field/load/move destination: checks writability and prerequisites; false if skipped. */
  private setField(f: Field, value: bigint, mask: bigint = onesBig(f.width)): boolean {
    const trace = this.opts.trace;
    if (!f.writable || !prereqOk(this, f.prereq)) {
      if (trace !== null) trace.warn(`${f.name} is not a field of this packet, not set`);
      return false;
    }
    if (f === F_VLAN_PCP && (flowTci(this) & VLAN_CFI) === 0) {
      this.wc.vlanTci(VLAN_CFI);
      if (trace !== null) trace.warn('packet has no VLAN tag, vlan_pcp not set');
      return false;
    }
    if (f === F_VLAN_VID && mask !== 0n) {
      // As OpenFlow: setting the VID makes (or keeps) the packet tagged.
      value |= 0x1000n;
      mask |= 0x1000n;
    }
    writeBits(this, f.pos, f.width, value, mask);
    return true;
  }

  private decTtl(ids: number[], rule: FlowEntry | null, table: number): boolean {
    if (!prereqOk(this, P_IP_ANY)) return true;
    this.wc.nwTtl();
    const ttl = (this.flow[W_NW] >>> 8) & 0xff;
    if (ttl > 1) {
      writeBits(this, 432, 8, BigInt(ttl - 1));
      return true;
    }
    if (this.opts.trace !== null) this.opts.trace.warn(`TTL ${ttl}: packet-in (invalid_ttl) and stop`);
    const list = ids.length === 0 ? [0] : ids;
    for (const id of list) this.controller(OFPR_INVALID_TTL, 65535, id, null, rule, table);
    return false;
  }

  private learn(spec: LearnSpec): void {
    for (const it of spec.items) if (it.src !== null) orOnes(this.wcWords, refPos(it.src), it.src.nbits);
    const trace = this.opts.trace;
    if (trace !== null) {
      trace.warn('suppressing side effects, so learn action ignored');
      return;
    }
    // Recorded with or without side effects: the revalidator repeats it while the flow is used.
    if (this.learns === null) this.learns = [];
    this.learns.push({ spec, flow: Uint32Array.from(this.flow) });
    if (!this.opts.sideEffects) return;
    try {
      (this.br as Bridge).tables.learn(spec, this.flow, this.opts.now);
    } catch {
      this.counters.xlate_learn_failed++;
    }
  }

  /** output to a port number or reserved port. */
  private output(port: number, maxLen: number, rule: FlowEntry | null, table: number): void {
    const br = this.br as Bridge;
    const inPort = this.inPort();
    switch (port) {
      case OFPP_IN_PORT: this.outputTo(inPort, true); return;
      case OFPP_NORMAL: this.normal(); return;
      case OFPP_FLOOD:
      case OFPP_ALL: {
        if (needsCommit(this)) commit(this);
        for (const p of br.ordered) {
          if (p.ofport === inPort || !portCanForward(p) || (port === OFPP_FLOOD && portNoFlood(p))) continue;
          this.out.output(p.odpPort);
        }
        return;
      }
      case OFPP_LOCAL: this.outputTo(OFPP_LOCAL, false); return;
      case OFPP_CONTROLLER: this.controller(OFPR_ACTION, maxLen, 0, null, rule, table); return;
      case OFPP_TABLE: this.lookupAndRun(0, -1, table); return;
      case OFPP_NONE: return;
      default: this.outputTo(port, false);
    }
  }

  private outputTo(ofport: number, allowInPort: boolean): void {
    const trace = this.opts.trace;
    if (!allowInPort && ofport === this.inPort()) {
      if (trace !== null) trace.warn('skipping output to input port');
      return;
    }
    const p = (this.br as Bridge).port(ofport);
    if (p === undefined) {
      if (trace !== null) trace.warn('Nonexistent output port');
      return;
    }
    if (!portCanForward(p)) {
      if (trace !== null) trace.warn(`port ${p.name} is down or configured no-forward, not sending`);
      return;
    }
    if (needsCommit(this)) commit(this);
    this.out.output(p.odpPort);
  }

  private normal(): void {
    const br = this.br as Bridge;
    const trace = this.opts.trace;
    const bp: BridgePort | undefined = br.port(this.inPort());
    if (bp === undefined) {
      if (trace !== null) trace.warn(`no input port ${this.inPort()} on this bridge, NORMAL drops the packet`);
      return;
    }
    if (needsCommit(this)) commit(this);
    this.usesNormal = true;
    xlateNormalInto(br, bp, this.flow, this.opts.sideEffects, this.opts.now, this.out, this.wc, trace);
    this.base[W_TYPE_TCI] = ((this.base[W_TYPE_TCI] & 0xffff0000) | tagState.tci) >>> 0;
  }

  private controller(reason: number, maxLen: number, id: number, userdata: Uint8Array | null, rule: FlowEntry | null, table: number): void {
    if (this.upcallPort === 0) return;
    const inp = (this.br as Bridge).port(this.inPort());
    if (inp !== undefined && !portPacketIn(inp)) {
      if (this.opts.trace !== null) this.opts.trace.warn(`port ${inp.name} is configured no-packet-in, no packet-in sent`);
      return;
    }
    if (needsCommit(this)) commit(this);
    // The datapath sends the whole frame up (-1); vswitchd cuts it to max_len and buffers the
    // rest for packet-out by buffer id (ofmgmt-bridge.ts), as OpenFlow 1.3 asks.
    encodePacketIn({ reason, table: rule === null ? table : rule.table, cookie: rule === null ? 0n : rule.cookie, controllerId: id, ofInPort: this.inPort(), userdata, maxLen }, this.flow, this.user);
    this.out.userspace(this.upcallPort, -1, this.user);
  }
}

