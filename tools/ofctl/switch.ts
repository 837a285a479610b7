/*
 * ofctl's commands about the switch and its ports, in ovs-ofctl's syntax and output: show,
 * dump-desc, dump-tables, dump-ports, dump-ports-desc, mod-port (up, down, flood, no-flood,
 * receive, forward, packet-in and their no- forms), packet-out (both ovs-ofctl forms) and
 * probe. Control path.
 */
import type { Port } from '../../src/lib/flowproto/messages.js';
import { parseActions } from '../../src/vswitchd/ofp/action-syntax.js';
import { FlowSyntaxError } from '../../src/vswitchd/ofp/errors.js';
import { findActions } from '../../src/vswitchd/ofp/tokens.js';
import { parsePort, ValueError, type PortNamer } from '../../src/vswitchd/ofp/values.js';
import { actionsToWire } from '../../src/vswitchd/ofp/wire.js';
import { portFromWire, portToWire } from '../../src/vswitchd/ofp/wire-match.js';
import { ToolError, ToolExit } from '../common.js';
import { parseHexPacket } from './packet.js';
import { formatDesc, formatFeatures, formatGetConfig, formatPortDescs, formatPortStats, formatTables } from './print.js';
import type { OfctlContext, OfSession } from './session.js';
import { formatRemoteError } from './replies.js';

export async function show(ctx: OfctlContext, s: OfSession): Promise<void> {
  const f = await s.request({ featuresRequest: {} });
  let out = formatFeatures(f.featuresReply ?? {}, ctx.style, f.xid);
  if (ctx.style !== 10) {
    const { xid, parts } = await s.multipart({ portDesc: {} });
    out += formatPortDescs(parts.flatMap((p) => p.portDesc?.ports ?? []), ctx.style, xid);
  }
  const c = await s.request({ getConfigRequest: {} });
  out += formatGetConfig(c.getConfigReply?.missSendLen ?? 0, ctx.style, c.xid);
  ctx.io.out(out);
}

export async function dumpDesc(ctx: OfctlContext, s: OfSession): Promise<void> {
  const { xid, parts } = await s.multipart({ desc: {} });
  ctx.io.out(formatDesc(parts[0]?.desc ?? {}, ctx.style, xid));
}

export async function dumpTables(ctx: OfctlContext, s: OfSession): Promise<void> {
  const { xid, parts } = await s.multipart({ table: {} });
  ctx.io.out(formatTables(parts.flatMap((p) => p.table?.stats ?? []), ctx.style, xid));
}

/** The port named or numbered `text` ("1", "LOCAL", "p1"), failing as ovs-ofctl does. */
function findPort(s: OfSession, ports: readonly Port[], namer: PortNamer, text: string): Port {
  let no: number;
  try {
    no = parsePort(text, namer);
  } catch {
    throw new ToolError(`${s.sw}: couldn't find port \`${text}'`);
  }
  const p = ports.find((q) => {
    try {
      return portFromWire(q.portNo ?? 0) === no;
    } catch {
      return false;
    }
  });
  if (p === undefined) throw new ToolError(`${s.sw}: couldn't find port \`${text}'`);
  return p;
}

export async function dumpPorts(ctx: OfctlContext, s: OfSession, port: string | undefined): Promise<void> {
  let portNo: number | undefined;
  const namer = await s.namer();
  if (port !== undefined) portNo = findPort(s, await s.ports(), namer, port).portNo ?? 0;
  const { xid, parts } = await s.multipart({ portStats: portNo === undefined ? {} : { portNo } });
  ctx.io.out(formatPortStats(parts.flatMap((p) => p.portStats?.stats ?? []), ctx.style, xid, ctx.names ? namer : undefined));
}

export async function dumpPortsDesc(ctx: OfctlContext, s: OfSession, port: string | undefined): Promise<void> {
  const { xid, parts } = await s.multipart({ portDesc: {} });
  let ports = parts.flatMap((p) => p.portDesc?.ports ?? []);
  if (port !== undefined) ports = [findPort(s, ports, await s.namer(), port)];
  ctx.io.out(formatPortDescs(ports, ctx.style, xid));
}

/** mod-port actions: [config bit, set (true) or clear]. */
const MOD_PORT: Record<string, [number, boolean]> = {
  up: [1, false], down: [1, true],
  stp: [2, false], 'no-stp': [2, true],
  receive: [4, false], 'no-receive': [4, true],
  'receive-stp': [8, false], 'no-receive-stp': [8, true],
  flood: [16, false], 'no-flood': [16, true],
  forward: [32, false], 'no-forward': [32, true],
  'packet-in': [64, false], 'no-packet-in': [64, true],
};

export async function modPort(ctx: OfctlContext, s: OfSession, iface: string, act: string): Promise<void> {
  const m = MOD_PORT[act.toLowerCase()];
  if (m === undefined) throw new ToolError(`unknown mod-port command '${act}'`);
  const p = findPort(s, await s.ports(), await s.namer(), iface);
  const errors = await s.transact([{ portMod: { portNo: p.portNo ?? 0, hwAddr: p.hwAddr ?? new Uint8Array(0), config: m[1] ? m[0] : 0, mask: m[0] } }]);
  if (errors.length > 0) {
    for (const e of errors) ctx.io.err(formatRemoteError(e.error, ctx.style));
    throw new ToolExit(1);
  }
}

function parseActionsOrFail(text: string, names: PortNamer, start = 0): ReturnType<typeof parseActions> {
  try {
    return parseActions(text, start, text.length, names);
  } catch (e) {
    if (e instanceof FlowSyntaxError) throw new ToolError(e.describe());
    throw e;
  }
}

function parseInPort(text: string, names: PortNamer): number {
  try {
    return parsePort(text, names);
  } catch (e) {
    if (e instanceof ValueError) throw new ToolError(`${text}: invalid or unknown port for in_port`);
    throw e;
  }
}

/**
 * packet-out SWITCH "in_port=1 packet=HEX actions=..." (ovs-ofctl's current form), or
 * packet-out SWITCH IN_PORT ACTIONS PACKET... (its older one, one packet out per PACKET).
 */
export async function packetOut(ctx: OfctlContext, s: OfSession, args: string[]): Promise<void> {
  const names = await s.namer();
  const outs: { inPort: number; actions: ReturnType<typeof parseActions>; data: Uint8Array }[] = [];
  if (args.length === 1) {
    const text = args[0];
    const act = findActions(text);
    if (act.at < 0) throw new ToolError('must specify actions');
    let inPort = 0xfffd; // CONTROLLER: none
    let data: Uint8Array | null = null;
    for (const item of text.slice(0, act.at).split(/[\s,]+/).filter((x) => x !== '')) {
      const eq = item.indexOf('=');
      const key = eq < 0 ? item : item.slice(0, eq);
      const value = eq < 0 ? '' : item.slice(eq + 1);
      if (key === 'in_port') inPort = parseInPort(value, names);
      else if (key === 'packet') data = parseHexPacket(value);
      else throw new ToolError(`unknown keyword ${key}`);
    }
    if (data === null) throw new ToolError('must specify packet');
    outs.push({ inPort, actions: parseActionsOrFail(text, names, act.body), data });
  } else {
    if (args.length < 3) throw new ToolError("'packet-out' command requires at least 4 arguments");
    const inPort = parseInPort(args[0], names);
    const actions = parseActionsOrFail(args[1], names);
    for (const p of args.slice(2)) outs.push({ inPort, actions, data: parseHexPacket(p) });
  }
  const errors = await s.transact(outs.map((o) => ({
    packetOut: { bufferId: 0xffffffff, inPort: portToWire(o.inPort), actions: actionsToWire(o.actions), data: o.data },
  })));
  if (errors.length > 0) {
    for (const e of errors) ctx.io.err(formatRemoteError(e.error, ctx.style, ctx.names ? names : undefined));
    throw new ToolExit(1);
  }
}

export async function probe(s: OfSession): Promise<void> {
  await s.request({ echoRequest: { data: new Uint8Array(0) } });
}
