/*
 * Multipart requests of the flow protocol: switch description, flow statistics (streamed in
 * parts of at most ~1 MiB, yielding to the event loop between parts so a 100k-flow dump
 * neither builds one huge message nor stalls upcalls), aggregate and table statistics, port
 * statistics (the datapath's port counters) and descriptions, and flow monitor setup (its
 * initial flows; later changes come from OfBridge). Called by OfConn.handle(). Control path.
 */
import { OFPBRC_BAD_MULTIPART, OFPBRC_BAD_PORT, OFPBRC_EPERM, OFPET_BAD_REQUEST } from '../lib/flowproto/error-codes.js';
import type { FlowMessage, Input, MultipartReply, PortStats } from '../lib/flowproto/messages.js';
import { RawMessage } from '../lib/flowproto/plain-codec.js';
import { packageVersion } from './appctl.js';
import type { BridgePort } from './bridge.js';
import type { FlowMonitor, OfConn } from './ofconn.js';
import { FME_INITIAL, flowUpdate, monitorSelects, OFPFMF_INITIAL } from './ofmgmt-bridge.js';
import { bridgePortDescs, dpPortOf, type DpPortInfo } from './ofmgmt-ports.js';
import { actionsOutputTo } from './ofp/actions.js';
import { OfpError } from './ofp/errors.js';
import type { FlowEntry, FlowFilter } from './ofp/flow-table.js';
import { Match } from './ofp/match.js';
import type { OfTables } from './ofp/tables.js';
import { OFPP_ANY, OFPTT_ALL } from './ofp/layout.js';
import { statsRequestFromWire } from './ofp/wire.js';
import { FlowStatsEncoder } from './ofp/wire-flow-stats.js';
import { matchFromWire, portFromWire } from './ofp/wire-match.js';

/** A part of a flow stats reply ends once it has this many bytes (the maximum message is 4 MiB). */
export const FLOW_PART_BYTES = 1 << 20;
/** At most this many flows per part: small enough that ofctl prints one while the next is encoded. */
export const FLOW_PART_FLOWS = 2048;

const yieldTurn = (): Promise<void> => new Promise((r) => setImmediate(r));


/** Answers a multipart request. Throws OfpError for bad ones. */
export async function handleMultipart(c: OfConn, msg: FlowMessage): Promise<void> {
  const r = msg.multipartRequest ?? {};
  const ofb = c.ofb;
  const br = ofb.bridge;
  switch (r.body) {
    case 'desc':
      c.conn.replyMultipart(msg, [{
        desc: {
          mfrDesc: 'vswitch', hwDesc: 'vswitch userspace switch', swDesc: packageVersion(), serialNum: 'None',
          dpDesc: ofb.services.otherConfig(br.name, 'dp-desc') ?? br.name,
        },
      }]);
      return;
    case 'flow':
      await replyFlowStats(c, msg, selectForStats(br.tables, statsRequestFromWire(r.flow ?? {})));
      return;
    case 'aggregate': {
      const a = br.tables.aggregate(statsRequestFromWire(r.aggregate ?? {}));
      c.conn.replyMultipart(msg, [{ aggregate: { packetCount: a.packets, byteCount: a.bytes, flowCount: a.flows } }]);
      return;
    }
    case 'table':
      c.conn.replyMultipart(msg, [{
        table: {
          stats: br.tables.tables.map((t) => ({
            tableId: t.id, activeCount: t.count, lookupCount: t.lookupCount, matchedCount: t.matchedCount, maxEntries: t.maxEntries,
          })),
        },
      }]);
      return;
    case 'portStats':
      await replyPortStats(c, msg, r.portStats?.portNo);
      return;
    case 'portDesc':
      c.conn.replyMultipart(msg, [{ portDesc: { ports: bridgePortDescs(br, ofb.dpPorts()) } }]);
      return;
    case 'flowMonitor':
      startMonitor(c, msg);
      return;
    default:
      throw new OfpError(OFPET_BAD_REQUEST, OFPBRC_BAD_MULTIPART, 'multipart request without a known body');
  }
}

/**
 * OfTables.select() for a flow stats reply, ordered the same way (table, priority highest
 * first, then oldest first). Without a match or a strict priority (dump-flows of a whole
 * table) the tables' dump order (flow-order.ts) is read as it is; otherwise the selection is
 * ordered by a numeric sort of packed keys (statsOrder), as a comparator sort costs more than
 * encoding the whole reply for 100k flows. The tables' stats bytes still waiting to be cached
 * are cached first (in the order that is cheapest, see flow-order.ts). A bad table is left to
 * select() (its error).
 */
export function selectForStats(tables: OfTables, filter: Parameters<OfTables['select']>[0]): FlowEntry[] {
  if (filter.table !== OFPTT_ALL && tables.tables[filter.table] === undefined) return tables.select(filter);
  const f: FlowFilter = {
    match: filter.match ?? Match.catchAll(), priority: filter.priority ?? 32768, strict: filter.strict ?? false,
    cookie: filter.cookie ?? 0n, cookieMask: filter.cookieMask ?? 0n, outPort: filter.outPort ?? OFPP_ANY,
  };
  const ts = filter.table === OFPTT_ALL ? tables.tables : [tables.tables[filter.table]];
  for (let t = 0; t < ts.length; t++) if (ts[t].count > 0) ts[t].prepareStats();
  if (!f.strict && f.match.isCatchAll()) {
    const parts: FlowEntry[][] = [];
    for (let t = 0; t < ts.length; t++) if (ts[t].count > 0) ts[t].orderedRunsInto(parts);
    const all = concatAll(parts);
    if (f.cookieMask === 0n && f.outPort === OFPP_ANY) return all;
    return all.filter((e) => ((e.cookie ^ f.cookie) & f.cookieMask) === 0n && (f.outPort === OFPP_ANY || actionsOutputTo(e.actions, f.outPort)));
  }
  const out: FlowEntry[] = [];
  for (const t of ts) {
    const es = statsOrder(t.select(f));
    for (let i = 0; i < es.length; i++) out.push(es[i]);
  }
  return out;
}

/** Arguments per concat() call: well under the engine's limit on arguments. */
const CONCAT_ARGS = 4096;

/** One new array of the parts' elements in order (native concat: a copy per part, not a push per element). */
function concatAll(parts: FlowEntry[][]): FlowEntry[] {
  if (parts.length === 0) return [];
  if (parts.length === 1) return parts[0].slice();
  if (parts.length <= CONCAT_ARGS) return parts[0].concat(...parts.slice(1));
  let out: FlowEntry[] = [];
  for (let i = 0; i < parts.length; i += CONCAT_ARGS) out = out.concat(...parts.slice(i, i + CONCAT_ARGS));
  return out;
}

const byAge = (a: FlowEntry, b: FlowEntry): number => b.priority - a.priority || a.seq - b.seq;

/**
 * One table's entries by priority (highest first), then seq (oldest first). Each entry is read
 * once into typed arrays (seq halves, inverted priority); an LSD radix sort on 16-bit digits
 * (seq low, seq high, priority) then orders indexes without touching the entries again: for
 * 100k flows a few ms, where a comparator sort takes tens.
 */
export function statsOrder(es: FlowEntry[]): FlowEntry[] {
  const n = es.length;
  if (n < 256) return es.sort(byAge);
  const lo = new Uint16Array(n);
  const hi = new Uint16Array(n);
  const pr = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    const e = es[i];
    const seq = e.seq;
    if (!(seq >= 0 && seq < 4294967296) || !(e.priority >= 0 && e.priority <= 65535)) return es.sort(byAge);
    lo[i] = seq & 0xffff;
    hi[i] = seq >>> 16;
    pr[i] = 65535 - e.priority;
  }
  let idx = new Uint32Array(n);
  let tmp = new Uint32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  const count = new Uint32Array(65536);
  for (const digit of [lo, hi, pr]) {
    count.fill(0);
    for (let i = 0; i < n; i++) count[digit[i]]++;
    let sum = 0;
    for (let d = 0; d < 65536; d++) {
      const c = count[d];
      count[d] = sum;
      sum += c;
    }
    for (let i = 0; i < n; i++) {
      const j = idx[i];
      tmp[count[digit[j]]++] = j;
    }
    const t = idx;
    idx = tmp;
    tmp = t;
  }
  const out: FlowEntry[] = new Array<FlowEntry>(n);
  for (let i = 0; i < n; i++) out[i] = es[idx[i]];
  return out;
}

/** One encoder for every connection: parts are encoded and sent synchronously. */
const encoder = new FlowStatsEncoder();

/**
 * Sends the entries' statistics in parts, each encoded straight from the entries into bytes
 * (wire-flow-stats.ts) and sent at once, yielding between parts so the peer prints one while
 * the next is encoded (and upcalls are not stalled).
 */
export async function replyFlowStats(c: OfConn, msg: FlowMessage, entries: readonly FlowEntry[]): Promise<void> {
  const now = Date.now();
  let i = 0;
  do {
    const next = encoder.part(entries, i, now, FLOW_PART_FLOWS, FLOW_PART_BYTES);
    // Pre-encoded FlowStatsReply body: send() copies the bytes before returning.
    const flow = new RawMessage(encoder.bytes()) as unknown as MultipartReply['flow'];
    i = next;
    const more = i < entries.length;
    c.conn.send({ multipartReply: { more, flow } }, msg.xid);
    if (more) {
      await yieldTurn();
      if (c.conn.closed) return;
    }
  } while (i < entries.length);
}

function u64(n: number | undefined): bigint {
  return BigInt(Math.max(0, Math.floor(n ?? 0)));
}

async function replyPortStats(c: OfConn, msg: FlowMessage, wantWire: number | undefined): Promise<void> {
  const br = c.ofb.bridge;
  let ports: BridgePort[] = br.ordered;
  if (wantWire !== undefined && wantWire !== 0xffffffff) {
    let no: number;
    try {
      no = portFromWire(wantWire);
    } catch {
      throw new OfpError(OFPET_BAD_REQUEST, OFPBRC_BAD_PORT, `port ${wantWire} is not a valid port number`);
    }
    const p = no === OFPP_ANY ? undefined : br.port(no);
    if (no !== OFPP_ANY && p === undefined) throw new OfpError(OFPET_BAD_REQUEST, OFPBRC_BAD_PORT, `bridge ${br.name} has no port ${no}`);
    if (p !== undefined) ports = [p];
  }
  const dp = c.ofb.services.dp();
  if (dp === null || dp.isClosed) throw new OfpError(OFPET_BAD_REQUEST, OFPBRC_EPERM, 'not connected to the datapath');
  const list = (await dp.request('port_list')) as DpPortInfo[];
  const now = Date.now();
  const stats: Input<PortStats>[] = ports.map((p) => {
    const s = dpPortOf(p, list)?.stats ?? {};
    const age = Math.max(0, now - c.ofb.portSince(p));
    return {
      portNo: p.ofport >= 0xff00 ? (p.ofport + 0xffff0000) >>> 0 : p.ofport,
      rxPackets: u64(s.rx_packets), txPackets: u64(s.tx_packets), rxBytes: u64(s.rx_bytes), txBytes: u64(s.tx_bytes),
      rxDropped: u64(s.rx_dropped), txDropped: u64(s.tx_dropped), rxErrors: u64(s.rx_errors), txErrors: u64(s.tx_errors),
      durationSec: Math.floor(age / 1000), durationNsec: (age % 1000) * 1e6,
    };
  });
  c.conn.replyMultipart(msg, [{ portStats: { stats } }]);
}

function startMonitor(c: OfConn, msg: FlowMessage): void {
  const r = msg.multipartRequest?.flowMonitor ?? {};
  const id = r.monitorId ?? 0;
  if (c.monitors.has(id)) throw new OfpError(OFPET_BAD_REQUEST, OFPBRC_EPERM, `flow monitor ${id} already exists on this connection`);
  let outPort = OFPP_ANY;
  if (r.outPort !== undefined && r.outPort !== 0xffffffff) {
    try {
      outPort = portFromWire(r.outPort);
    } catch {
      throw new OfpError(OFPET_BAD_REQUEST, OFPBRC_BAD_PORT, `out_port ${r.outPort} is not a valid port number`);
    }
  }
  const mon: FlowMonitor = { id, table: r.tableId ?? OFPTT_ALL, outPort, flags: r.flags ?? 0, match: matchFromWire(r.match) };
  const initial = (mon.flags & OFPFMF_INITIAL) !== 0 ? c.ofb.bridge.tables.select({ table: OFPTT_ALL }).filter((e) => monitorSelects(mon, e)) : [];
  const parts: { flowMonitor: { updates: ReturnType<typeof flowUpdate>[] } }[] = [];
  for (let i = 0; i === 0 || i < initial.length; i += FLOW_PART_FLOWS) {
    parts.push({ flowMonitor: { updates: initial.slice(i, i + FLOW_PART_FLOWS).map((e) => flowUpdate(e, FME_INITIAL, -1, mon)) } });
  }
  c.conn.replyMultipart(msg, parts);
  c.monitors.set(id, mon);
  c.ofb.updateTableListener();
}
