/*
 * One flow-protocol connection to a bridge, whichever end opened it (ofctl on the bridge's
 * .mgmt socket, or later a controller vswitchd connects to): its role, miss_send_len, which
 * asynchronous messages it wants, its flow monitors, and the handler of every request it
 * sends: features, get/set config, async config, roles, flow mods, port mods, packet outs and
 * multipart requests (ofmgmt-stats.ts). FlowConnection runs the handler for one message at a
 * time in arrival order, so a barrier's reply follows everything sent before it. A handler
 * that throws OfpError is answered with that OpenFlow error and the offending message.
 * Created by OfBridge.attach() (ofmgmt-bridge.ts). Control path.
 */
import { extractKey } from '../datapath/extract.js';
import { VswitchError } from '../lib/errors.js';
import type { FlowConnection } from '../lib/flowproto/connection.js';
import {
  OFPBRC_BAD_PACKET, OFPBRC_BAD_PORT, OFPBRC_BAD_TYPE, OFPBRC_EPERM, OFPBRC_IS_SLAVE, OFPET_BAD_REQUEST, OFPET_ROLE_REQUEST_FAILED,
  OFPET_SWITCH_CONFIG_FAILED, OFPRRFC_BAD_ROLE, OFPRRFC_STALE, OFPSCFC_BAD_FLAGS,
} from '../lib/flowproto/error-codes.js';
import type { FlowMessage } from '../lib/flowproto/messages.js';
import { KEY_WORDS } from '../lib/flow-key.js';
import type { OfBridge } from './ofmgmt-bridge.js';
import { applyPortMod, bridgePortDescs } from './ofmgmt-ports.js';
import { handleMultipart } from './ofmgmt-stats.js';
import { validateActions } from './ofp/actions.js';
import { OfpError } from './ofp/errors.js';
import { newOfFlow, ofFlowFromKey, OFPP_CONTROLLER, OFPP_LOCAL, OFPP_NONE, OFPP_TABLE } from './ofp/layout.js';
import { Match } from './ofp/match.js';
import { actionsFromWire, flowModFromWire } from './ofp/wire.js';
import { portFromWire } from './ofp/wire-match.js';
import { N_BUFFERS, NO_BUFFER } from './packet-in-limit.js';
import { executeActions } from './packet-out.js';

export type OfConnKind = 'mgmt' | 'controller';

/** ControllerRole numbers. */
export const ROLE_NOCHANGE = 0;
export const ROLE_EQUAL = 1;
export const ROLE_MASTER = 2;
export const ROLE_SLAVE = 3;

/** Capabilities in features replies: FLOW_STATS, TABLE_STATS, PORT_STATS. */
const CAPABILITIES = 1 | 2 | 4;
const N_TABLES = 255;
/** BadRequestCode BUFFER_UNKNOWN. */
const OFPBRC_BUFFER_UNKNOWN = 8;
/** OpenFlow 1.3's default miss_send_len for controller connections. */
export const DEFAULT_MISS_SEND_LEN = 128;

/** A controller connected this long counts as admitted even if it sent nothing that says so. */
export const ADMIT_AFTER_MS = 30000;

/** Messages a controller may send while deciding whether to accept a switch (they do not admit it). */
const NOT_ADMITTING = new Set(['hello', 'error', 'echoRequest', 'echoReply', 'featuresRequest', 'getConfigRequest', 'setConfig', 'getAsyncRequest']);

/** Whether a message of kind `body` shows the controller has accepted the switch. */
export function admitsSwitch(body: string | undefined): boolean {
  return body !== undefined && !NOT_ADMITTING.has(body);
}

/** Which asynchronous messages a connection gets: bit N enables reason N. */
export interface AsyncMasks {
  packetIn: number;
  portStatus: number;
  flowRemoved: number;
}

/** OpenFlow 1.3's defaults: masters and equals get everything, slaves only port status. */
export function defaultAsync(kind: OfConnKind, role: number): AsyncMasks {
  if (kind === 'mgmt') return { packetIn: 0, portStatus: 0, flowRemoved: 0 };
  if (role === ROLE_SLAVE) return { packetIn: 0, portStatus: 0b111, flowRemoved: 0 };
  return { packetIn: 0b111, portStatus: 0b111, flowRemoved: 0b1111 };
}

/** A flow monitor a connection set up (OFPMP_FLOW_MONITOR). */
export interface FlowMonitor {
  id: number;
  /** OFPTT_ALL (255): every table. */
  table: number;
  /** OFPP_ANY: no filter (16-bit model numbers). */
  outPort: number;
  flags: number;
  match: Match;
}

export class OfConn {
  role = ROLE_EQUAL;
  /** Bytes of a table-miss packet sent in a packet_in. */
  missSendLen: number;
  /** Whether set_config set missSendLen (a management connection's 0 then cuts too). */
  missSendLenSet = false;
  async: AsyncMasks;
  /** Whether set_async replaced the role's defaults. */
  asyncSet = false;
  /** The controller id packet_ins with a `controller(id=N)` must name to reach this connection. */
  controllerId = 0;
  readonly monitors = new Map<number, FlowMonitor>();
  /** Packet-ins sent on this connection, and those its rate limit kept back. */
  packetInsSent = 0;
  packetInsRateLimited = 0;
  /**
   * Whether the controller has shown it accepted this switch (Open vSwitch's "admitted"): it
   * sent a message a controller sends only once it controls the switch (anything but
   * features, get_config, set_config, get_async, echo, error), or it has been connected for
   * ADMIT_AFTER_MS. Only admitted connections take a bridge out of fail-open (fail-mode.ts).
   */
  admitted = false;
  readonly connectedAt = Date.now();

  constructor(readonly ofb: OfBridge, readonly conn: FlowConnection, readonly kind: OfConnKind) {
    this.missSendLen = kind === 'controller' ? DEFAULT_MISS_SEND_LEN : 0;
    this.async = defaultAsync(kind, this.role);
    conn.onMessage((msg) => this.handle(msg));
  }

  /** Handles one message from the peer (FlowConnection calls it in order, awaiting each). */
  async handle(msg: FlowMessage): Promise<void> {
    const c = this.conn;
    if (!this.admitted && this.kind === 'controller' && admitsSwitch(msg.body)) this.admit();
    switch (msg.body) {
      case 'featuresRequest':
        c.reply(msg, {
          featuresReply: {
            datapathId: this.ofb.datapathId(), nBuffers: this.kind === 'controller' ? N_BUFFERS : 0, nTables: N_TABLES, auxiliaryId: 0, capabilities: CAPABILITIES,
            ports: bridgePortDescs(this.ofb.bridge, this.ofb.dpPorts()),
          },
        });
        return;
      case 'getConfigRequest':
        c.reply(msg, { getConfigReply: { flags: 0, missSendLen: this.missSendLen } });
        return;
      case 'setConfig': {
        this.needWrite();
        const flags = msg.setConfig?.flags ?? 0;
        if (flags !== 0) throw new OfpError(OFPET_SWITCH_CONFIG_FAILED, OFPSCFC_BAD_FLAGS, `fragment handling ${flags} is not supported (only 0, normal)`);
        this.missSendLen = Math.min(msg.setConfig?.missSendLen ?? 0, 0xffff);
        this.missSendLenSet = true;
        return;
      }
      case 'setAsync': {
        const a = msg.setAsync ?? {};
        this.async = { packetIn: a.packetInMask ?? 0, portStatus: a.portStatusMask ?? 0, flowRemoved: a.flowRemovedMask ?? 0 };
        this.asyncSet = true;
        return;
      }
      case 'getAsyncRequest':
        c.reply(msg, { getAsyncReply: { packetInMask: this.async.packetIn, portStatusMask: this.async.portStatus, flowRemovedMask: this.async.flowRemoved } });
        return;
      case 'roleRequest':
        this.roleRequest(msg);
        return;
      case 'flowMod': {
        this.needWrite();
        const w = msg.flowMod ?? {};
        const buffer = w.bufferId ?? NO_BUFFER;
        const buffered = buffer !== 0 && buffer !== NO_BUFFER;
        const fm = flowModFromWire(buffered ? { ...w, bufferId: NO_BUFFER } : w);
        this.ofb.applyFlowMod(fm, this);
        // The buffered packet goes through the tables once the flow is in (OpenFlow 1.3).
        if (buffered && (fm.command === 'add' || fm.command === 'modify' || fm.command === 'modify_strict')) this.runBuffered(buffer);
        return;
      }
      case 'portMod': {
        this.needWrite();
        const { port, changed } = applyPortMod(this.ofb.bridge, msg.portMod ?? {}, this.ofb.dpPorts());
        if (changed) this.ofb.portConfigChanged(port);
        return;
      }
      case 'packetOut':
        this.needWrite();
        this.packetOut(msg);
        return;
      case 'multipartRequest':
        await handleMultipart(this, msg);
        return;
      case 'error':
        this.ofb.log.info({ conn: c.name, type: msg.error?.type, code: msg.error?.code, detail: msg.error?.detail }, 'flow protocol peer sent an error');
        return;
      case 'echoReply':
      case 'barrierReply':
        return; // replies to requests nobody waits for any more
      default:
        throw new OfpError(OFPET_BAD_REQUEST, OFPBRC_BAD_TYPE, `${msg.body ?? 'a message without a body'} is not handled by the switch`);
    }
  }

  /** Marks the connection admitted (once) and tells the bridge (fail-open ends before the message is handled). */
  admit(): void {
    if (this.admitted) return;
    this.admitted = true;
    this.ofb.onAdmitted?.(this);
  }

  /** State-changing requests from a SLAVE are refused (OpenFlow 1.3). */
  private needWrite(): void {
    if (this.role === ROLE_SLAVE) throw new OfpError(OFPET_BAD_REQUEST, OFPBRC_IS_SLAVE, 'this connection has the slave role: it cannot change the switch');
  }

  private roleRequest(msg: FlowMessage): void {
    const role = msg.roleRequest?.role ?? ROLE_NOCHANGE;
    const gen = BigInt.asUintN(64, msg.roleRequest?.generationId ?? 0n);
    if (role > ROLE_SLAVE) throw new OfpError(OFPET_ROLE_REQUEST_FAILED, OFPRRFC_BAD_ROLE, `role ${role} does not exist`);
    if (role === ROLE_MASTER || role === ROLE_SLAVE) {
      const last = this.ofb.maxGenerationId;
      // Generation ids compare as wrapping 64-bit serial numbers.
      if (last !== null && BigInt.asIntN(64, gen - last) < 0n) {
        throw new OfpError(OFPET_ROLE_REQUEST_FAILED, OFPRRFC_STALE, `generation id ${gen} is older than ${last}`);
      }
      this.ofb.maxGenerationId = gen;
      if (role === ROLE_MASTER) this.ofb.demoteMasters(this);
    }
    if (role !== ROLE_NOCHANGE) this.setRole(role);
    this.conn.reply(msg, { roleReply: { role: this.role, generationId: this.ofb.maxGenerationId ?? 0n } });
  }

  setRole(role: number): void {
    if (role === this.role) return;
    this.role = role;
    if (!this.asyncSet) this.async = defaultAsync(this.kind, role);
  }

  /** The frame of buffer `id` (each id works once); OFPBRC_BUFFER_UNKNOWN when gone. */
  private takeBuffer(id: number): Uint8Array {
    const b = this.ofb.buffers.take(id);
    if (b === null) throw new OfpError(OFPET_BAD_REQUEST, OFPBRC_BUFFER_UNKNOWN, `buffer ${id} is unknown, expired or already used`);
    return b.packet;
  }

  /** Sends buffered packet `id` through the tables from the port it came in on. */
  private runBuffered(id: number): void {
    const b = this.ofb.buffers.take(id);
    if (b === null) throw new OfpError(OFPET_BAD_REQUEST, OFPBRC_BUFFER_UNKNOWN, `buffer ${id} is unknown, expired or already used (the flow mod was applied)`);
    try {
      executeActions(this.ofb.st, this.ofb.bridge, b.inPort, [{ type: 'output', port: OFPP_TABLE }], Buffer.from(b.packet));
    } catch (e) {
      this.ofb.log.debug({ err: (e as Error).message }, 'buffered packet could not be sent');
    }
  }

  private packetOut(msg: FlowMessage): void {
    const po = msg.packetOut ?? {};
    const buffer = po.bufferId ?? 0;
    let data = po.data ?? new Uint8Array(0);
    if (buffer !== 0 && buffer !== NO_BUFFER) data = this.takeBuffer(buffer);
    if (data.length < 14) throw new OfpError(OFPET_BAD_REQUEST, OFPBRC_BAD_PACKET, `a packet out needs an Ethernet frame (got ${data.length} bytes)`);
    let inPort: number;
    try {
      inPort = po.inPort === undefined || po.inPort === 0 ? OFPP_CONTROLLER : portFromWire(po.inPort);
    } catch {
      throw new OfpError(OFPET_BAD_REQUEST, OFPBRC_BAD_PORT, `in_port ${po.inPort} is not a valid port number`);
    }
    if (inPort === OFPP_NONE) inPort = OFPP_CONTROLLER;
    if (inPort !== OFPP_CONTROLLER && inPort !== OFPP_LOCAL && this.ofb.bridge.port(inPort) === undefined) {
      throw new OfpError(OFPET_BAD_REQUEST, OFPBRC_BAD_PORT, `bridge ${this.ofb.bridge.name} has no port ${inPort}`);
    }
    const actions = actionsFromWire(po.actions ?? []);
    // Checked against the packet itself: a set_field needs its prerequisites in the packet.
    const key = new Uint32Array(KEY_WORDS);
    extractKey(data, 0, data.length, 0, key, 0);
    const flow = newOfFlow();
    ofFlowFromKey(key, inPort, flow);
    validateActions(actions, { match: Match.exact(flow), table: 0 });
    const packet = Buffer.from(data); // the message's bytes are a view into the receive buffer
    try {
      executeActions(this.ofb.st, this.ofb.bridge, inPort, actions, packet);
    } catch (e) {
      if (e instanceof OfpError) throw e;
      const code = e instanceof VswitchError && e.code === 'BAD_PACKET' ? OFPBRC_BAD_PACKET : OFPBRC_EPERM;
      throw new OfpError(OFPET_BAD_REQUEST, code, `packet out failed: ${(e as Error).message}`);
    }
  }
}
