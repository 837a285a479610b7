/*
 * vswitchd end to end without root: the real vsdb server and the real Datapath in-process (its
 * ports are dummy netdevs, so frames are injected and read back in memory) and vswitchd
 * in-process. Configures br0 with three ports through vsdb transactions, then checks NORMAL's
 * flooding, learning, unicast, the revalidator's fix of a cached flooding flow, and a restart.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Datapath } from '../../../src/datapath/datapath.js';
import { DummyNetdev } from '../../../src/datapath/netdev-dummy.js';
import { ACT_OUTPUT } from '../../../src/lib/dpif-proto.js';
import { VsdbClient } from '../../../src/ovsdb/client.js';
import { namedUuid, set, uuid } from '../../../src/ovsdb/datum.js';
import { defaultSchemaPath, startVsdbServer, type RunningVsdb } from '../../../src/ovsdb/main.js';
import { Vswitchd } from '../../../src/vswitchd/vswitchd.js';

const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const MAC = (n: number): number[] => [0x02, 0, 0, 0, 0, n];

/** A 60-byte Ethernet frame (local experimental ethertype) tagged with `id` in its payload. */
function frame(dst: number[], src: number[], id: number): Uint8Array {
  const f = new Uint8Array(60);
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = 0x88;
  f[13] = 0xb5;
  f[14] = id;
  return f;
}
const BCAST = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('vswitchd with vsdb and the datapath', () => {
  let dir: string;
  let vsdb: RunningVsdb;
  let dp: Datapath;
  let vs: Vswitchd | null = null;
  let db: VsdbClient;
  const dbSock = (): string => join(dir, 'db.sock');
  const dpSock = (): string => join(dir, 'datapath.sock');
  const dev = (name: string): DummyNetdev => dp.ports.byNameGet(name)!.netdev as DummyNetdev;
  /** Ids of the test frames each port transmitted since the last call, then clears. */
  const sent = (name: string): number[] => {
    const d = dev(name);
    const ids = d.sent.map((f) => f[14]);
    d.sent.length = 0;
    return ids;
  };
  const ovsRow = async (): Promise<any> =>
    (await db.transact('Open_vSwitch', [{ op: 'select', table: 'Open_vSwitch', where: [] }]))[0].rows[0];
  /** Runs ops plus a next_cfg bump and waits until vswitchd reports cur_cfg caught up. */
  const configure = async (ops: object[]): Promise<void> => {
    const row = await ovsRow();
    const next = row.next_cfg + 1;
    await db.transact('Open_vSwitch', [
      ...ops,
      { op: 'update', table: 'Open_vSwitch', where: [['_uuid', '==', row._uuid]], row: { next_cfg: next } },
    ]);
    await until('cur_cfg', async () => (await ovsRow()).cur_cfg === next);
  };
  const startVs = async (): Promise<Vswitchd> =>
    Vswitchd.start({ dbSock: dbSock(), dpSock: dpSock(), ctlSock: join(dir, 'vswitchd.ctl'), log, connectTimeoutMs: 5000 });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vswitchd-it-'));
    vsdb = await startVsdbServer({
      dbFile: join(dir, 'conf.db'),
      remotes: [`punix:${dbSock()}`],
      schemaFile: defaultSchemaPath(),
      unixctl: join(dir, 'vsdb-server.ctl'),
      pidfile: null,
      fsync: false,
      log,
    });
    let n = 0;
    dp = new Datapath({ socketPath: dpSock(), log, openNetdev: (name) => new DummyNetdev(name, { mac: `02:aa:00:00:00:${(++n).toString(16).padStart(2, '0')}` }) });
    await dp.start();
    db = await VsdbClient.connect(dbSock());
    vs = await startVs();
  });

  afterAll(async () => {
    await vs?.stop();
    db?.close();
    await dp?.stop();
    await vsdb?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates the datapath ports of a bridge configured through vsdb', async () => {
    const ifaces = ['br0', 'p1', 'p2', 'p3', 'bad0'];
    const ops: object[] = [];
    for (const name of ifaces) {
      const type = name === 'br0' ? 'internal' : name === 'bad0' ? 'bogus' : 'tap';
      ops.push({ op: 'insert', table: 'Interface', row: { name, type }, 'uuid-name': `i_${name}` });
      ops.push({ op: 'insert', table: 'Port', row: { name, interfaces: namedUuid(`i_${name}`) }, 'uuid-name': `p_${name}` });
    }
    ops.push({ op: 'insert', table: 'Bridge', row: { name: 'br0', ports: set(ifaces.map((n) => namedUuid(`p_${n}`))) }, 'uuid-name': 'br' });
    const row = await ovsRow();
    ops.push({ op: 'mutate', table: 'Open_vSwitch', where: [['_uuid', '==', row._uuid]], mutations: [['bridges', 'insert', set([namedUuid('br')])]] });
    await configure(ops);

    expect(dp.ports.list().map((p) => p.name).sort()).toEqual(['br0', 'p1', 'p2', 'p3']);
    const rows = (await db.transact('Open_vSwitch', [{ op: 'select', table: 'Interface', where: [], columns: ['name', 'ofport', 'error'] }]))[0].rows;
    const byName = new Map(rows.map((r: any) => [r.name, r]));
    expect((byName.get('br0') as any).ofport).toBe(65534);
    expect([1, 2, 3]).toContain((byName.get('p1') as any).ofport);
    expect((byName.get('bad0') as any).ofport).toBe(-1);
    expect((byName.get('bad0') as any).error).toMatch(/could not open network device bad0 \(unknown type "bogus"; use type=system/);
    const show = await vs!.appctl.run('dpif/show', []);
    expect(show).toMatch(/^netdev@vswitch: hit:\d+ missed:\d+\n {2}br0:\n/);
    expect(show).toContain('    br0 65534/');
    expect(show).toMatch(/ {4}p1 \d+\/\d+: \(tap\)/);
  });

  it('floods before learning, sends unicast after, and never back out the ingress port', async () => {
    for (const p of ['br0', 'p1', 'p2', 'p3']) sent(p);
    // A (on p1) -> B: B unknown, flooded to all other ports.
    dev('p1').inject(frame(MAC(0xb), MAC(0xa), 1));
    await until('flood', () => dev('p3').sent.length > 0 && dev('p2').sent.length > 0 && dev('br0').sent.length > 0);
    expect(sent('p1')).toEqual([]);
    expect(sent('p2')).toEqual([1]);
    expect(sent('p3')).toEqual([1]);
    expect(sent('br0')).toEqual([1]);
    // B (on p2) -> A: A learned on p1, unicast.
    dev('p2').inject(frame(MAC(0xa), MAC(0xb), 2));
    await until('unicast', () => dev('p1').sent.length > 0);
    await new Promise((r) => setTimeout(r, 50));
    expect(sent('p1')).toEqual([2]);
    expect(sent('p2')).toEqual([]);
    expect(sent('p3')).toEqual([]);
    expect(sent('br0')).toEqual([]);
    const fdb = await vs!.appctl.run('fdb/show', ['br0']);
    const lines = fdb.split('\n');
    expect(lines[0]).toBe(' port  VLAN  MAC                Age');
    const p1 = vs!.state.bridges.get('br0')!.portByName('p1')!.ofport;
    const p2 = vs!.state.bridges.get('br0')!.portByName('p2')!.ofport;
    expect(lines).toContain(`${String(p1).padStart(5)}     0  02:00:00:00:00:0a    0`);
    expect(lines).toContain(`${String(p2).padStart(5)}     0  02:00:00:00:00:0b    0`);
    // A frame to a MAC learned on its own ingress port is dropped (and counted).
    dev('p1').inject(frame(MAC(0xa), MAC(0xc), 3));
    await until('drop', () => vs!.state.bridges.get('br0')!.counters.drop_same_port > 0);
  });

  it('revalidation turns the cached flooding flow A->B into unicast once B is learned', async () => {
    await vs!.revalidator.run();
    const br = vs!.state.bridges.get('br0')!;
    const p2odp = br.portByName('p2')!.odpPort;
    const flows = await vs!.datapath!.dumpAll();
    const p1odp = br.portByName('p1')!.odpPort;
    const ab = flows.find((f) => f.key[0] === p1odp && f.key[1] === 0x02000000 && (f.key[2] >>> 16) === 0x000b);
    expect(ab).toBeDefined();
    expect(ab!.actions).toEqual([ACT_OUTPUT, p2odp]);
    expect(ab!.mask[3]).toBe(0xffffffff); // dl_src matched
    expect(ab!.mask[5]).toBe(0); // nw_src wildcarded
    const upcalls = vs!.state.counters.upcalls;
    for (const p of ['br0', 'p1', 'p2', 'p3']) sent(p);
    dev('p1').inject(frame(MAC(0xb), MAC(0xa), 4));
    await until('cached unicast', () => dev('p2').sent.length > 0);
    await new Promise((r) => setTimeout(r, 50));
    expect(sent('p2')).toEqual([4]);
    expect(sent('p3')).toEqual([]);
    expect(sent('br0')).toEqual([]);
    expect(vs!.state.counters.upcalls).toBe(upcalls); // served by the datapath's cache
    expect(vs!.state.counters.flows_modified).toBeGreaterThan(0);
    await vs!.revalidator.run(); // rules are credited with datapath traffic by the revalidator
    const dump = await vs!.appctl.run('ofctl/dump-flows', ['br0']);
    expect(dump).toMatch(/^ cookie=0x0, duration=\d+(\.\d{3})?s, table=0, n_packets=(\d+), n_bytes=(\d+), priority=0 actions=NORMAL\n$/);
    expect(Number(/n_packets=(\d+)/.exec(dump)![1])).toBeGreaterThanOrEqual(4);
    const dpFlows = await vs!.appctl.run('dpif/dump-flows', ['br0']);
    expect(dpFlows).toMatch(/^recirc_id\(0\),in_port\(p1\),eth\(src=02:00:00:00:00:0a,dst=02:00:00:00:00:0b\),eth_type\(0x88b5\), packets:1, .*actions:p2\n/m);
    const ofShow = await vs!.appctl.run('ofctl/show', ['br0']);
    expect(ofShow).toMatch(/^OFPT_FEATURES_REPLY \(xid=0x2\): dpid:0000[0-9a-f]{12}\n/);
    expect(ofShow).toMatch(new RegExp(` ${br.portByName('p1')!.ofport}\\(p1\\): addr:02:aa:00:00:00:[0-9a-f]{2}\n`));
    expect(ofShow).toContain(' LOCAL(br0): addr:');
    await expect(vs!.appctl.run('ofctl/show', ['br9'])).rejects.toThrow('br9 is not a bridge or a socket');
  });

  it('relearns MACs from cached flows after a restart, without recreating ports', async () => {
    const before = dp.ports.list().map((p) => `${p.portNo}:${p.name}`);
    const devBefore = dev('p1');
    await vs!.stop();
    vs = await startVs();
    expect(dp.ports.list().map((p) => `${p.portNo}:${p.name}`)).toEqual(before);
    expect(dev('p1')).toBe(devBefore);
    const br = vs.state.bridges.get('br0')!;
    expect(br.macs.lookup(0x02000000000a, 0)).toBe(br.portByName('p1')!.ofport);
    expect(br.macs.lookup(0x02000000000b, 0)).toBe(br.portByName('p2')!.ofport);
    await expect(vs.appctl.run('fdb/show', ['br9'])).rejects.toThrow('no such bridge');
  });

  it('removes a port from the datapath when it is removed from the bridge', async () => {
    const rows = (await db.transact('Open_vSwitch', [{ op: 'select', table: 'Port', where: [['name', '==', 'p3']], columns: ['_uuid'] }]))[0].rows;
    const brRow = (await db.transact('Open_vSwitch', [{ op: 'select', table: 'Bridge', where: [['name', '==', 'br0']], columns: ['_uuid'] }]))[0].rows[0];
    await configure([{ op: 'mutate', table: 'Bridge', where: [['_uuid', '==', brRow._uuid]], mutations: [['ports', 'delete', set([uuid(rows[0]._uuid[1])])]] }]);
    expect(dp.ports.byNameGet('p3')).toBeUndefined();
    expect(vs!.state.bridges.get('br0')!.portByName('p3')).toBeUndefined();
  });
});
