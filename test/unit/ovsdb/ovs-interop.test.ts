// Standard OVSDB clients against vsdb, unchanged: Debian's ovsdb-client (and ovs-vsctl) from
// openvswitch-common/-switch run against an in-process server's socket. Skipped, with the reason
// printed, when ovsdb-client is not installed (CI installs openvswitch-switch).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Harness } from './server-harness.js';
import { addBridgeOps, until } from './helpers.js';
import { defaultSchemaPath } from '../../../src/ovsdb/main.js';

const DB = 'Open_vSwitch';
const have = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const HAVE_CLIENT = have('ovsdb-client');
const HAVE_VSCTL = have('ovs-vsctl');
if (!HAVE_CLIENT) console.warn('ovs-interop tests skipped: ovsdb-client not installed (apt-get install openvswitch-switch)');

/** Runs a command without blocking the event loop (the server is in this process). */
function run(cmd: string, args: string[], timeoutMs = 10000): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, env: { ...process.env, OVS_RUNDIR: '/nonexistent' } }, (e, out, err) =>
      resolve({ code: e ? ((e as { code?: number }).code ?? null) : 0, out, err }),
    );
  });
}

describe.skipIf(!HAVE_CLIENT)('ovsdb-client against vsdb', () => {
  let h: Harness;
  let S: string;
  beforeEach(async () => {
    h = new Harness({ fsync: false });
    await h.start();
    S = `unix:${h.sock}`;
  });
  afterEach(() => h.dispose());

  it('list-dbs, get-schema, list-tables, list-columns', async () => {
    expect((await run('ovsdb-client', ['list-dbs', S])).out).toBe('Open_vSwitch\n');
    // ovsdb-client parses and re-serializes the schema (normalized), so compare its shape.
    const schema = JSON.parse((await run('ovsdb-client', ['get-schema', S, DB])).out);
    const ours = JSON.parse(readFileSync(defaultSchemaPath(), 'utf8'));
    const shape = (x: any) => Object.fromEntries(Object.entries(x.tables).map(([t, v]: [string, any]) => [t, Object.keys(v.columns).sort()]));
    expect([schema.name, schema.version]).toEqual([ours.name, ours.version]);
    expect(shape(schema)).toEqual(shape(ours));
    expect((await run('ovsdb-client', ['get-schema-version', S, DB])).out).toBe(`${ours.version}\n`);
    const tables = (await run('ovsdb-client', ['list-tables', S, DB])).out.split('\n');
    expect(tables.slice(0, 2)).toEqual(['Table', '------------']);
    expect(tables).toContain('Bridge');
    const cols = await run('ovsdb-client', ['list-columns', S, DB, 'Bridge']);
    expect(cols.code).toBe(0);
    expect(cols.out).toMatch(/^stp_enable +"boolean"$/m);
  });

  it('transact writes through and dump shows it', async () => {
    const t = await run('ovsdb-client', ['transact', S, JSON.stringify([DB, ...addBridgeOps('brx')])]);
    expect(t.code).toBe(0);
    const res = JSON.parse(t.out);
    expect(res).toHaveLength(4);
    expect(res[2].uuid[0]).toBe('uuid');
    const c = await h.client();
    const rows = await c.transact(DB, [{ op: 'select', table: 'Bridge', where: [], columns: ['name'] }]);
    expect(rows[0].rows).toEqual([{ name: 'brx' }]);
    const bad = await run('ovsdb-client', ['transact', S, JSON.stringify([DB, { op: 'insert', table: 'Bridge', row: { name: 1 } }])]);
    expect(bad.out).toMatch(/"error":"syntax error"/);
    const dump = await run('ovsdb-client', ['dump', S, DB, 'Bridge']);
    expect(dump.code).toBe(0);
    expect(dump.out.split('\n')[0]).toBe('Bridge table');
    expect(dump.out).toMatch(/^[0-9a-f-]{36} .*\bbrx\b/m);
  });

  async function watch(args: string[], ready: RegExp): Promise<{ out: () => string; stop: () => void }> {
    const k = spawn('ovsdb-client', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    k.stdout.on('data', (d) => (out += d));
    h.defer(() => k.kill('SIGKILL'));
    await until(() => ready.test(out), 5000);
    return { out: () => out, stop: () => k.kill('SIGKILL') };
  }

  it('monitor prints the initial rows and then each change', async () => {
    const c = await h.client();
    await c.transact(DB, addBridgeOps('br0'));
    const m = await watch(['monitor', S, DB, 'Bridge', 'name'], /initial br0/);
    await c.transact(DB, addBridgeOps('br1'));
    await until(() => /insert br1/.test(m.out()), 5000);
    await c.transact(DB, [{ op: 'update', table: 'Open_vSwitch', where: [], row: { bridges: ['set', []] } }]);
    await until(() => /delete br0/.test(m.out()) && /delete br1/.test(m.out()), 5000);
    m.stop();
  });

  it('monitor-cond sees only the rows its condition selects (update2)', async () => {
    const c = await h.client();
    await c.transact(DB, addBridgeOps('br0'));
    await c.transact(DB, addBridgeOps('br1'));
    const m = await watch(['monitor-cond', '--format=json', S, DB, '[["name","==","br1"]]', 'Bridge', 'name,stp_enable'], /headings/);
    // Like ovsdb-server, update2 leaves out columns at their default (stp_enable false).
    expect(m.out()).toMatch(/"initial","br1",null/);
    await c.transact(DB, [{ op: 'update', table: 'Bridge', where: [], row: { stp_enable: true } }]);
    await until(() => /"modify"/.test(m.out()), 5000);
    expect(m.out()).not.toMatch(/br0/);
    m.stop();
  });

  it('monitor-cond-since gets everything (no history) and backup/restore round-trip', async () => {
    const c = await h.client();
    await c.transact(DB, addBridgeOps('br0'));
    const m = await watch(['monitor-cond-since', S, DB, '[]', 'Bridge', 'name'], /initial br0/);
    expect(m.out()).toMatch(/^found: false, last_id: [0-9a-f-]{36}$/m);
    m.stop();
    const backup = await new Promise<Buffer>((res, rej) =>
      execFile('ovsdb-client', ['backup', S, DB], { encoding: 'buffer' }, (e, out) => (e ? rej(e) : res(out))),
    );
    expect(backup.toString('latin1', 0, 11)).toBe('OVSDB JSON ');
    await c.transact(DB, [{ op: 'update', table: 'Open_vSwitch', where: [], row: { bridges: ['set', []] } }]);
    // ovsdb-client restore seeks in its input: give it a file, not a pipe.
    const snap = join(h.dir, 'snap.ovsdb');
    writeFileSync(snap, backup);
    const fd = openSync(snap, 'r');
    h.defer(() => closeSync(fd));
    const restore = spawn('ovsdb-client', ['restore', S, DB], { stdio: [fd, 'ignore', 'pipe'] });
    let err = '';
    restore.stderr!.on('data', (d) => (err += d));
    expect([await new Promise((r) => restore.once('exit', r)), err]).toEqual([0, '']);
    const rows = await c.transact(DB, [{ op: 'select', table: 'Bridge', where: [], columns: ['name'] }]);
    expect(rows[0].rows).toEqual([{ name: 'br0' }]);
  });

  it('lock reports the lock as taken', async () => {
    const m = await watch(['lock', S, 'mylock'], /locked/);
    expect(m.out()).toMatch(/\{"locked":true\}/);
    const c = await h.client();
    expect(await c.lock('mylock')).toBe(false);
    m.stop();
  });

  it.skipIf(!HAVE_VSCTL)('ovs-vsctl adds and shows a bridge through its IDL', async () => {
    const add = await run('ovs-vsctl', [`--db=${S}`, '--no-wait', 'add-br', 'brv', '--', 'set', 'Bridge', 'brv', 'stp_enable=true']);
    expect(add.code).toBe(0);
    const show = await run('ovs-vsctl', [`--db=${S}`, '--no-wait', 'get', 'Bridge', 'brv', 'stp_enable']);
    expect(show.out).toBe('true\n');
  });
});
