/*
 * What ofctl shows of a switch's replies beyond flows: the bridge's ports as a PortNamer (names
 * in flows are always understood, printed only with --names), and errors the switch sent back
 * printed as ovs-ofctl prints an OFPT_ERROR with the offending message. Used by session.ts and
 * the command modules. Control path.
 */
import { decodeMessage } from '../../src/lib/flowproto/codec.js';
import type { FlowRemoteError } from '../../src/lib/flowproto/errors.js';
import type { Port } from '../../src/lib/flowproto/messages.js';
import { formatActions } from '../../src/vswitchd/ofp/action-syntax.js';
import type { PortNamer } from '../../src/vswitchd/ofp/values.js';
import { actionsFromWire, flowModFromWire } from '../../src/vswitchd/ofp/wire.js';
import { portFromWire } from '../../src/vswitchd/ofp/wire-match.js';
import { formatFlowModMsg, header, portName, type Style } from './print.js';

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
