/*
 * The controller benchmarks through a real switch: a private vswitch instance (vsdb-server,
 * datapath, vswitchd in their own run/db/log directories, built by topo-vswitch.ts as setup a:
 * two namespaces on tap ports), fail mode secure, `vsctl set-controller` to a Controller in this
 * process running BenchRelayApp (controller-app.ts). Three figures, each through vswitchd's one
 * controller connection:
 *
 *  - flow_mods_per_sec: N distinct flow mods, in batches each followed by a barrier, and all N
 *    pipelined with one barrier at the end; the switch's table then holds N flows (checked).
 *  - packet_in_rtt_us: udprr request/response between the namespaces with only the table-miss
 *    flow `priority=0,actions=CONTROLLER:65535`: every frame becomes a packet-in and the app
 *    releases it by packet-out to the other port, so each round trip is two packet-in →
 *    packet-out trips; the same with `priority=0,actions=NORMAL` is the baseline, and half the
 *    difference is what one trip through the controller adds.
 *  - new_flows_per_sec: pktgen floods 64-byte UDP frames, each with a new 5-tuple, from host 1
 *    (megaflows off, so each is a datapath miss); the app installs an exact flow per packet-in
 *    and releases the frame; the figure is frames arriving at host 2 per second of flood (plus
 *    250 ms). Beside it: flow mods the app sent per second from the flood's start until the
 *    backlog (upcall queues, vswitchd, controller) drained, and the frames that arrived by then.
 *
 * Needs root; everything created is removed (bench/sh.ts teardowns) on success, failure or
 * interrupt. Called by bench/controller.ts; control path, it only measures.
 */
import { join } from 'node:path';
import pino from 'pino';
import { Controller } from '../src/controller/controller.js';
import type { SwitchSession } from '../src/controller/switch-session.js';
import { F_ETH_DST, F_IN_PORT } from '../src/vswitchd/ofp/fields.js';
import { newFlowMod, type FlowMod } from '../src/vswitchd/ofp/flow-syntax.js';
import { BenchRelayApp } from './controller-app.js';
import { buildGenTools } from './gen/build.js';
import { blast, linkStats } from './measure-pps.js';
import { parseUdprr, summarize, type Summary } from './parse.js';
import { BenchCommandError, nsArgs, onTeardown, run, runAsync, sleep, start, waitForLine } from './sh.js';
import { makeNames, type Topology } from './topo.js';
import { buildVswitch } from './topo-vswitch.js';

const RR_PORT = '7778';

export interface RealSwitchFigures {
  bridge: string;
  names_suffix: string;
  flow_mods_per_sec: Record<string, number>;
  flow_mods_total: number;
  packet_in_rtt_us: { via_controller: Summary & { lost: number }; via_flows: Summary & { lost: number }; added_per_trip_p50: number; added_per_trip_mean: number; packet_ins: number };
  new_flows_per_sec: {
    perSec: number; sent: number; received: number; seconds: number; packetIns: number; flowMods: number; packetOuts: number;
    /** Frames that reached host 2 once the backlog drained. */
    receivedSettled: number;
    /** Flow mods the app sent, per second from the flood's start until the last one (the backlog drained). */
    flowsSetUpPerSec: number;
    /** That time, s. */
    setupSeconds: number;
    exactFlowsAfter: number; datapath: Record<string, number> | null; caching: string;
  };
}

/** A vsctl/appctl runner for the instance topo-vswitch.ts started in `dir`. */
function instanceTool(root: string, dir: string): (tool: string, ...args: string[]) => string {
  const env: NodeJS.ProcessEnv = { ...process.env, VSWITCH_RUNDIR: join(dir, 'run'), VSWITCH_DBDIR: join(dir, 'db'), VSWITCH_LOGDIR: join(dir, 'log') };
  return (tool, ...args) => {
    const r = run(process.execPath, [join(root, 'bin', `${tool}.js`), ...args], { env });
    if (r.status !== 0) throw new BenchCommandError(tool, args, r);
    return r.stdout;
  };
}

async function waitUp(ctrl: Controller, ms: number): Promise<SwitchSession> {
  const t0 = Date.now();
  for (;;) {
    const s = ctrl.switches()[0];
    if (s !== undefined && s.state === 'up') return s;
    if (Date.now() - t0 > ms) throw new Error(`vswitchd did not connect to the controller within ${ms} ms`);
    await sleep(50);
  }
}

function portOf(sw: SwitchSession, name: string): number {
  const n = sw.names.number(name);
  if (n === undefined) throw new Error(`the switch reports no port ${name} (ports: ${[...sw.ports.values()].map((p) => p.name).join(', ')})`);
  return n;
}

async function resetFlows(sw: SwitchSession, ...flows: string[]): Promise<void> {
  const f = await sw.flowMods([{ command: 'delete', flow: '' }, ...flows.map((flow) => ({ flow }))], 60000);
  if (f.length) throw new Error(`flow mod refused: ${f[0].flow}: ${f[0].error.message}`);
}

async function flowModRate(sw: SwitchSession, total: number): Promise<Record<string, number>> {
  const models: FlowMod[] = [];
  for (let i = 0; i < total; i++) {
    const fm = newFlowMod('add');
    fm.priority = 100;
    fm.match.setFieldNum(F_IN_PORT, 1 + (i % 2));
    fm.match.setFieldNum(F_ETH_DST, 0x020000000000 + i);
    fm.actions = [{ type: 'output', port: 2 - (i % 2) }];
    models.push(fm);
  }
  const out: Record<string, number> = {};
  // Warm-up (untimed): both ends' code paths compiled, the table's structures grown once.
  await resetFlows(sw);
  for (let i = 0; i < Math.min(total, 5000); i += 500) await sw.flowMods(models.slice(i, i + 500).map((flow) => ({ flow })), 60000);
  for (const batch of [1000, 100]) {
    await resetFlows(sw);
    const t0 = performance.now();
    for (let i = 0; i < total; i += batch) {
      const f = await sw.flowMods(models.slice(i, i + batch).map((flow) => ({ flow })), 60000);
      if (f.length) throw new Error(`flow mods refused: ${f[0].error.message}`);
    }
    out[`batch${batch}_barrier_each`] = Math.round(total / ((performance.now() - t0) / 1000));
    const agg = await sw.aggregateStats('', 60000);
    if (agg.flows !== total) throw new Error(`after ${total} flow mods the switch has ${agg.flows} flows`);
  }
  await resetFlows(sw);
  const t0 = performance.now();
  for (const fm of models) sw.addFlow(fm);
  await sw.barrier(120000);
  out.pipelined_one_barrier = Math.round(total / ((performance.now() - t0) / 1000));
  const agg = await sw.aggregateStats('', 60000);
  if (agg.flows !== total) throw new Error(`after ${total} pipelined flow mods the switch has ${agg.flows} flows`);
  await resetFlows(sw);
  return out;
}

async function udprr(topo: Topology, udprrBin: string, count: number): Promise<Summary & { lost: number }> {
  const [h1, h2] = topo.hosts;
  const server = start('ip', nsArgs(h2.ns, udprrBin, ['server', RR_PORT]));
  try {
    await waitForLine(server, (l) => l === 'ready', 5000, 'udprr server');
    const args = ['client', h2.ip, RR_PORT, String(count), '50', '30'];
    const r = await runAsync('ip', nsArgs(h1.ns, udprrBin, args), { timeoutMs: 60000 });
    if (r.status !== 0) throw new BenchCommandError('udprr', args, r);
    const rr = parseUdprr(r.stdout);
    const s = summarize(rr.samplesUs);
    if (s.count === 0) throw new BenchCommandError('udprr', args, { ...r, stderr: `no answers (${rr.lost} lost)` });
    return { ...s, lost: rr.lost };
  } finally {
    if (server.exitCode === null) server.kill('SIGKILL');
  }
}

/** Builds the instance, connects the controller and measures; the caller runs the teardowns. */
export async function benchRealSwitch(root: string, tmp: string, opts: { quick: boolean }): Promise<RealSwitchFigures> {
  const names = makeNames();
  const tools = buildGenTools(root, tmp);
  const topo = await buildVswitch('tap', names, { root, tmp });
  const br = String(topo.info.bridge);
  const tool = instanceTool(root, String(topo.info.instance));
  const app = new BenchRelayApp();
  const ctrl = new Controller({ targets: [{ kind: 'tcp', port: 0, host: '127.0.0.1' }], apps: [{ app }], log: pino({ level: 'silent' }), probeIntervalMs: 0 });
  await ctrl.start();
  onTeardown('bench controller', () => ctrl.stop());
  tool('vsctl', 'set-fail-mode', br, 'secure');
  tool('vsctl', 'set-controller', br, `tcp:127.0.0.1:${ctrl.tcpPorts[0]}`);
  const sw = await waitUp(ctrl, 20000);
  const [h1, h2] = topo.hosts;
  app.setPorts(portOf(sw, names.dev('a', 't1')), portOf(sw, names.dev('a', 't2')));

  // (a) flow mods.
  const total = opts.quick ? 10000 : 50000;
  const fm = await flowModRate(sw, total);

  // (b) packet-in → packet-out round trips, and the same through flows.
  const rrCount = opts.quick ? 500 : 2000;
  app.mode = 'relay';
  await resetFlows(sw, 'priority=0,actions=CONTROLLER:65535');
  app.resetCounts();
  const viaController = await udprr(topo, tools.udprr, rrCount);
  const packetIns = app.packetIns;
  await resetFlows(sw, 'priority=0,actions=NORMAL');
  const viaFlows = await udprr(topo, tools.udprr, rrCount);

  // (c) new flows decided by the controller.
  app.mode = 'exact';
  await resetFlows(sw, 'priority=0,actions=CONTROLLER:65535');
  const caching = await topo.beforeNewFlows();
  // ARP both ways first so the flood is only UDP (the relay answers ARP too).
  await runAsync('ip', nsArgs(h1.ns, 'ping', ['-c', '1', '-W', '2', h2.ip]), { timeoutMs: 10000 });
  await sleep(300);
  app.resetCounts();
  const dp0 = await topo.datapathStats();
  const rx0 = linkStats(h2).rxPackets;
  const t0 = performance.now();
  const b = await blast(topo, tools, opts.quick ? 1 : 2, true);
  const dp1 = await topo.datapathStats();
  const nf = { packetIns: app.packetIns, flowMods: app.flowMods, packetOuts: app.packetOuts };
  // What the upcall queues, vswitchd and the controller still hold: wait until the app has
  // sent no flow mod for 500 ms (at most 30 s).
  let last = app.flowMods;
  let lastAt = performance.now();
  while (performance.now() - lastAt < 500 && performance.now() - t0 < 30000) {
    await sleep(50);
    if (app.flowMods !== last) {
      last = app.flowMods;
      lastAt = performance.now();
    }
  }
  const setupSeconds = (lastAt - t0) / 1000;
  app.mode = 'off';
  await sw.barrier(60000);
  const receivedSettled = linkStats(h2).rxPackets - rx0;
  const exactFlowsAfter = (await sw.aggregateStats('udp', 60000)).flows;
  tool('appctl', 'upcall/enable-megaflows');
  await resetFlows(sw);

  return {
    bridge: br,
    names_suffix: names.suffix,
    flow_mods_per_sec: fm,
    flow_mods_total: total,
    packet_in_rtt_us: {
      via_controller: viaController, via_flows: viaFlows, packet_ins: packetIns,
      added_per_trip_p50: (viaController.p50 - viaFlows.p50) / 2, added_per_trip_mean: (viaController.mean - viaFlows.mean) / 2,
    },
    new_flows_per_sec: {
      perSec: Math.round(b.received / b.seconds), sent: b.sent, received: b.received, seconds: b.seconds, ...nf, exactFlowsAfter, caching,
      receivedSettled, flowsSetUpPerSec: Math.round(last / setupSeconds), setupSeconds,
      datapath: dp0 && dp1 ? { missed: dp1.missed - dp0.missed, lost: dp1.lost - dp0.lost, hit: dp1.hit - dp0.hit, flowsAfter: dp1.flows } : null,
    },
  };
}
