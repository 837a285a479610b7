// vsdb-client (run in process against an in-process server) and its output shapes: dump tables
// sorted like ovsdb-client, list-columns, transact/query, backup then restore, monitor until the
// server goes away, and errors. When ovsdb-client is installed, `dump` must print exactly what
// ovsdb-client dump prints for the same database.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execFile, spawnSync } from 'node:child_process';
import { run } from '../../../tools/vsdb-client.js';
import { Harness } from './server-harness.js';
import { addBridgeOps, until } from './helpers.js';

const DB = 'Open_vSwitch';
const HAVE_OVS = spawnSync('sh', ['-c', 'command -v ovsdb-client']).status === 0;

function io(stdin: Buffer = Buffer.alloc(0)) {
  const o = { out: '', err: '', raw: [] as Buffer[] };
  return {
    o,
    io: {
      out: (t: string) => void (o.out += t),
      err: (t: string) => void (o.err += t),
      readStdin: async () => stdin,
      writeRaw: (b: Buffer) => void o.raw.push(b),
    },
  };
}

describe('vsdb-client', () => {
  let h: Harness;
  let S: string;
  beforeEach(async () => {
    h = new Harness({ fsync: false });
    await h.start();
    S = `unix:${h.sock}`;
    const c = await h.client();
    await c.transact(DB, addBridgeOps('br1'));
    await c.transact(DB, addBridgeOps('br0'));
    await c.transact(DB, [
      { op: 'update', table: 'Bridge', where: [['name', '==', 'br0']], row: { external_ids: ['map', [['a b', 'x"y'], ['k', 'v'], ['n', '12']]], flood_vlans: ['set', [3, 1]], datapath_type: 'netdev' } },
    ]);
  });
  afterEach(() => h.dispose());

  async function cli(args: string[], stdin?: Buffer) {
    const x = io(stdin);
    const code = await run(args, x.io);
    return { code, ...x.o };
  }

  it('lists databases, tables and columns, and the schema version', async () => {
    expect(await cli(['list-dbs', S])).toMatchObject({ code: 0, out: 'Open_vSwitch\n' });
    const t = await cli(['list-tables', S]);
    expect(t.out.split('\n').slice(0, 3)).toEqual(['Table', '------------', 'Open_vSwitch']);
    const c = await cli(['list-columns', S, DB, 'Port']);
    expect(c.out).toMatch(/^Column +Type\n-+ -+\n_uuid +"uuid"\n_version +"uuid"\n/);
    expect(c.out).toMatch(/^tag +\{"key":\{"maxInteger":4095,"minInteger":0,"type":"integer"\},"min":0\}$/m);
    expect((await cli(['get-schema-version', S])).out).toBe('1.0.0\n');
    expect(JSON.parse((await cli(['get-schema', S, DB])).out).name).toBe(DB);
  });

  it('dumps tables with headings, dashes, quoted strings, sets and maps, rows sorted by column values', async () => {
    const r = await cli(['dump', S, DB, 'Bridge', 'name', 'datapath_type', 'external_ids', 'flood_vlans']);
    expect(r.out).toBe(
      [
        'Bridge table',
        'name datapath_type external_ids                flood_vlans',
        '---- ------------- --------------------------- -----------',
        'br0  netdev        {"a b"="x\\"y", k=v, n="12"} [1, 3]',
        'br1  ""            {}                          []',
        '',
      ].join('\n'),
    );
    const json = JSON.parse((await cli(['dump', '-f', 'json', S, DB, 'Bridge', 'name'])).out);
    expect(json).toEqual({ caption: 'Bridge table', data: [['br0'], ['br1']], headings: ['name'] });
  });

  it.skipIf(!HAVE_OVS)('prints exactly what ovsdb-client dump prints', async () => {
    const ovs = await new Promise<string>((res, rej) => execFile('ovsdb-client', ['dump', S], (e, out) => (e ? rej(e) : res(out))));
    expect((await cli(['dump', S])).out).toBe(ovs);
  });

  it('transact writes, query does not, and errors come back as results', async () => {
    const t = await cli(['transact', S, JSON.stringify([DB, { op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['next_cfg', '+=', 5]] }])]);
    expect(t).toMatchObject({ code: 0, out: '[{"count":1}]\n' });
    const q = await cli(['query', S, JSON.stringify([DB, { op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['next_cfg', '+=', 5]] }, { op: 'select', table: 'Open_vSwitch', where: [], columns: ['next_cfg'] }])]);
    expect(JSON.parse(q.out)).toEqual([{ count: 1 }, { rows: [{ next_cfg: 10 }] }]);
    const after = await cli(['query', S, JSON.stringify([DB, { op: 'select', table: 'Open_vSwitch', where: [], columns: ['next_cfg'] }])]);
    expect(JSON.parse(after.out)).toEqual([{ rows: [{ next_cfg: 5 }] }]);
    const bad = await cli(['transact', S, '[1,2']);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/^vsdb-client: transaction is not valid JSON/);
  });

  it('backup then restore brings the database back, uuids included', async () => {
    const before = (await cli(['dump', S])).out;
    const b = await cli(['backup', S]);
    expect(b.code).toBe(0);
    const snapshot = Buffer.concat(b.raw);
    const c = await h.client();
    await c.transact(DB, [{ op: 'update', table: 'Open_vSwitch', where: [], row: { bridges: ['set', []] } }]);
    await c.transact(DB, addBridgeOps('other'));
    expect((await cli(['dump', S])).out).not.toBe(before);
    const r = await cli(['restore', S], snapshot);
    expect(r).toMatchObject({ code: 0, err: '' });
    expect((await cli(['dump', S])).out).toBe(before);
    const bad = await cli(['restore', S], Buffer.from('junk'));
    expect(bad.code).toBe(1);
  });

  it('monitor prints initial rows and changes until the server goes away', async () => {
    const x = io();
    const done = run(['monitor', S, DB, 'Bridge', 'name,!initial'], x.io);
    await new Promise((r) => setTimeout(r, 100));
    const c = await h.client();
    await c.transact(DB, addBridgeOps('br9'));
    await until(() => x.o.out.includes('br9'));
    await h.stop();
    expect(await done).toBe(0);
    expect(x.o.out).toMatch(/^row +action name\n-+ -+ -+\n[0-9a-f-]{36} insert br9\n/);
    expect(x.o.out).not.toMatch(/br0/);
  });

  it('reports usage errors and unreachable servers like ovsdb-client', async () => {
    expect((await cli(['frob', S])).err).toMatch(/unknown command 'frob'/);
    const r = await cli(['list-dbs', `unix:${h.dir}/nope.sock`]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/failed to connect to ".*nope.sock" \(No such file or directory\)/);
    expect((await cli(['--help'])).out).toMatch(/^vsdb-client: .*\nusage: vsdb-client \[OPTIONS\] COMMAND/);
  });
});
