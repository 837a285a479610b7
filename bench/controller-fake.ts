/*
 * The controller benchmarks' in-process half: vscontroller's Controller (src/controller) and a
 * minimal fake switch made of a FlowConnection, joined by loopback TCP (or a Unix socket),
 * sharing this process's one event loop. Each figure is the cost of the controller, the
 * protocol (encode, frame, decode both ways) and a switch that does nothing with what it gets;
 * bench/controller-real.ts measures the same three through a real vswitchd. Called by
 * bench/controller.ts; control path, it only measures.
 *
 *  - flow_mods_per_sec: flow mods through one connection, each batch followed by a barrier and
 *    its reply (sw.flowMods: the OpenFlow model prebuilt, and from ovs-ofctl strings).
 *  - packet_in_rtt_us: packet-in to packet-out, one at a time: l2-learning floods an unknown
 *    destination (p50, p99, mean).
 *  - new_flows_per_sec: packet-ins each for a new (source, known destination) pair, up to
 *    WINDOW outstanding; l2-learning answers each with a flow mod and a packet-out; the figure
 *    is flow mods the switch received per second.
 */
import { join } from 'node:path';
import pino from 'pino';
import { L2Learning, parseL2Options } from '../src/controller/apps/l2-learning.js';
import { Controller } from '../src/controller/controller.js';
import type { SwitchSession } from '../src/controller/switch-session.js';
import { FlowConnection } from '../src/lib/flowproto/connection.js';
import type { FlowMessage } from '../src/lib/flowproto/messages.js';
import { F_ETH_DST, F_IN_PORT } from '../src/vswitchd/ofp/fields.js';
import { newFlowMod, type FlowMod } from '../src/vswitchd/ofp/flow-syntax.js';
import { Match } from '../src/vswitchd/ofp/match.js';
import { matchToWire } from '../src/vswitchd/ofp/wire-match.js';

export const WINDOW = 64;

let quick = false;
let useUnix = false;

/** A switch that answers the handshake and counts what it gets. */
class BenchSwitch {
  conn!: FlowConnection;
  flowMods = 0;
  packetOuts = 0;
  onPacketOut: (() => void) | null = null;
  onFlowMod: (() => void) | null = null;

  async connect(target: string, dpid: bigint): Promise<void> {
    this.conn = await FlowConnection.connect(target, { agent: 'bench switch', onMessage: (m, k) => this.handle(m, k, dpid) });
  }

  private handle(m: FlowMessage, k: FlowConnection, dpid: bigint): void {
    switch (m.body) {
      case 'featuresRequest':
        k.reply(m, { featuresReply: { datapathId: dpid, nTables: 255 } });
        return;
      case 'multipartRequest':
        if (m.multipartRequest?.body === 'portDesc') k.replyMultipart(m, [{ portDesc: { ports: [1, 2, 3].map((p) => ({ portNo: p, name: `p${p}` })) } }]);
        else if (m.multipartRequest?.body === 'flow') k.replyMultipart(m, [{ flow: { stats: [] } }]);
        else k.replyMultipart(m, [{ desc: { swDesc: 'bench switch' } }]);
        return;
      case 'flowMod':
        this.flowMods++;
        this.onFlowMod?.();
        return;
      case 'packetOut':
        this.packetOuts++;
        this.onPacketOut?.();
        return;
      default:
    }
  }

  /** `match` carries the in_port (inPortMatch). */
  packetIn(data: Uint8Array, match: ReturnType<typeof matchToWire>): void {
    this.conn.send({ packetIn: { bufferId: 0xffffffff, totalLen: data.length, reason: 0, match, data } });
  }
}

function inPortMatch(p: number): ReturnType<typeof matchToWire> {
  const m = new Match();
  m.setFieldNum(F_IN_PORT, p);
  return matchToWire(m);
}

function frame(dst: number, src: number): Uint8Array {
  const f = new Uint8Array(64);
  for (let i = 0; i < 6; i++) {
    f[i] = Math.floor(dst / 2 ** (8 * (5 - i))) & 0xff;
    f[6 + i] = Math.floor(src / 2 ** (8 * (5 - i))) & 0xff;
  }
  f[12] = 0x08;
  return f;
}

const log = pino({ level: 'silent' });

async function setup(apps: { app: L2Learning }[], dpid: bigint, dir: string): Promise<{ ctrl: Controller; sw: BenchSwitch; session: SwitchSession }> {
  const path = join(dir, `c${dpid}.sock`);
  const ctrl = new Controller({
    targets: useUnix ? [{ kind: 'unix', path }] : [{ kind: 'tcp', port: 0, host: '127.0.0.1' }], apps, log, probeIntervalMs: 0,
  });
  await ctrl.start();
  const sw = new BenchSwitch();
  await sw.connect(useUnix ? `unix:${path}` : `tcp:127.0.0.1:${ctrl.tcpPorts[0]}`, dpid);
  for (let i = 0; i < 500 && !ctrl.switch(dpid)?.isUp; i++) await new Promise((r) => setTimeout(r, 10));
  const session = ctrl.switch(dpid);
  if (!session) throw new Error('the bench switch did not come up');
  return { ctrl, sw, session };
}

async function flowModRate(dir: string): Promise<Record<string, number>> {
  const { ctrl, sw, session } = await setup([], 1n, dir);
  const total = quick ? 20000 : 100000;
  const out: Record<string, number> = {};
  for (const batch of [1000, 100]) {
    const models: FlowMod[] = [];
    for (let i = 0; i < batch; i++) {
      const fm = newFlowMod('add');
      fm.priority = 100;
      fm.match.setFieldNum(F_IN_PORT, 1 + (i % 3));
      fm.match.setFieldNum(F_ETH_DST, 0x020000000000 + i);
      fm.actions = [{ type: 'output', port: 2 }];
      models.push(fm);
    }
    const strings = models.map((_, i) => `priority=100,in_port=${1 + (i % 3)},dl_dst=02:00:00:00:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')},actions=output:2`);
    for (const [kind, flows] of [['model', models], ['string', strings]] as const) {
      for (let w = 0; w < 5; w++) await session.flowMods(flows.map((flow) => ({ flow }))); // warm-up
      const before = sw.flowMods;
      const t0 = performance.now();
      for (let done = 0; done < total; done += batch) {
        const f = await session.flowMods(flows.map((flow) => ({ flow })));
        if (f.length) throw new Error(`flow mods refused: ${f[0].error.message}`);
      }
      const secs = (performance.now() - t0) / 1000;
      if (sw.flowMods - before !== Math.ceil(total / batch) * batch) throw new Error('flow mods lost');
      out[`${kind}_batch${batch}`] = Math.round((sw.flowMods - before) / secs);
    }
  }
  await ctrl.stop();
  return out;
}

async function packetInRtt(dir: string): Promise<{ p50: number; p99: number; mean: number; n: number }> {
  const l2 = new L2Learning(parseL2Options('table_miss=no'));
  const { ctrl, sw } = await setup([{ app: l2 }], 2n, dir);
  const n = quick ? 2000 : 10000;
  const samples = new Float64Array(n);
  const match = inPortMatch(1);
  const data = frame(0xffffffffffff, 0x020000000001);
  for (let i = -200; i < n; i++) {
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      sw.onPacketOut = resolve;
      sw.packetIn(data, match);
    });
    if (i >= 0) samples[i] = (performance.now() - t0) * 1000;
  }
  sw.onPacketOut = null;
  await ctrl.stop();
  const sorted = Array.from(samples).sort((a, b) => a - b);
  const mean = sorted.reduce((a, b) => a + b, 0) / n;
  return { p50: sorted[Math.floor(n * 0.5)], p99: sorted[Math.floor(n * 0.99)], mean, n };
}

async function newFlowRate(dir: string): Promise<{ perSec: number; flows: number; seconds: number }> {
  const l2 = new L2Learning(parseL2Options('table_miss=no,max_macs=1000000'));
  const { ctrl, sw } = await setup([{ app: l2 }], 3n, dir);
  const dst = 0x02000000ffff;
  // The destination is learned on port 2 first.
  await new Promise<void>((resolve) => {
    sw.onPacketOut = resolve;
    sw.packetIn(frame(0xffffffffffff, dst), inPortMatch(2));
  });
  sw.onPacketOut = null;
  const n = quick ? 20000 : 100000;
  const m1 = inPortMatch(1);
  const before = sw.flowMods;
  let sent = 0;
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const pump = (): void => {
      while (sent < n && sent - (sw.flowMods - before) < WINDOW) sw.packetIn(frame(dst, 0x021000000000 + sent++), m1);
    };
    sw.onFlowMod = () => {
      if (sw.flowMods - before >= n) resolve();
      else pump();
    };
    pump();
  });
  const seconds = (performance.now() - t0) / 1000;
  sw.onFlowMod = null;
  const flows = sw.flowMods - before;
  await ctrl.stop();
  return { perSec: Math.round(flows / seconds), flows, seconds };
}

export interface FakeSwitchFigures {
  transport: 'tcp' | 'unix';
  flow_mods_per_sec: Record<string, number>;
  packet_in_rtt_us: { p50: number; p99: number; mean: number; n: number };
  new_flows_per_sec: { perSec: number; flows: number; seconds: number; window: number };
}

/** Runs the three in-process measurements; `dir` holds the Unix socket. */
export async function benchFakeSwitch(dir: string, opts: { quick: boolean; unix: boolean }): Promise<FakeSwitchFigures> {
  quick = opts.quick;
  useUnix = opts.unix;
  const fm = await flowModRate(dir);
  const rtt = await packetInRtt(dir);
  const nf = await newFlowRate(dir);
  return { transport: useUnix ? 'unix' : 'tcp', flow_mods_per_sec: fm, packet_in_rtt_us: rtt, new_flows_per_sec: { ...nf, window: WINDOW } };
}
