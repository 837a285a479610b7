// Bad input and durability against an in-process server: malformed JSON, a message cut off
// mid-stream, an oversized message, a wrong type, a dangling reference (an error to that client
// only, nothing written), and the fsync rules: durable commits are fsynced before the reply
// (grouped), non-durable ones are not waited for, and nothing that follows a durable commit is
// seen before its fsync.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import net from 'node:net';
import { statSync } from 'node:fs';
import { TransactError, type TableUpdates } from '../../../src/ovsdb/client.js';
import { Harness } from './server-harness.js';
import { addBridgeOps, until } from './helpers.js';

const DB = 'Open_vSwitch';
const bump = (n = 1) => ({ op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['next_cfg', '+=', n]] });
const durable = { op: 'commit', durable: true };

function rawSocket(path: string): Promise<{ sock: net.Socket; data: () => string; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection({ path });
    let buf = '';
    sock.on('data', (d) => (buf += d.toString()));
    const closed = new Promise<void>((r) => sock.on('close', () => r()));
    sock.once('connect', () => resolve({ sock, data: () => buf, closed }));
    sock.once('error', reject);
  });
}

describe('bad input', () => {
  let h: Harness;
  beforeEach(async () => {
    h = new Harness({ maxMessageBytes: 64 * 1024 });
    await h.start();
  });
  afterEach(() => h.dispose());

  const fileSize = () => statSync(h.cfg.dbFile).size;

  it('answers malformed JSON with an error and closes only that connection', async () => {
    const other = await h.client();
    const before = fileSize();
    const r = await rawSocket(h.sock);
    r.sock.write('{"method":"transact","params":["Open_vSwitch",{"op":"insert","table":"Bridge","row":{"name":"x"}}],"id":1,]}');
    await r.closed;
    expect(JSON.parse(r.data())).toMatchObject({ id: null, error: { error: 'syntax error' } });
    expect(await other.listDbs()).toEqual([DB]);
    expect(fileSize()).toBe(before);
  });

  it('drops a message cut off mid-stream without writing anything', async () => {
    const other = await h.client();
    const before = fileSize();
    const r = await rawSocket(h.sock);
    const msg = JSON.stringify({ method: 'transact', params: [DB, ...addBridgeOps('cut')], id: 7 });
    r.sock.write(msg.slice(0, msg.length - 10));
    await new Promise((res) => setTimeout(res, 50));
    r.sock.destroy();
    await r.closed;
    const rows = await other.transact(DB, [{ op: 'select', table: 'Bridge', where: [] }]);
    expect(rows[0].rows).toEqual([]);
    expect(fileSize()).toBe(before);
    expect(h.server!.service.stats().connections).toBe(1);
  });

  it('refuses a message over the size limit and closes that connection', async () => {
    const other = await h.client();
    const before = fileSize();
    const r = await rawSocket(h.sock);
    const big = 'x'.repeat(100 * 1024);
    r.sock.write(JSON.stringify({ method: 'transact', params: [DB, { op: 'insert', table: 'Bridge', row: { name: big } }], id: 1 }));
    await r.closed;
    expect(r.data()).toMatch(/exceeds limit/);
    await other.transact(DB, [bump()]);
    expect(fileSize()).toBeGreaterThan(before);
  });

  it('a wrong type or a missing reference fails that transaction only, with nothing written', async () => {
    const c = await h.client();
    const before = fileSize();
    const bad1 = await c.transact(DB, [{ op: 'insert', table: 'Bridge', row: { name: 5 } }]).catch((e) => e);
    expect(bad1).toBeInstanceOf(TransactError);
    expect(bad1.error).toBe('syntax error');
    const bad2 = await c
      .transact(DB, [
        { op: 'insert', table: 'Port', row: { name: 'p', interfaces: ['uuid', '01234567-89ab-cdef-0123-456789abcdef'] }, 'uuid-name': 'p' },
        { op: 'insert', table: 'Bridge', row: { name: 'b', ports: ['named-uuid', 'p'] }, 'uuid-name': 'b' },
        { op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['bridges', 'insert', ['named-uuid', 'b']]] },
      ])
      .catch((e) => e);
    expect(bad2).toBeInstanceOf(TransactError);
    expect(bad2.error).toBe('referential integrity violation');
    expect(bad2.results).toHaveLength(4); // one per op plus the commit error
    expect(fileSize()).toBe(before);
    expect(await c.transact(DB, [{ op: 'select', table: 'Port', where: [] }])).toEqual([{ rows: [] }]);
  });
});

describe('durability', () => {
  let h: Harness;
  beforeEach(async () => {
    h = new Harness();
    await h.start();
  });
  afterEach(() => h.dispose());

  const storage = () => h.server!.service.storage!;

  it('fsyncs a durable commit before replying and does not wait for non-durable ones', async () => {
    const c = await h.client();
    const s0 = storage().syncCount;
    for (let i = 0; i < 5; i++) await c.transact(DB, [bump()]);
    expect(storage().syncCount).toBe(s0);
    await c.transact(DB, [bump(), durable]);
    expect(storage().syncCount).toBe(s0 + 1);
    await storage().sync(); // already covered: no further fdatasync
    expect(storage().syncCount).toBe(s0 + 1);
  });

  it('groups concurrent durable commits into fewer fsyncs, all acknowledged and present', async () => {
    const clients = await Promise.all(Array.from({ length: 16 }, () => h.client()));
    const s0 = storage().syncCount;
    const res = await Promise.all(clients.map((c) => c.transact(DB, [bump(), durable])));
    expect(res.every((r) => r[0].count === 1)).toBe(true);
    const fsyncs = storage().syncCount - s0;
    expect(fsyncs).toBeGreaterThanOrEqual(1);
    expect(fsyncs).toBeLessThan(16);
    const rows = await clients[0].transact(DB, [{ op: 'select', table: 'Open_vSwitch', where: [], columns: ['next_cfg'] }]);
    expect(rows[0].rows[0].next_cfg).toBe(16);
  });

  it('holds replies and notifications that follow a durable commit until its fsync is done', async () => {
    const st = storage();
    let release: () => void = () => undefined;
    const realSync = st.sync.bind(st);
    const realIsSynced = st.isSynced.bind(st);
    let hold = true;
    st.isSynced = (seq) => !hold && realIsSynced(seq);
    st.sync = (seq?: number) => new Promise<void>((r) => (release = () => realSync(seq).then(r)));
    const m = await h.client();
    const seen: TableUpdates[] = [];
    await m.monitor(DB, 'm', { Open_vSwitch: { columns: ['next_cfg'] } }, (u) => seen.push(u));
    const [a, b] = [await h.client(), await h.client()];
    const order: string[] = [];
    const pa = a.transact(DB, [bump(), durable]).then(() => order.push('a'));
    await until(() => h.server!.service.stats().held > 0);
    const pb = b.transact(DB, [bump()]).then(() => order.push('b'));
    await new Promise((r) => setTimeout(r, 50));
    expect(order).toEqual([]);
    expect(seen).toEqual([]);
    hold = false;
    release();
    await Promise.all([pa, pb]);
    expect(order).toEqual(['a', 'b']);
    await until(() => seen.length === 2);
    expect(seen.map((u) => Object.values(u.Open_vSwitch)[0].new!.next_cfg)).toEqual([1, 2]);
    st.sync = realSync;
    st.isSynced = realIsSynced;
  });
});
