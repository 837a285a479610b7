// A switch for the controller tests, built from FlowConnection and vswitchd's OpenFlow tables:
// it connects to a controller, answers the handshake (features, port_desc, desc), applies flow
// mods to real OfTables (so errors, cookies, strict/non-strict deletes and stats behave as in
// vswitchd), records packet-outs, implements roles (MASTER/SLAVE, generation ids, IS_SLAVE) and
// "forwards" injected frames through its table 0: a frame that hits a CONTROLLER flow becomes a
// packet-in, anything else is counted as switched without the controller.
import { FlowConnection } from '../../../src/lib/flowproto/connection.js';
import { OFPBRC_IS_SLAVE, OFPET_BAD_REQUEST, OFPET_ROLE_REQUEST_FAILED, OFPRRFC_STALE } from '../../../src/lib/flowproto/error-codes.js';
import type { FlowMessage, Input, Port } from '../../../src/lib/flowproto/messages.js';
import { OfpError } from '../../../src/vswitchd/ofp/errors.js';
import { F_ETH_DST, F_ETH_SRC, F_ETH_TYPE, F_IN_PORT } from '../../../src/vswitchd/ofp/fields.js';
import { OF_WORDS, setWide } from '../../../src/vswitchd/ofp/layout.js';
import { Match } from '../../../src/vswitchd/ofp/match.js';
import { OfTables, type FlowEntry } from '../../../src/vswitchd/ofp/tables.js';
import { flowModFromWire, flowStatsToWire, statsRequestFromWire } from '../../../src/vswitchd/ofp/wire.js';
import { matchToWire, portToWire } from '../../../src/vswitchd/ofp/wire-match.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function until(cond: () => boolean, ms = 3000, what = 'condition'): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

export function mac(s: string): Uint8Array {
  return Uint8Array.from(s.split(':').map((h) => parseInt(h, 16)));
}

/** An Ethernet frame dst, src, type 0x0800 and `len` bytes in all. */
export function frame(dst: string, src: string, len = 64, type = 0x0800): Uint8Array {
  const f = new Uint8Array(len);
  f.set(mac(dst), 0);
  f.set(mac(src), 6);
  f[12] = type >> 8;
  f[13] = type & 0xff;
  for (let i = 14; i < len; i++) f[i] = i & 0xff;
  return f;
}

export function wirePort(no: number, name: string): Input<Port> {
  return { portNo: portToWire(no), name, hwAddr: Uint8Array.from([2, 0, 0, 0, 0, no & 0xff]), state: 4, currSpeed: 10_000_000 };
}

interface Conn {
  conn: FlowConnection;
  role: number; // 1 equal, 2 master, 3 slave
}

export interface InjectResult {
  /** 'controller': a packet-in was sent; 'flow': switched by a flow; 'miss': no flow. */
  via: 'controller' | 'flow' | 'miss';
  entry: FlowEntry | null;
}

export class FakeSwitch {
  readonly tables = new OfTables(true);
  readonly conns: Conn[] = [];
  /** Every message received that is not a reply (flow mods, packet-outs, role requests...). */
  readonly received: FlowMessage[] = [];
  ports: Input<Port>[];
  /** Newest generation id seen with MASTER or SLAVE. */
  maxGen: bigint | null = null;
  /** Don't answer echo requests (by closing nothing and replying nothing): see silence(). */
  missSendLen = 128;
  packetInsSent = 0;
  switchedByFlow = 0;

  constructor(readonly dpid: bigint, nPorts = 3) {
    this.ports = [];
    for (let i = 1; i <= nPorts; i++) this.ports.push(wirePort(i, `p${i}`));
  }

  get packetOuts(): FlowMessage[] {
    return this.received.filter((m) => m.body === 'packetOut');
  }
  get flowMods(): FlowMessage[] {
    return this.received.filter((m) => m.body === 'flowMod');
  }

  /** Connects to the controller at `target` ("tcp:127.0.0.1:6653", "unix:/x"). */
  async connect(target: string, agent = 'fake switch'): Promise<FlowConnection> {
    // The handler goes in with the options: the controller's features request can arrive in the
    // same read as its hello, before connect() resolves.
    const conn = await FlowConnection.connect(target, { agent, onMessage: (msg, k) => this.handle(this.connOf(k), msg) });
    this.connOf(conn);
    return conn;
  }

  /** The record of a connection, made (and watched for its close) the first time it is seen. */
  private connOf(conn: FlowConnection): Conn {
    let c = this.conns.find((x) => x.conn === conn);
    if (c === undefined) {
      const rec: Conn = { conn, role: 1 };
      c = rec;
      this.conns.push(rec);
      conn.once('close', () => {
        const i = this.conns.indexOf(rec);
        if (i >= 0) this.conns.splice(i, 1);
      });
    }
    return c;
  }

  private handle(c: Conn, msg: FlowMessage): void {
    const conn = c.conn;
    switch (msg.body) {
      case 'featuresRequest':
        conn.reply(msg, { featuresReply: { datapathId: this.dpid, nBuffers: 0, nTables: 255, capabilities: 7 } });
        return;
      case 'multipartRequest': {
        const r = msg.multipartRequest!;
        if (r.body === 'portDesc') conn.replyMultipart(msg, [{ portDesc: { ports: this.ports } }]);
        else if (r.body === 'desc') conn.replyMultipart(msg, [{ desc: { mfrDesc: 'test', swDesc: 'fake switch', dpDesc: 'br-test' } }]);
        else if (r.body === 'flow') {
          const now = Date.now();
          const es = this.tables.select(statsRequestFromWire(r.flow ?? {}));
          conn.replyMultipart(msg, [{ flow: { stats: es.map((e) => flowStatsToWire(e, now)) } }]);
        } else if (r.body === 'aggregate') {
          const a = this.tables.aggregate(statsRequestFromWire(r.aggregate ?? {}));
          conn.replyMultipart(msg, [{ aggregate: { packetCount: a.packets, byteCount: a.bytes, flowCount: a.flows } }]);
        } else if (r.body === 'portStats') {
          const want = r.portStats?.portNo;
          const ps = this.ports.filter((p) => want === undefined || p.portNo === want);
          conn.replyMultipart(msg, [{ portStats: { stats: ps.map((p) => ({ portNo: p.portNo, rxPackets: 10n, txPackets: 20n, rxBytes: 1000n, txBytes: 2000n })) } }]);
        } else if (r.body === 'table') {
          conn.replyMultipart(msg, [{ table: { stats: this.tables.tableStats().slice(0, 2).map((t) => ({ tableId: t.table, activeCount: t.active })) } }]);
        } else conn.replyError(msg, 1, 2, 'not here');
        return;
      }
      case 'roleRequest': {
        this.received.push(msg);
        const role = msg.roleRequest?.role ?? 0;
        const gen = msg.roleRequest?.generationId ?? 0n;
        if (role === 2 || role === 3) {
          if (this.maxGen !== null && gen < this.maxGen) throw new OfpError(OFPET_ROLE_REQUEST_FAILED, OFPRRFC_STALE, 'stale generation id');
          this.maxGen = gen;
          if (role === 2) for (const o of this.conns) if (o !== c && o.role === 2) o.role = 3;
        }
        if (role !== 0) c.role = role;
        conn.reply(msg, { roleReply: { role: c.role, generationId: this.maxGen ?? 0n } });
        return;
      }
      case 'flowMod': {
        this.received.push(msg);
        if (c.role === 3) throw new OfpError(OFPET_BAD_REQUEST, OFPBRC_IS_SLAVE, 'this connection is a slave');
        this.tables.apply(flowModFromWire(msg.flowMod!));
        return;
      }
      case 'packetOut':
        this.received.push(msg);
        if (c.role === 3) throw new OfpError(OFPET_BAD_REQUEST, OFPBRC_IS_SLAVE, 'this connection is a slave');
        return;
      case 'setConfig':
        this.received.push(msg);
        this.missSendLen = msg.setConfig?.missSendLen ?? 0;
        return;
      default:
        this.received.push(msg);
    }
  }

  /** Sends a packet-in on every connection that is not a slave (or on `only`). */
  packetIn(inPort: number, data: Uint8Array, opts: { reason?: number; bufferId?: number; totalLen?: number; cookie?: bigint; only?: FlowConnection } = {}): void {
    const m = new Match();
    m.setFieldNum(F_IN_PORT, inPort);
    for (const c of this.conns) {
      if (opts.only ? c.conn !== opts.only : c.role === 3) continue;
      c.conn.send({
        packetIn: {
          bufferId: opts.bufferId ?? 0xffffffff, totalLen: opts.totalLen ?? data.length, reason: opts.reason ?? 0, cookie: opts.cookie ?? 0n,
          match: matchToWire(m), data,
        },
      });
    }
    this.packetInsSent++;
  }

  /** Runs a frame through table 0 as a switch would: a CONTROLLER flow makes a packet-in. */
  inject(inPort: number, data: Uint8Array): InjectResult {
    const flow = new Uint32Array(OF_WORDS);
    setWide(flow, F_IN_PORT.pos, 16, inPort);
    setWide(flow, F_ETH_DST.pos, 48, Number(BigInt(`0x${Buffer.from(data.subarray(0, 6)).toString('hex')}`)));
    setWide(flow, F_ETH_SRC.pos, 48, Number(BigInt(`0x${Buffer.from(data.subarray(6, 12)).toString('hex')}`)));
    setWide(flow, F_ETH_TYPE.pos, 16, (data[12] << 8) | data[13]);
    const e = this.tables.lookup(0, flow, null);
    if (e === null) return { via: 'miss', entry: null };
    this.tables.credit(e, 1, data.length, Date.now());
    const ctl = e.actions.find((a) => a.type === 'controller');
    if (ctl && ctl.type === 'controller') {
      const n = Math.min(ctl.maxLen, data.length);
      this.packetIn(inPort, data.subarray(0, n), { reason: e.priority === 0 && e.match.isCatchAll() ? 0 : 1, totalLen: data.length, cookie: e.cookie });
      return { via: 'controller', entry: e };
    }
    this.switchedByFlow++;
    return { via: 'flow', entry: e };
  }

  portStatus(reason: number, port: Input<Port>): void {
    for (const c of this.conns) c.conn.send({ portStatus: { reason, desc: port } });
  }

  /** Flow strings of table `table` (ovs-ofctl order), for assertions. */
  flows(table = 0): FlowEntry[] {
    return this.tables.select({ table });
  }

  close(): void {
    for (const c of [...this.conns]) c.conn.close();
  }
}
