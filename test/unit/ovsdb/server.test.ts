import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import pino from 'pino';
import { startVsdbServer, defaultSchemaPath, type RunningVsdb, type VsdbServerConfig } from '../../../src/ovsdb/main.js';
import { TransactError, VsdbClient, type TableUpdates } from '../../../src/ovsdb/client.js';
import { Idl } from '../../../src/ovsdb/idl.js';
import { atoms, mapOf, scalar, uuidStr } from '../../../src/ovsdb/datum.js';
import { connectUnix, RpcError } from '../../../src/lib/jsonrpc.js';
import { addBridgeOps } from './helpers.js';

const DB = 'Open_vSwitch';

function until<T>(f: () => T | undefined, ms = 2000): Promise<T> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const tick = () => {
      const v = f();
      if (v !== undefined && v !== false) return resolve(v);
      if (Date.now() - start > ms) return reject(new Error('condition not met in time'));
      setTimeout(tick, 5);
    };
    tick();
  });
}

describe('vsdb server end to end (in process, temp dir socket)', () => {
  let dir: string;
  let cfg: VsdbServerConfig;
  let server: RunningVsdb;
  const closers: (() => void)[] = [];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vsdb-e2e-'));
    cfg = {
      dbFile: join(dir, 'conf.db'),
      remotes: [`punix:${join(dir, 'db.sock')}`],
      schemaFile: defaultSchemaPath(),
      unixctl: join(dir, 'vsdb-server.ctl'),
      pidfile: join(dir, 'vsdb-server.pid'),
      fsync: true,
      log: pino({ level: 'silent' }),
    };
    server = await startVsdbServer(cfg);
  });

  afterEach(async () => {
    for (const c of closers.splice(0)) c();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const sock = () => join(dir, 'db.sock');
  async function client(): Promise<VsdbClient> {
    const c = await VsdbClient.connect(sock(), 1000);
    closers.push(() => c.close());
    return c;
  }

  it('writes the pidfile once listening and answers the basic methods', async () => {
    expect(readFileSync(cfg.pidfile!, 'utf8').trim()).toBe(String(process.pid));
    const c = await client();
    expect(await c.listDbs()).toEqual([DB]);
    expect((await c.getSchema(DB)).tables.Bridge.indexes).toEqual([['name']]);
    await c.echo();
    const e = await c.getSchema('nope').catch((x) => x);
    expect(e).toBeInstanceOf(RpcError);
    expect(e.error.error).toBe('unknown database');
  });

  it('keeps an Idl replica current, and a client sees its own change before the reply', async () => {
    const idl = await Idl.open(sock(), DB, { Open_vSwitch: null, Bridge: ['name', 'ports', 'fail_mode'], Port: null, Interface: ['name', 'type'] });
    closers.push(() => idl.close());
    expect(idl.rows('Open_vSwitch').size).toBe(1);
    const root = [...idl.rows('Open_vSwitch').values()][0];
    expect(root.next_cfg).toBe(0);
    const seen: TableUpdates[] = [];
    idl.onChange((u) => seen.push(u));

    const r = await idl.client.transact(DB, addBridgeOps('br0'));
    // Same connection: the update notification came before the reply.
    expect(seen).toHaveLength(1);
    const br = idl.get('Bridge', uuidStr(r[2].uuid))!;
    expect(br.name).toBe('br0');
    expect(br._uuid).toBe(r[2].uuid[1]);
    expect(atoms(br.ports).map(uuidStr)).toEqual([r[1].uuid[1]]);
    expect(br.other_config).toBeUndefined();
    const iface = idl.get('Interface', r[0].uuid[1])!;
    expect(iface.type).toBe('internal');
    expect(atoms([...idl.rows('Open_vSwitch').values()][0].bridges).map(uuidStr)).toEqual([r[2].uuid[1]]);

    // A change from another client reaches the replica as a modify that merges columns.
    const other = await client();
    await other.transact(DB, [{ op: 'update', table: 'Bridge', where: [['name', '==', 'br0']], row: { fail_mode: 'secure' } }]);
    await until(() => scalar(idl.get('Bridge', r[2].uuid[1])!.fail_mode) === 'secure');
    expect(idl.get('Bridge', r[2].uuid[1])!.name).toBe('br0');

    await other.transact(DB, [{ op: 'update', table: 'Open_vSwitch', where: [], row: { bridges: ['set', []] } }]);
    await until(() => idl.rows('Interface').size === 0 && idl.rows('Bridge').size === 0);
    expect(idl.rows('Port').size).toBe(0);
  });

  it('raises TransactError with a readable message and the raw results', async () => {
    const c = await client();
    await c.transact(DB, addBridgeOps('br0'));
    const e = await c.transact(DB, addBridgeOps('br0')).catch((x) => x);
    expect(e).toBeInstanceOf(TransactError);
    expect(e.code).toBe('TRANSACT');
    expect(e.message).toMatch(/^constraint violation: .*identical values \("br0"\)/);
    expect(e.results).toHaveLength(5);
    expect(e.index).toBe(4);
    const t = await c.transact(DB, [{ op: 'insert', table: 'Bridge', row: { name: 7 } }]).catch((x) => x);
    expect(t.message).toMatch(/^syntax error: .*expected string/);
    const u = await c.transact(DB, [{ op: 'select', table: 'Nope', where: [] }]).catch((x) => x);
    expect(u.error).toBe('syntax error');
    const bad = await c.transact('nope', []).catch((x) => x);
    expect(bad).toBeInstanceOf(RpcError);
  });

  it('survives malformed input from one client without affecting others', async () => {
    const c = await client();
    const raw = net.createConnection(sock());
    const closed = new Promise((r) => raw.on('close', r));
    raw.on('data', () => undefined);
    raw.write('{"method":"transact","params":["Open_vSwitch",{"op":"insert"');
    raw.write(',"table":"Bridge"}], "id": 1}}}}} not json');
    await closed;
    const raw2 = net.createConnection(sock());
    raw2.write('{"method":"transact","params":"oops","id":2}{"method":"monitor","params":[],"id":3}');
    const replies = await new Promise<string>((r) => raw2.once('data', (d) => r(d.toString())));
    expect(replies).toMatch(/error/);
    raw2.destroy();
    expect(await c.listDbs()).toEqual([DB]);
    const got = await c.transact(DB, [{ op: 'select', table: 'Bridge', where: [] }]);
    expect(got[0].rows).toEqual([]);
  });

  it('monitor with select flags, update notifications and monitor_cancel', async () => {
    const c = await client();
    const updates: TableUpdates[] = [];
    const init = await c.monitor(DB, 'mine', { Bridge: { columns: ['name', 'external_ids'] } }, (u) => updates.push(u));
    expect(init).toEqual({});
    const w = await client();
    const r = await w.transact(DB, addBridgeOps('br0'));
    await until(() => updates.length === 1);
    expect(updates[0]).toEqual({ Bridge: { [r[2].uuid[1]]: { new: { name: 'br0', external_ids: ['map', []] } } } });
    await w.transact(DB, [{ op: 'mutate', table: 'Bridge', where: [], mutations: [['external_ids', 'insert', ['map', [['a', 'b']]]]] }]);
    await until(() => updates.length === 2);
    const mod = updates[1].Bridge[r[2].uuid[1]];
    expect(mod.old).toEqual({ external_ids: ['map', []] });
    expect(mapOf(mod.new!.external_ids)).toEqual(new Map([['a', 'b']]));
    const dup = await c.monitor(DB, 'mine', { Bridge: {} }, () => undefined).catch((x) => x);
    expect(dup.error.error).toBe('duplicate monitor ID');
    await c.monitorCancel('mine');
    await w.transact(DB, [{ op: 'update', table: 'Bridge', where: [], row: { external_ids: ['map', []] } }]);
    await c.echo();
    expect(updates).toHaveLength(2);
    expect((await c.monitorCancel('mine').catch((x) => x)).error.error).toBe('unknown monitor');
    expect((await c.monitor(DB, 'x', { Nope: {} }, () => undefined).catch((x) => x)).error.error).toBe('syntax error');
  });

  it('blocks a wait with a timeout until another client makes it true, or times out', async () => {
    const a = await client();
    const b = await client();
    const waiting = a.transact(DB, [
      { op: 'wait', table: 'Bridge', where: [['name', '==', 'br7']], columns: ['name'], until: '==', rows: [{ name: 'br7' }], timeout: 5000 },
      { op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['next_cfg', '+=', 1]] },
    ]);
    await new Promise((r) => setTimeout(r, 30));
    await b.transact(DB, addBridgeOps('br7'));
    expect(await waiting).toEqual([{}, { count: 1 }]);
    const t0 = Date.now();
    const late = await a
      .transact(DB, [{ op: 'wait', table: 'Bridge', where: [], columns: ['name'], until: '==', rows: [], timeout: 80 }])
      .catch((x) => x);
    expect(late).toBeInstanceOf(TransactError);
    expect(late.error).toBe('timed out');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(75);
  });

  it('serves appctl version and exit on the control socket, cleaning up its files', async () => {
    const ctl = await connectUnix(cfg.unixctl);
    expect(await ctl.request('version', [])).toMatch(/^vsdb-server \(vswitch\) /);
    expect(await ctl.request('memory/show', [])).toMatch(/rows:1/);
    expect((await ctl.request('nope', []).catch((x) => x)).error).toMatch(/not a valid command/);
    expect(await ctl.request('exit', [])).toBe('');
    await server.stopped;
    expect(existsSync(sock())).toBe(false);
    expect(existsSync(cfg.unixctl)).toBe(false);
    expect(existsSync(cfg.pidfile!)).toBe(false);
    ctl.close();
  });
});
