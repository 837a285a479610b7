/*
 * The OpenFlow pipeline end to end without root: vsdb, the Datapath (dummy ports: frames are
 * injected and read back) and vswitchd in-process. Flow mods go straight to the bridge's tables
 * (what the flow-protocol server does). Checks that a flow change reaches cached datapath flows
 * at once, that rule counters are credited with cached traffic, timeouts with flow_removed,
 * controller actions as packet_in events, packet-out, field rewrites through the datapath with
 * correct checksums, and ofproto/trace.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Datapath } from '../../../src/datapath/datapath.js';
import { DummyNetdev } from '../../../src/datapath/netdev-dummy.js';
import { inetChecksum, ipv4Frame } from '../../../src/lib/packet.js';
import { VsdbClient } from '../../../src/ovsdb/client.js';
import { namedUuid, set } from '../../../src/ovsdb/datum.js';
import { defaultSchemaPath, startVsdbServer, type RunningVsdb } from '../../../src/ovsdb/main.js';
import type { Bridge, FlowRemovedEvent, PacketInEvent } from '../../../src/vswitchd/bridge.js';
import { OFPR_ACTION } from '../../../src/vswitchd/ofp/actions.js';
import { OFPRR_HARD_TIMEOUT, OFPRR_IDLE_TIMEOUT } from '../../../src/vswitchd/ofp/flow-table.js';
import { parseFlow } from '../../../src/vswitchd/ofp/flow-syntax.js';
import { OFPP_CONTROLLER } from '../../../src/vswitchd/ofp/layout.js';
import { executeActions } from '../../../src/vswitchd/packet-out.js';
import { udpifOf } from '../../../src/vswitchd/udpif.js';
import { Vswitchd } from '../../../src/vswitchd/vswitchd.js';

const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const MAC1 = '02:00:00:00:00:01';
const MAC2 = '02:00:00:00:00:02';
/** A UDP frame h1 -> h2 whose payload starts with `id`. */
function udp(id: number, dport = 5000, dst = '10.0.0.2'): Uint8Array {
  return ipv4Frame({ src: MAC1, dst: MAC2 }, { src: '10.0.0.1', dst }, { udp: { src: 4000, dst: dport } }, Uint8Array.of(id, 1, 2, 3, 4, 5, 6));
}
function tcp(id: number): Uint8Array {
  return ipv4Frame({ src: MAC1, dst: MAC2 }, { src: '10.0.0.1', dst: '10.0.0.2' }, { tcp: { src: 40000, dst: 80 } }, Uint8Array.of(id, 9, 9, 9, 9));
}
const rd16 = (b: Uint8Array, p: number): number => (b[p] << 8) | b[p + 1];

describe('OpenFlow tables driving the datapath', () => {
  let dir: string;
  let vsdb: RunningVsdb;
  let dp: Datapath;
  let vs: Vswitchd;
  let db: VsdbClient;
  let br: Bridge;
  const dev = (name: string): DummyNetdev => dp.ports.byNameGet(name)!.netdev as DummyNetdev;
  const take = (name: string): Uint8Array[] => dev(name).sent.splice(0);
  const ofport = (name: string): number => br.portByName(name)!.ofport;
  /** A flow mod, then the revalidation it starts (as a barrier after it would wait for). */
  const flow = async (s: string): Promise<void> => {
    br.tables.apply(parseFlow(s.replace(/\$(p\d)/g, (_, p: string) => String(ofport(p)))));
    await udpifOf(vs.state).settle!();
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vswitchd-of-'));
    const dbSock = join(dir, 'db.sock');
    vsdb = await startVsdbServer({
      dbFile: join(dir, 'conf.db'), remotes: [`punix:${dbSock}`], schemaFile: defaultSchemaPath(), unixctl: join(dir, 'vsdb-server.ctl'),
      pidfile: null, fsync: false, log,
    });
    let n = 0;
    dp = new Datapath({ socketPath: join(dir, 'datapath.sock'), log, openNetdev: (name) => new DummyNetdev(name, { mac: `02:aa:00:00:00:${(++n).toString(16).padStart(2, '0')}` }) });
    await dp.start();
    db = await VsdbClient.connect(dbSock);
    vs = await Vswitchd.start({ dbSock, dpSock: join(dir, 'datapath.sock'), log, connectTimeoutMs: 5000, revalidateIntervalMs: 200 });
    const ifaces = ['br0', 'p1', 'p2', 'p3'];
    const ops: object[] = [];
    for (const name of ifaces) {
      ops.push({ op: 'insert', table: 'Interface', row: { name, type: name === 'br0' ? 'internal' : 'tap' }, 'uuid-name': `i_${name}` });
      ops.push({ op: 'insert', table: 'Port', row: { name, interfaces: namedUuid(`i_${name}`) }, 'uuid-name': `p_${name}` });
    }
    ops.push({ op: 'insert', table: 'Bridge', row: { name: 'br0', ports: set(ifaces.map((x) => namedUuid(`p_${x}`))) }, 'uuid-name': 'br' });
    const row = (await db.transact('Open_vSwitch', [{ op: 'select', table: 'Open_vSwitch', where: [] }]))[0].rows[0];
    ops.push({ op: 'mutate', table: 'Open_vSwitch', where: [['_uuid', '==', row._uuid]], mutations: [['bridges', 'insert', set([namedUuid('br')])]] });
    ops.push({ op: 'update', table: 'Open_vSwitch', where: [['_uuid', '==', row._uuid]], row: { next_cfg: row.next_cfg + 1 } });
    await db.transact('Open_vSwitch', ops);
    await until('bridge', () => vs.state.bridges.get('br0')?.portByName('p3') !== undefined);
    br = vs.state.bridges.get('br0')!;
  });

  afterAll(async () => {
    await vs?.stop();
    db?.close();
    await dp?.stop();
    await vsdb?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stops forwarding at once when a higher-priority drop rule arrives, with traffic running', async () => {
    await flow('priority=10,in_port=$p1,udp,actions=output:$p2');
    await vs.revalidator.run();
    for (const p of ['p1', 'p2', 'p3', 'br0']) take(p);
    // Traffic running: the first frame misses, the rest hit the cached flow.
    for (let i = 0; i < 20; i++) {
      dev('p1').inject(udp(i));
      await sleep(2);
    }
    await until('forwarded', () => dev('p2').sent.length === 20);
    const upcalls = vs.state.counters.upcalls;
    br.tables.apply(parseFlow(`priority=100,in_port=${ofport('p1')},udp,actions=drop`));
    // No revalidation is waited for explicitly: the table change itself wakes it.
    let sentAfter = -1;
    let i = 100;
    await until('drop takes effect', async () => {
      dev('p1').inject(udp(i++));
      await sleep(5);
      const n = take('p2').length;
      if (n === 0 && sentAfter < 0) sentAfter = i;
      return n === 0;
    }, 2000);
    // It stays stopped, and the cached flow (not upcalls) does the dropping.
    const up2 = vs.state.counters.upcalls;
    for (let k = 0; k < 10; k++) dev('p1').inject(udp(200 + k));
    await sleep(50);
    expect(take('p2')).toEqual([]);
    expect(vs.state.counters.upcalls - up2).toBeLessThanOrEqual(1);
    expect(vs.state.counters.upcalls - upcalls).toBeLessThan(20);
    br.tables.apply(parseFlow('priority=100,in_port=1,udp', { command: 'delete_strict' }));
    // Matching again once the drop rule is gone.
    await until('forwarding again', async () => {
      dev('p1').inject(udp(250));
      await sleep(5);
      return take('p2').length > 0;
    }, 2000);
  });

  it('credits rule counters with the traffic of cached datapath flows', async () => {
    await flow('priority=20,in_port=$p1,udp,tp_dst=7000,actions=output:$p3');
    const e = br.tables.select({ table: 0, match: parseFlow('udp,tp_dst=7000', { command: 'dump' }).match })[0];
    for (let i = 0; i < 30; i++) dev('p1').inject(udp(i, 7000));
    await until('delivered', () => dev('p3').sent.length >= 30);
    take('p3');
    await vs.revalidator.run();
    expect(e.packets).toBe(30);
    expect(e.bytes).toBe(30 * udp(0, 7000).length);
    const dump = await vs.appctl.run('ofctl/dump-flows', ['br0', 'udp,tp_dst=7000']);
    expect(dump).toMatch(/n_packets=30, n_bytes=\d+, priority=20,udp,in_port=1,tp_dst=7000 actions=output:3/);
  });

  it('times out entries (hard and idle) and reports send_flow_rem ones as flow_removed', async () => {
    const removed: FlowRemovedEvent[] = [];
    const onRem = (ev: FlowRemovedEvent): void => void removed.push(ev);
    br.events.on('flow_removed', onRem);
    try {
      await flow('priority=30,in_port=$p1,udp,tp_dst=7100,hard_timeout=1,send_flow_rem,actions=output:$p3');
      await flow('priority=30,in_port=$p1,udp,tp_dst=7200,idle_timeout=1,send_flow_rem,actions=output:$p3');
      await flow('priority=30,in_port=$p1,udp,tp_dst=7300,hard_timeout=1,actions=output:$p3');
      const start = Date.now();
      // Keep the idle one busy for 2.2 s: it must outlive its 1 s idle timeout.
      while (Date.now() - start < 2200) {
        dev('p1').inject(udp(1, 7200));
        await sleep(50);
      }
      expect(removed.map((r) => [r.entry.priority, r.reason])).toEqual([[30, OFPRR_HARD_TIMEOUT]]);
      expect(removed[0].at - removed[0].entry.created).toBeGreaterThanOrEqual(1000);
      expect(removed[0].at - removed[0].entry.created).toBeLessThan(2000);
      expect(br.tables.select({ table: 0, match: parseFlow('udp,tp_dst=7300', { command: 'dump' }).match })).toEqual([]);
      await until('idle timeout', () => removed.length === 2, 4000);
      expect(removed[1].reason).toBe(OFPRR_IDLE_TIMEOUT);
      expect(removed[1].entry.packets).toBeGreaterThan(30);
    } finally {
      br.events.off('flow_removed', onRem);
    }
  });

  it('sends controller actions up as packet_in events, whole, with the action\'s max_len', async () => {
    const ins: PacketInEvent[] = [];
    const onIn = (ev: PacketInEvent): void => void ins.push(ev);
    br.events.on('packet_in', onIn);
    try {
      await flow('table=0,priority=40,in_port=$p1,udp,tp_dst=7400,actions=load:0x7->NXM_NX_REG1[],goto_table:3');
      await flow('table=3,priority=1,cookie=0x99,actions=controller(max_len=20),output:$p2');
      take('p2');
      const f = udp(3, 7400);
      for (let i = 0; i < 3; i++) dev('p1').inject(f);
      await until('packet_ins', () => ins.length === 3);
      expect(ins[0]).toMatchObject({ reason: OFPR_ACTION, table: 3, cookie: 0x99n, inPort: ofport('p1'), totalLen: f.length });
      // The whole frame reaches vswitchd; each controller connection cuts it to 20 bytes and
      // buffers it (test/unit/vswitchd/controller-packet-in.test.ts).
      expect(Array.from(ins[2].packet)).toEqual(Array.from(f));
      expect(ins[2].maxLen).toBe(20);
      expect(ins[1].flow[26 + 1]).toBe(7); // reg1
      await until('forwarded too', () => dev('p2').sent.length === 3);
    } finally {
      br.events.off('packet_in', onIn);
    }
  });

  it('executes packet-outs: an action list, and output:TABLE through the tables', async () => {
    take('p3');
    take('p2');
    executeActions(vs.state, br, OFPP_CONTROLLER, [{ type: 'output', port: ofport('p3') }], udp(77));
    await until('packet-out', () => dev('p3').sent.length === 1);
    expect(take('p3')[0][42]).toBe(77);
    executeActions(vs.state, br, ofport('p1'), [{ type: 'output', port: 0xfff9 }], udp(78, 7000));
    await until('through table 0', () => dev('p3').sent.length === 1);
    expect(() => executeActions(vs.state, br, 1, [], new Uint8Array(5))).toThrow(/shorter than an Ethernet header/);
  });

  it('rewrites addresses and ports in the datapath with correct checksums, first packet and cached ones', async () => {
    await flow('priority=50,in_port=$p1,tcp,tp_dst=80,actions=mod_nw_dst:10.9.9.9,mod_tp_dst:8080,dec_ttl,output:$p2');
    take('p2');
    for (let i = 0; i < 5; i++) {
      dev('p1').inject(tcp(i));
      await sleep(5);
    }
    await until('rewritten frames', () => dev('p2').sent.length === 5);
    for (const f of take('p2')) {
      expect(Array.from(f.subarray(30, 34))).toEqual([10, 9, 9, 9]);
      expect(rd16(f, 36)).toBe(8080);
      expect(f[22]).toBe(63);
      expect(inetChecksum(f.subarray(14, 34))).toBe(0);
      const pseudo = new Uint8Array(12);
      pseudo.set(f.subarray(26, 34));
      pseudo[9] = 6;
      pseudo[11] = f.length - 34;
      expect(inetChecksum(pseudo, f.subarray(34))).toBe(0);
    }
    const dpFlows = await vs.appctl.run('dpif/dump-flows', ['br0']);
    expect(dpFlows).toMatch(/actions:set\(ipv4\(dst=10\.9\.9\.9,ttl=63\)\),set\(tcp\(dst=8080\)\),p2/);
  });

  it('installs exact-match flows while megaflows are disabled, as OVS does', async () => {
    expect(await vs.appctl.run('upcall/disable-megaflows', [])).toBe('megaflows disabled\n');
    expect(await vs.appctl.run('upcall/show', [])).toMatch(/megaflows {5}: disabled/);
    take('p3');
    dev('p1').inject(udp(1, 7000));
    await until('delivered', () => dev('p3').sent.length === 1);
    const flows = await vs.datapath!.dumpAll();
    expect(flows.length).toBe(1);
    expect(flows[0].mask.every((m) => m === 0xffffffff)).toBe(true);
    expect(await vs.appctl.run('upcall/enable-megaflows', [])).toBe('megaflows enabled\n');
    dev('p1').inject(udp(2, 7000));
    await until('delivered again', () => dev('p3').sent.length === 2);
    const again = await vs.datapath!.dumpAll();
    expect(again.length).toBe(1);
    expect(again[0].mask[14]).toBe(0xffff); // tp_dst, not every bit
  });

  it('shows the MAC table statistics and memory use', async () => {
    expect(await vs.appctl.run('fdb/stats-show', ['br0'])).toMatch(/^Statistics for bridge "br0":\n {2}Current\/maximum MAC entries in the table: \d+\/8192\n/);
    expect(await vs.appctl.run('memory/show', [])).toMatch(/^handlers:1 ports:4 revalidators:1 rules:\d+ udpif keys:\d+ mac entries:\d+\nrss:\d+kB/);
  });

  it('traces a packet through the tables as ofproto/trace', async () => {
    const out = await vs.appctl.run('ofproto/trace', ['br0', 'in_port=p1,tcp,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_dst=80,nw_ttl=64']);
    expect(out).toBe(
      'Flow: tcp,in_port=1,vlan_tci=0x0000,dl_src=00:00:00:00:00:00,dl_dst=00:00:00:00:00:00,nw_src=10.0.0.1,nw_dst=10.0.0.2,nw_tos=0,nw_ecn=0,nw_ttl=64,nw_frag=no,tp_src=0,tp_dst=80\n' +
      '\n' +
      'bridge("br0")\n' +
      '-------------\n' +
      ' 0. tcp,in_port=1,tp_dst=80, priority 50\n' +
      '    mod_nw_dst:10.9.9.9\n' +
      '    mod_tp_dst:8080\n' +
      '    dec_ttl\n' +
      '    output:2\n' +
      '\n' +
      'Final flow: tcp,in_port=1,vlan_tci=0x0000,dl_src=00:00:00:00:00:00,dl_dst=00:00:00:00:00:00,nw_src=10.0.0.1,nw_dst=10.9.9.9,nw_tos=0,nw_ecn=0,nw_ttl=63,nw_frag=no,tp_src=0,tp_dst=8080\n' +
      'Megaflow: recirc_id=0,eth,tcp,in_port=1,nw_ttl=64,nw_frag=no,tp_dst=80\n' +
      `Datapath actions: set(ipv4(dst=10.9.9.9,ttl=63)),set(tcp(dst=8080)),${br.portByName('p2')!.odpPort}\n`,
    );
  });
});
