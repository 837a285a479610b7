/*
 * ofctl monitor SWITCH [MISSLEN] [invalid_ttl] [watch:[SPEC...]]: asks the switch for its
 * asynchronous messages (set_async: packet-ins, port status, flow removed; set_config when
 * MISSLEN is given) and, with watch:, for a flow monitor, then prints what arrives, in
 * ovs-ofctl's shapes, until the connection closes (or --timeout ends it). SPEC as ovs-ofctl:
 * !initial, !add, !delete, !modify, !actions, own, out_port=PORT, table=N and match fields.
 * Control path.
 */
import type { FlowMessage, PacketIn } from '../../src/lib/flowproto/messages.js';
import { FlowRemoteError } from '../../src/lib/flowproto/errors.js';
import { FlowSyntaxError } from '../../src/vswitchd/ofp/errors.js';
import { parseFlow } from '../../src/vswitchd/ofp/flow-syntax.js';
import { OFPP_ANY, OFPTT_ALL } from '../../src/vswitchd/ofp/layout.js';
import { formatMatch } from '../../src/vswitchd/ofp/match-syntax.js';
import { parsePort, type PortNamer } from '../../src/vswitchd/ofp/values.js';
import { matchFromWire, matchToWire, portToWire } from '../../src/vswitchd/ofp/wire-match.js';
import { ToolError } from '../common.js';
import { packetSummary } from './packet.js';
import { formatFlowRemoved, formatFlowUpdate, formatPortStatus, header, type Style } from './print.js';
import type { OfctlContext, OfSession } from './session.js';
import { formatRemoteError } from './replies.js';

const REASONS = ['no_match', 'action', 'invalid_ttl'];
// FlowMonitorFlags.
const F_INITIAL = 1;
const F_ADD = 2;
const F_REMOVED = 4;
const F_MODIFY = 8;
const F_INSTRUCTIONS = 16;

/** What ovs-ofctl prints for a packet-in: a header line and the packet's summary. */
export function formatPacketIn(pi: PacketIn, style: Style, names?: PortNamer): string {
  let s = `${header(style === 10 ? 'NXT_PACKET_IN2' : 'OFPT_PACKET_IN', style, 0)}`;
  if (style !== 10 || pi.tableId) s += ` table_id=${pi.tableId ?? 0}`;
  s += ` cookie=0x${(pi.cookie ?? 0n).toString(16)} total_len=${pi.totalLen ?? 0}`;
  const m = formatMatch(matchFromWire(pi.match), 32768, names);
  if (m) s += ` ${m}`;
  const data = pi.data ?? new Uint8Array(0);
  s += ` (via ${REASONS[pi.reason ?? 0] ?? pi.reason}) data_len=${data.length} (unbuffered)`;
  if (pi.userdata && pi.userdata.length > 0) s += ` userdata=${Array.from(pi.userdata, (b) => b.toString(16).padStart(2, '0')).join('.')}`;
  s += '\n';
  if (data.length > 0) s += `${packetSummary(data)}\n`;
  return s;
}

interface WatchSpec {
  flags: number;
  table: number;
  outPort: number;
  match: string;
}

/** Parses "watch:[SPEC...]". */
export function parseWatch(arg: string, names: PortNamer): WatchSpec {
  const w: WatchSpec = { flags: F_INITIAL | F_ADD | F_REMOVED | F_MODIFY | F_INSTRUCTIONS, table: OFPTT_ALL, outPort: OFPP_ANY, match: '' };
  const rest: string[] = [];
  for (const item of arg.slice('watch:'.length).split(/[\s,]+/).filter((x) => x !== '')) {
    const [k, v] = item.includes('=') ? [item.slice(0, item.indexOf('=')), item.slice(item.indexOf('=') + 1)] : [item, ''];
    switch (k) {
      case '!initial': w.flags &= ~F_INITIAL; break;
      case '!add': w.flags &= ~F_ADD; break;
      case '!delete': w.flags &= ~F_REMOVED; break;
      case '!modify': w.flags &= ~F_MODIFY; break;
      case '!actions': w.flags &= ~F_INSTRUCTIONS; break;
      case 'own': case '!own': break; // every change is reported, ofctl's own included
      case 'table':
        if (!/^\d+$/.test(v) || Number(v) > 255) throw new ToolError(`${v}: invalid table id`);
        w.table = Number(v);
        break;
      case 'out_port':
        try {
          w.outPort = parsePort(v, names);
        } catch {
          throw new ToolError(`${v}: unknown port for out_port`);
        }
        break;
      default: rest.push(item);
    }
  }
  w.match = rest.join(',');
  return w;
}

export async function monitor(ctx: OfctlContext, s: OfSession, args: string[]): Promise<number> {
  let missLen: number | null = null;
  let invalidTtl = false;
  let watch: string | null = null;
  for (const a of args) {
    if (/^\d+$/.test(a)) missLen = Math.min(Number(a), 0xffff);
    else if (a === 'invalid_ttl') invalidTtl = true;
    else if (a.startsWith('watch:')) watch = a;
    else throw new ToolError(`${a}: unknown monitor argument (expected MISSLEN, invalid_ttl or watch:[...])`);
  }
  const names = await s.namer();
  const print = ctx.names ? names : undefined;
  const conn = s.conn;
  s.onAsync = (msg: FlowMessage) => {
    const m = msg;
    switch (m.body) {
      case 'packetIn': ctx.io.out(formatPacketIn(m.packetIn ?? {}, ctx.style, print)); break;
      case 'flowRemoved': ctx.io.out(formatFlowRemoved(m.flowRemoved ?? {}, ctx.style, print)); break;
      case 'portStatus': ctx.io.out(formatPortStatus(m.portStatus?.reason ?? 0, m.portStatus?.desc ?? {}, ctx.style)); break;
      case 'flowMonitorUpdate': {
        let out = `${header(ctx.style === 10 ? 'NXST_FLOW_MONITOR reply' : 'OFPST_FLOW_MONITOR reply', ctx.style, 0)}\n`;
        for (const u of m.flowMonitorUpdate?.updates ?? []) out += formatFlowUpdate(u, print);
        ctx.io.out(out);
        break;
      }
      case 'error': {
        const e = m.error ?? {};
        ctx.io.out(formatRemoteError(new FlowRemoteError(e.type ?? 0, e.code ?? 0, e.detail ?? '', e.data ?? new Uint8Array(0)), ctx.style, print));
        break;
      }
      default: break;
    }
  };
  const closed = new Promise<void>((resolve) => conn.once('close', () => resolve()));
  const setup = [];
  if (missLen !== null) setup.push({ setConfig: { flags: 0, missSendLen: missLen } });
  setup.push({ setAsync: { packetInMask: 0b011 | (invalidTtl ? 0b100 : 0), portStatusMask: 0b111, flowRemovedMask: 0b1111 } });
  const errors = await s.transact(setup);
  if (errors.length > 0) throw new ToolError(errors[0].error.message);
  if (watch !== null) {
    const w = parseWatch(watch, names);
    let match;
    try {
      match = parseFlow(w.match, { command: 'dump', names }).match;
    } catch (e) {
      if (e instanceof FlowSyntaxError) throw new ToolError(e.describe());
      throw e;
    }
    const req = { monitorId: 1, flags: w.flags, match: matchToWire(match), ...(w.table !== OFPTT_ALL ? { tableId: w.table } : {}), ...(w.outPort !== OFPP_ANY ? { outPort: portToWire(w.outPort) } : {}) };
    const { xid, parts } = await s.multipart({ flowMonitor: req });
    let out = `${header(ctx.style === 10 ? 'NXST_FLOW_MONITOR reply' : 'OFPST_FLOW_MONITOR reply', ctx.style, xid)}\n`;
    for (const p of parts) for (const u of p.flowMonitor?.updates ?? []) out += formatFlowUpdate(u, print);
    ctx.io.out(out);
  }
  await closed;
  return 0;
}
