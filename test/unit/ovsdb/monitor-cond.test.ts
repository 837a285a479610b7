// monitor_cond / update2, monitor_cond_change and monitor_cond_since / update3 against an
// in-process server: sparse initial rows, diffs for sets and maps, rows moving in and out of
// the condition.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TableUpdates2 } from '../../../src/ovsdb/client.js';
import { datumDiff } from '../../../src/ovsdb/monitor.js';
import { Harness } from './server-harness.js';
import { addBridgeOps, until } from './helpers.js';

const DB = 'Open_vSwitch';

describe('datumDiff', () => {
  const col = (type: any) => ({ name: 'c', type, ephemeral: false, mutable: true });
  const str = { type: 'string', enum: null, minInteger: 0, maxInteger: 0, minReal: 0, maxReal: 0, minLength: 0, maxLength: Infinity, refTable: null, refType: 'strong' } as any;
  it('is the new value for scalars, the symmetric difference for sets, changed pairs for maps', () => {
    expect(datumDiff({ keys: ['a'], values: null }, { keys: ['b'], values: null }, col({ key: str, value: null, min: 1, max: 1 }))).toEqual({ keys: ['b'], values: null });
    const set = col({ key: str, value: null, min: 0, max: Infinity });
    expect(datumDiff({ keys: ['a', 'b'], values: null }, { keys: ['b', 'c'], values: null }, set)).toEqual({ keys: ['a', 'c'], values: null });
    const map = col({ key: str, value: str, min: 0, max: Infinity });
    expect(datumDiff({ keys: ['k1', 'k2', 'k3'], values: ['1', '2', '3'] }, { keys: ['k2', 'k3', 'k4'], values: ['2', 'x', '4'] }, map)).toEqual({
      keys: ['k1', 'k3', 'k4'],
      values: ['1', 'x', '4'],
    });
  });
});

describe('monitor_cond', () => {
  let h: Harness;
  beforeEach(async () => {
    h = new Harness({ fsync: false });
    await h.start();
  });
  afterEach(() => h.dispose());

  it('sends sparse initial rows, then insert, modify diffs and delete as update2', async () => {
    const w = await h.client();
    await w.transact(DB, addBridgeOps('br0'));
    const m = await h.client();
    const got: TableUpdates2[] = [];
    const initial = await m.monitorCond(DB, 'm1', { Bridge: { columns: ['name', 'external_ids', 'flood_vlans', 'stp_enable'] } }, (u) => got.push(u));
    const [[uuid0, row0]] = Object.entries(initial.Bridge);
    // Columns at their default (empty map, empty set, false) are left out.
    expect(row0).toEqual({ initial: { name: 'br0' } });

    await w.transact(DB, [{ op: 'mutate', table: 'Bridge', where: [['_uuid', '==', ['uuid', uuid0]]], mutations: [['external_ids', 'insert', ['map', [['a', '1'], ['b', '2']]]], ['flood_vlans', 'insert', ['set', [1, 2]]]] }]);
    await until(() => got.length === 1);
    expect(got[0]).toEqual({ Bridge: { [uuid0]: { modify: { external_ids: ['map', [['a', '1'], ['b', '2']]], flood_vlans: ['set', [1, 2]] } } } });

    await w.transact(DB, [
      { op: 'update', table: 'Bridge', where: [['_uuid', '==', ['uuid', uuid0]]], row: { external_ids: ['map', [['a', '9'], ['c', '3']]], flood_vlans: ['set', [2, 3]] } },
    ]);
    await until(() => got.length === 2);
    expect(got[1].Bridge[uuid0].modify).toEqual({ external_ids: ['map', [['a', '9'], ['b', '2'], ['c', '3']]], flood_vlans: ['set', [1, 3]] });

    await w.transact(DB, [{ op: 'update', table: 'Open_vSwitch', where: [], row: { bridges: ['set', []] } }]);
    await until(() => got.length === 3);
    expect(got[2]).toEqual({ Bridge: { [uuid0]: { delete: null } } });
  });

  it('sends only rows matching any clause; rows moving in and out become insert and delete', async () => {
    const w = await h.client();
    await w.transact(DB, addBridgeOps('br0'));
    await w.transact(DB, addBridgeOps('br1'));
    const m = await h.client();
    const got: TableUpdates2[] = [];
    const initial = await m.monitorCond(DB, 'c', { Bridge: { columns: ['name', 'stp_enable'], where: [['stp_enable', '==', true], ['name', '==', 'br1']] } }, (u) => got.push(u));
    const names = Object.values(initial.Bridge).map((r) => r.initial!.name);
    expect(names).toEqual(['br1']);
    const uuidOf = async (n: string) => (await w.transact(DB, [{ op: 'select', table: 'Bridge', where: [['name', '==', n]], columns: ['_uuid'] }]))[0].rows[0]._uuid[1];
    const br0 = await uuidOf('br0');
    await w.transact(DB, [{ op: 'update', table: 'Bridge', where: [['name', '==', 'br0']], row: { stp_enable: true } }]);
    await until(() => got.length === 1);
    expect(got[0]).toEqual({ Bridge: { [br0]: { insert: { name: 'br0', stp_enable: true } } } });
    await w.transact(DB, [{ op: 'update', table: 'Bridge', where: [['name', '==', 'br0']], row: { stp_enable: false } }]);
    await until(() => got.length === 2);
    expect(got[1]).toEqual({ Bridge: { [br0]: { delete: null } } });

    // Narrow to br0 only: br1 leaves (delete), br0 does not match (stp off), so nothing else.
    const br1 = await uuidOf('br1');
    await m.monitorCondChange('c', 'c2', { Bridge: { where: [['name', '==', 'br0']] } });
    await until(() => got.length === 3);
    expect(got[2]).toEqual({ Bridge: { [br1]: { delete: null }, [br0]: { insert: { name: 'br0' } } } });
    await w.transact(DB, [{ op: 'update', table: 'Bridge', where: [], row: { stp_enable: true } }]);
    await until(() => got.length === 4);
    expect(Object.keys(got[3].Bridge)).toEqual([br0]);
  });

  it('monitor_cond_since answers [false, last-txn-id, everything] and sends update3', async () => {
    const raw = await h.raw();
    const notes: [string, unknown[]][] = [];
    raw.onNotification((m, p) => notes.push([m, p]));
    const res = (await raw.request('monitor_cond_since', [DB, 'x', { Open_vSwitch: [{ columns: ['next_cfg'] }] }, '00000000-0000-0000-0000-000000000000'])) as any[];
    expect(res[0]).toBe(false);
    expect(res[1]).toMatch(/^[0-9a-f-]{36}$/);
    expect(Object.values(res[2].Open_vSwitch)).toEqual([{ initial: {} }]);
    const w = await h.client();
    await w.transact(DB, [{ op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['next_cfg', '+=', 7]] }]);
    await until(() => notes.length === 1);
    const [method, params] = notes[0];
    expect(method).toBe('update3');
    expect(params[0]).toBe('x');
    expect(params[1]).not.toBe(res[1]);
    expect(Object.values((params[2] as any).Open_vSwitch)).toEqual([{ modify: { next_cfg: 7 } }]);
  });

  it('rejects "where" in a plain monitor and unknown columns with syntax errors', async () => {
    const raw = await h.raw();
    await expect(raw.request('monitor', [DB, 1, { Bridge: { where: [] } }])).rejects.toMatchObject({ error: { error: 'syntax error' } });
    await expect(raw.request('monitor_cond', [DB, 1, { Bridge: { columns: ['nope'] } }])).rejects.toMatchObject({ error: { error: 'syntax error' } });
    expect(await raw.request('monitor_cond', [DB, 1, { Bridge: {} }])).toEqual({});
  });
});
