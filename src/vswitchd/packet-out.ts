/*
 * Packet-out: runs an OpenFlow action list on one packet a controller or ofctl sent, as if it
 * had arrived on `inOfport` (a port of the bridge, LOCAL or CONTROLLER), and has the datapath
 * EXECUTE the result. Called by the flow-protocol server (ofconn.ts) per packet_out message.
 * `output:TABLE` runs the packet through the bridge's tables (with MAC learning and learn
 * actions, as a miss would, and crediting the rules it hits); `controller` sends it back up as
 * a packet_in. Nothing is installed in the datapath. Control path.
 */
import { extractKey, EXTRACT_RUNT } from '../datapath/extract.js';
import { VswitchError } from '../lib/errors.js';
import { KEY_WORDS } from '../lib/flow-key.js';
import type { Bridge } from './bridge.js';
import type { OfAction } from './ofp/actions.js';
import type { SwitchState } from './state.js';
import { udpifOf } from './udpif.js';
import { Xlator } from './xlate.js';

let xlator: Xlator | null = null;
const key = new Uint32Array(KEY_WORDS);

/**
 * Translates `actions` for `packet` (a whole Ethernet frame) entering `bridge` on OpenFlow port
 * `inOfport` and executes them on the datapath. Throws VswitchError: DP_UNAVAILABLE (no
 * datapath connection), BAD_PACKET (shorter than an Ethernet header).
 */
export function executeActions(st: SwitchState, bridge: Bridge, inOfport: number, actions: OfAction[], packet: Uint8Array): void {
  const u = udpifOf(st);
  const dp = u.dp;
  if (dp === null || dp.isClosed) throw new VswitchError('DP_UNAVAILABLE', 'not connected to the datapath (is it running?)');
  const bp = bridge.port(inOfport);
  const odpIn = bp?.odpPort ?? 0;
  if (extractKey(packet, 0, packet.length, odpIn, key, 0) === EXTRACT_RUNT) {
    throw new VswitchError('BAD_PACKET', `packet of ${packet.length} bytes is shorter than an Ethernet header`);
  }
  if (xlator === null) xlator = new Xlator(u.xlateCounters);
  const x = xlator;
  const now = Date.now();
  const macGen = bridge.macs.generation;
  x.translateActions(bridge, key, inOfport, actions, { sideEffects: true, now, trace: null });
  if (x.out.n > 0) dp.execute(odpIn, x.out.buf, packet, x.out.n);
  for (const e of x.rules) bridge.tables.credit(e, 1, packet.length, now);
  if (bridge.macs.generation !== macGen && u.wake !== null) u.wake();
}
