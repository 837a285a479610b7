/*
 * ofctl's connection to a switch: a SWITCH argument as ovs-ofctl takes it (a bridge name, meaning
 * VSWITCH_RUNDIR/BRIDGE.mgmt; "unix:PATH"; "tcp:HOST[:PORT]"; a socket path), the connection with
 * ovs-ofctl's failure wording, the bridge's ports as a PortNamer (names in flows are always
 * understood, printed only with --names), and errors the switch sent back printed as ovs-ofctl
 * prints an OFPT_ERROR with the offending message. Control path.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { decodeMessage } from '../../src/lib/flowproto/codec.js';
import { FlowConnection } from '../../src/lib/flowproto/connection.js';
import { FlowProtoError, type FlowRemoteError } from '../../src/lib/flowproto/errors.js';
import type { Port } from '../../src/lib/flowproto/messages.js';
import { paths } from '../../src/lib/paths.js';
import { formatActions } from '../../src/vswitchd/ofp/action-syntax.js';
import type { PortNamer } from '../../src/vswitchd/ofp/values.js';
import { actionsFromWire, flowModFromWire } from '../../src/vswitchd/ofp/wire.js';
import { portFromWire } from '../../src/vswitchd/ofp/wire-match.js';
import { errnoText, ToolError } from '../common.js';
import { formatFlowModMsg, header, portName, type Style } from './print.js';

/** Default TCP port of an OpenFlow switch or controller (IANA). */
export const DEFAULT_OF_PORT = 6653;

/** Where SWITCH points: a connection target for FlowConnection.connect. */
export function resolveTarget(sw: string, env: NodeJS.ProcessEnv): string {
  if (sw.startsWith('unix:')) return sw;
  if (sw.startsWith('tcp:')) {
    const rest = sw.slice(4);
    const v6 = rest.startsWith('[');
    const hasPort = v6 ? /\]:\d+$/.test(rest) : rest.includes(':');
    return hasPort ? sw : `tcp:${rest}:${DEFAULT_OF_PORT}`;
  }
  if (sw.includes(':')) throw new ToolError(`${sw}: unknown connection method (use a bridge name, unix:FILE or tcp:HOST[:PORT])`);
  if (sw.includes('/')) return `unix:${sw}`;
  const path = join(paths(env).rundir, `${sw}.mgmt`);
  if (!existsSync(path) || !statSync(path).isSocket()) throw new ToolError(`${sw} is not a bridge or a socket`);
  return `unix:${path}`;
}

/** Connects to SWITCH; failures read like ovs-ofctl's. */
export async function connectSwitch(sw: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<FlowConnection> {
  const target = resolveTarget(sw, env);
  try {
    return await FlowConnection.connect(target, { agent: 'ofctl', timeoutMs: timeoutMs > 0 ? timeoutMs : 5000, requestTimeoutMs: 0, maxMessageBytes: 64 << 20 });
  } catch (e) {
    if (e instanceof FlowProtoError && e.code === 'HELLO_FAILED') throw new ToolError(`${sw}: ${e.message}`);
    throw new ToolError(`${sw}: failed to connect to socket (${errnoText(e)})`);
  }
}

/** Port names both ways, from a port description list. */
export function portNamer(ports: readonly Port[]): PortNamer {
  const byName = new Map<string, number>();
  const byNo = new Map<number, string>();
  for (const p of ports) {
    let no: number;
    try {
      no = portFromWire(p.portNo ?? 0);
    } catch {
      continue;
    }
    if (p.name) {
      byName.set(p.name, no);
      byNo.set(no, p.name);
    }
  }
  return { number: (name) => byName.get(name), name: (no) => byNo.get(no) };
}

/** What ovs-ofctl prints for an error the switch sent: the error, its detail, the message it refused. */
export function formatRemoteError(err: FlowRemoteError, style: Style, names?: PortNamer): string {
  let xid = 0;
  let offending = '';
  if (err.data.length > 0) {
    try {
      const m = decodeMessage(err.data);
      xid = m.xid;
      if (m.body === 'flowMod' && m.flowMod) {
        offending = `${header('OFPT_FLOW_MOD', style, xid)} ${formatFlowModMsg(flowModFromWire(m.flowMod), names)}`;
      } else if (m.body === 'packetOut' && m.packetOut) {
        let acts = '';
        try {
          acts = formatActions(actionsFromWire(m.packetOut.actions ?? []), names);
        } catch {
          acts = '(unparsable)';
        }
        offending = `${header('OFPT_PACKET_OUT', style, xid)} in_port=${portName(m.packetOut.inPort ?? 0xfffffffd, names)} actions=${acts} data_len=${m.packetOut.data?.length ?? 0}`;
      } else if (m.body === 'portMod' && m.portMod) {
        offending = `${header('OFPT_PORT_MOD', style, xid)} port: ${portName(m.portMod.portNo ?? 0, names)} config: 0x${(m.portMod.config ?? 0).toString(16)} mask: 0x${(m.portMod.mask ?? 0).toString(16)}`;
      } else if (m.body !== undefined) {
        offending = `${header(`(${m.body})`, style, xid)}`;
      }
    } catch {
      offending = '(the offending message could not be decoded)';
    }
  }
  let s = `${header('OFPT_ERROR', style, xid)} ${err.code}\n`;
  if (err.detail) s += `${err.detail}\n`;
  if (offending) s += `${offending}\n`;
  return s;
}
