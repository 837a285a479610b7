import { describe, expect, it } from 'vitest';
import { Monitor } from '../../../src/ovsdb/monitor.js';
import { OvsdbError } from '../../../src/ovsdb/error.js';
import { addBridgeOps, freshDb, rootUuid, tx } from './helpers.js';

type R = Record<string, any>;

describe('Monitor', () => {
  it('sends initial contents of the monitored columns', () => {
    const db = freshDb();
    tx(db, addBridgeOps('br0'));
    const m = new Monitor('m1', db, { Bridge: { columns: ['name', 'fail_mode'] }, Open_vSwitch: {} });
    const init = m.initial(db) as R;
    const [buuid] = db.rows('Bridge').keys();
    expect(init.Bridge).toEqual({ [buuid]: { new: { name: 'br0', fail_mode: ['set', []] } } });
    expect(init.Open_vSwitch[rootUuid(db)].new.next_cfg).toBe(0);
    expect(Object.keys(init.Open_vSwitch[rootUuid(db)].new)).toContain('bridges');
    expect(init.Port).toBeUndefined();
  });

  it('describes insert, modify (old has only changed columns) and delete', () => {
    const db = freshDb();
    const m = new Monitor(null, db, { Bridge: { columns: ['name', 'fail_mode', 'ports'] }, Interface: { columns: ['name'] } });
    const add = tx(db, addBridgeOps('br0'));
    const ins = m.update(add.changes!) as R;
    const [buuid] = db.rows('Bridge').keys();
    expect(ins.Bridge[buuid]).toEqual({ new: { name: 'br0', fail_mode: ['set', []], ports: expect.any(Array) } });
    expect(Object.values(ins.Interface as R)[0]).toEqual({ new: { name: 'br0' } });
    expect(ins.Open_vSwitch).toBeUndefined();

    const mod = tx(db, [{ op: 'update', table: 'Bridge', where: [], row: { fail_mode: 'secure', other_config: ['map', [['a', 'b']]] } }]);
    expect(m.update(mod.changes!)).toEqual({ Bridge: { [buuid]: { old: { fail_mode: ['set', []] }, new: { name: 'br0', fail_mode: 'secure', ports: expect.any(Array) } } } });

    const unwatched = tx(db, [{ op: 'update', table: 'Bridge', where: [], row: { other_config: ['map', []] } }]);
    expect(unwatched.changes).not.toBeNull();
    expect(m.update(unwatched.changes!)).toBeNull();

    const del = tx(db, [{ op: 'update', table: 'Open_vSwitch', where: [], row: { bridges: ['set', []] } }]);
    const d = m.update(del.changes!) as R;
    expect(d.Bridge[buuid]).toEqual({ old: { name: 'br0', fail_mode: 'secure', ports: expect.any(Array) } });
    expect(Object.values(d.Interface as R)[0]).toEqual({ old: { name: 'br0' } });
  });

  it('honours select flags', () => {
    const db = freshDb();
    tx(db, addBridgeOps('br0'));
    const m = new Monitor(1, db, { Bridge: { columns: ['name', 'fail_mode'], select: { initial: false, insert: false, modify: true, delete: false } } });
    expect(m.initial(db)).toEqual({});
    expect(m.update(tx(db, addBridgeOps('br1')).changes!)).toBeNull();
    const mod = m.update(tx(db, [{ op: 'update', table: 'Bridge', where: [], row: { fail_mode: 'standalone' } }]).changes!) as R;
    expect(Object.keys(mod.Bridge)).toHaveLength(2);
    expect(m.update(tx(db, [{ op: 'update', table: 'Open_vSwitch', where: [], row: { bridges: ['set', []] } }]).changes!)).toBeNull();
  });

  it('rejects bad requests', () => {
    const db = freshDb();
    expect(() => new Monitor(1, db, { Nope: {} })).toThrow(OvsdbError);
    expect(() => new Monitor(1, db, { Bridge: { columns: ['nope'] } })).toThrow(/nope/);
    expect(() => new Monitor(1, db, { Bridge: { select: { insert: 'yes' } } })).toThrow(/boolean/);
    expect(() => new Monitor(1, db, [])).toThrow(OvsdbError);
  });
});
