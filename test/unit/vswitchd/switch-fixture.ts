// A whole switch in-process for the flow-protocol and ofctl tests: the real vsdb server, the real
// Datapath (every port a dummy netdev, so frames are injected and read back in memory) and
// vswitchd, all in a temporary VSWITCH_RUNDIR, with bridge br0 (ports br0 = LOCAL, p1, p2).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Datapath } from '../../../src/datapath/datapath.js';
import { DummyNetdev } from '../../../src/datapath/netdev-dummy.js';
import { VsdbClient } from '../../../src/ovsdb/client.js';
import { namedUuid, set } from '../../../src/ovsdb/datum.js';
import { defaultSchemaPath, startVsdbServer, type RunningVsdb } from '../../../src/ovsdb/main.js';
import type { Bridge } from '../../../src/vswitchd/bridge.js';
import { Vswitchd } from '../../../src/vswitchd/vswitchd.js';

const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

export async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A 60-byte frame dst <- src with ethertype `type` (an IPv4 header when 0x0800). */
export function frame(dst: string, src: string, type = 0x88b5, len = 60): Uint8Array {
  const f = new Uint8Array(len);
  f.set(dst.split(':').map((h) => parseInt(h, 16)), 0);
  f.set(src.split(':').map((h) => parseInt(h, 16)), 6);
  f[12] = type >> 8;
  f[13] = type & 0xff;
  if (type === 0x0800) {
    f.set([0x45, 0, 0, len - 14, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2], 14); // UDP 10.0.0.1 -> 10.0.0.2
    f.set([0x30, 0x39, 0x00, 0x50, 0, len - 34, 0, 0], 34);
  }
  return f;
}

export class SwitchFixture {
  dir = '';
  vsdb!: RunningVsdb;
  dp!: Datapath;
  vs!: Vswitchd;
  db!: VsdbClient;

  get env(): NodeJS.ProcessEnv {
    return { VSWITCH_RUNDIR: this.dir, VSWITCH_LOGDIR: join(this.dir, 'log') };
  }

  mgmt(bridge = 'br0'): string {
    return join(this.dir, `${bridge}.mgmt`);
  }

  bridge(name = 'br0'): Bridge {
    const br = this.vs.state.bridges.get(name);
    if (!br) throw new Error(`no bridge ${name}`);
    return br;
  }

  dev(name: string): DummyNetdev {
    return this.dp.ports.byNameGet(name)!.netdev as DummyNetdev;
  }

  async start(prefix: string): Promise<this> {
    this.dir = mkdtempSync(join(tmpdir(), prefix));
    this.vsdb = await startVsdbServer({
      dbFile: join(this.dir, 'conf.db'), remotes: [`punix:${join(this.dir, 'db.sock')}`], schemaFile: defaultSchemaPath(),
      unixctl: join(this.dir, 'vsdb-server.ctl'), pidfile: null, fsync: false, log,
    });
    let n = 0;
    this.dp = new Datapath({
      socketPath: join(this.dir, 'datapath.sock'), log,
      openNetdev: (name) => new DummyNetdev(name, { mac: `02:aa:00:00:00:${(++n).toString(16).padStart(2, '0')}` }),
    });
    await this.dp.start();
    this.db = await VsdbClient.connect(join(this.dir, 'db.sock'));
    this.vs = await Vswitchd.start({
      dbSock: join(this.dir, 'db.sock'), dpSock: join(this.dir, 'datapath.sock'), ctlSock: join(this.dir, 'vswitchd.ctl'), log, connectTimeoutMs: 5000,
    });
    await this.addBridge('br0', ['p1', 'p2']);
    return this;
  }

  async ovsRow(): Promise<any> {
    return (await this.db.transact('Open_vSwitch', [{ op: 'select', table: 'Open_vSwitch', where: [] }]))[0].rows[0];
  }

  /** Runs ops plus a next_cfg bump and waits until vswitchd has applied them. */
  async configure(ops: object[]): Promise<void> {
    const row = await this.ovsRow();
    const next = row.next_cfg + 1;
    await this.db.transact('Open_vSwitch', [...ops, { op: 'update', table: 'Open_vSwitch', where: [['_uuid', '==', row._uuid]], row: { next_cfg: next } }]);
    await until('cur_cfg', async () => (await this.ovsRow()).cur_cfg === next);
  }

  async addBridge(name: string, ports: string[]): Promise<void> {
    const ops: object[] = [];
    for (const p of [name, ...ports]) {
      ops.push({ op: 'insert', table: 'Interface', row: { name: p, type: p === name ? 'internal' : 'tap' }, 'uuid-name': `i_${p}` });
      ops.push({ op: 'insert', table: 'Port', row: { name: p, interfaces: namedUuid(`i_${p}`) }, 'uuid-name': `p_${p}` });
    }
    ops.push({ op: 'insert', table: 'Bridge', row: { name, ports: set([name, ...ports].map((p) => namedUuid(`p_${p}`))) }, 'uuid-name': 'br' });
    const row = await this.ovsRow();
    ops.push({ op: 'mutate', table: 'Open_vSwitch', where: [['_uuid', '==', row._uuid]], mutations: [['bridges', 'insert', set([namedUuid('br')])]] });
    await this.configure(ops);
  }

  async addPort(bridge: string, name: string): Promise<void> {
    const br = (await this.db.transact('Open_vSwitch', [{ op: 'select', table: 'Bridge', where: [['name', '==', bridge]] }]))[0].rows[0];
    await this.configure([
      { op: 'insert', table: 'Interface', row: { name, type: 'tap' }, 'uuid-name': 'i' },
      { op: 'insert', table: 'Port', row: { name, interfaces: namedUuid('i') }, 'uuid-name': 'p' },
      { op: 'mutate', table: 'Bridge', where: [['_uuid', '==', br._uuid]], mutations: [['ports', 'insert', set([namedUuid('p')])]] },
    ]);
  }

  async delPort(bridge: string, name: string): Promise<void> {
    const br = (await this.db.transact('Open_vSwitch', [{ op: 'select', table: 'Bridge', where: [['name', '==', bridge]] }]))[0].rows[0];
    const port = (await this.db.transact('Open_vSwitch', [{ op: 'select', table: 'Port', where: [['name', '==', name]] }]))[0].rows[0];
    await this.configure([{ op: 'mutate', table: 'Bridge', where: [['_uuid', '==', br._uuid]], mutations: [['ports', 'delete', port._uuid]] }]);
  }

  async delBridge(name: string): Promise<void> {
    const rows = (await this.db.transact('Open_vSwitch', [{ op: 'select', table: 'Bridge', where: [['name', '==', name]] }]))[0].rows;
    const row = await this.ovsRow();
    await this.configure([{ op: 'mutate', table: 'Open_vSwitch', where: [['_uuid', '==', row._uuid]], mutations: [['bridges', 'delete', rows[0]._uuid]] }]);
  }

  async stop(): Promise<void> {
    await this.vs?.stop();
    this.db?.close();
    await this.dp?.stop();
    await this.vsdb?.stop();
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}
