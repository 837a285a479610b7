import { describe, expect, it } from 'vitest';
import { addBridgeOps, freshDb, names, rootUuid, tx } from './helpers.js';
import { executeTransaction } from '../../../src/ovsdb/transaction.js';

type R = Record<string, any>;

describe('transact: basic operations', () => {
  it('starts with one Open_vSwitch row with next_cfg 0, cur_cfg 0', () => {
    const db = freshDb();
    const out = tx(db, [{ op: 'select', table: 'Open_vSwitch', where: [], columns: ['next_cfg', 'cur_cfg', 'bridges'] }]);
    expect(out.results).toEqual([{ rows: [{ next_cfg: 0, cur_cfg: 0, bridges: ['set', []] }] }]);
  });

  it('inserts with uuid-name references and selects them back', () => {
    const db = freshDb();
    const out = tx(db, addBridgeOps('br0'));
    expect(out.results).toHaveLength(4);
    const [i, p, b, m] = out.results as R[];
    expect(m).toEqual({ count: 1 });
    const sel = tx(db, [{ op: 'select', table: 'Bridge', where: [['name', '==', 'br0']] }]).results[0] as R;
    const row = sel.rows[0];
    expect(row._uuid).toEqual(b.uuid);
    expect(row.ports).toEqual(p.uuid);
    expect(row._version[0]).toBe('uuid');
    const port = db.rows('Port').get(p.uuid[1])!;
    expect(port.cols.get('interfaces')!.keys).toEqual([i.uuid[1]]);
    const root = tx(db, [{ op: 'select', table: 'Open_vSwitch', where: [], columns: ['bridges'] }]).results[0] as R;
    expect(root.rows[0].bridges).toEqual(b.uuid);
  });

  it('updates, mutates and deletes with counts', () => {
    const db = freshDb();
    tx(db, addBridgeOps('br0'));
    tx(db, addBridgeOps('br1'));
    let r = tx(db, [{ op: 'update', table: 'Bridge', where: [], row: { fail_mode: 'secure', other_config: ['map', [['k', 'v']]] } }]);
    expect(r.results).toEqual([{ count: 2 }]);
    r = tx(db, [
      { op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['next_cfg', '+=', 5], ['next_cfg', '*=', 3], ['next_cfg', '-=', 1]] },
      { op: 'mutate', table: 'Bridge', where: [['name', '==', 'br0']], mutations: [['other_config', 'insert', ['map', [['k', 'ignored'], ['k2', 'v2']]]]] },
      { op: 'select', table: 'Open_vSwitch', where: [], columns: ['next_cfg'] },
      { op: 'select', table: 'Bridge', where: [['name', '==', 'br0']], columns: ['other_config', 'fail_mode'] },
    ]);
    expect((r.results[2] as R).rows[0].next_cfg).toBe(14);
    expect((r.results[3] as R).rows[0]).toEqual({ other_config: ['map', [['k', 'v'], ['k2', 'v2']]], fail_mode: 'secure' });
    r = tx(db, [
      { op: 'mutate', table: 'Bridge', where: [], mutations: [['other_config', 'delete', ['set', ['k']]]] },
      { op: 'mutate', table: 'Bridge', where: [], mutations: [['other_config', 'delete', ['map', [['k2', 'wrong']]]]] },
      { op: 'select', table: 'Bridge', where: [['name', '==', 'br0']], columns: ['other_config'] },
    ]);
    expect((r.results[2] as R).rows[0].other_config).toEqual(['map', [['k2', 'v2']]]);
  });

  it('evaluates condition functions', () => {
    const db = freshDb();
    tx(db, addBridgeOps('br0'));
    tx(db, [{ op: 'update', table: 'Port', where: [], row: { tag: 10, trunks: ['set', [1, 2, 3]] } }]);
    const count = (where: unknown[]) => ((tx(db, [{ op: 'select', table: 'Port', where, columns: ['name'] }]).results[0] as R).rows as unknown[]).length;
    expect(count([['tag', '<', 11]])).toBe(1);
    expect(count([['tag', '>', 10]])).toBe(0);
    expect(count([['tag', '>=', 10], ['tag', '<=', 10]])).toBe(1);
    expect(count([['trunks', 'includes', ['set', [1, 3]]]])).toBe(1);
    expect(count([['trunks', 'includes', 9]])).toBe(0);
    expect(count([['trunks', 'excludes', ['set', [4, 5]]]])).toBe(1);
    expect(count([['trunks', 'excludes', 2]])).toBe(0);
    expect(count([['name', '!=', 'br0']])).toBe(0);
    expect(count([['mac', '==', ['set', []]]])).toBe(1);
  });

  it('records comments and commit durability', () => {
    const db = freshDb();
    const out = tx(db, [{ op: 'comment', comment: 'hello' }, { op: 'commit', durable: true }, ...addBridgeOps('br0')]);
    expect(out.comments).toEqual(['hello']);
    expect(out.durable).toBe(true);
    expect(out.results.slice(0, 2)).toEqual([{}, {}]);
  });
});

describe('transact: errors abort the whole transaction', () => {
  it('puts the error at the failing op and null after it, changing nothing', () => {
    const db = freshDb();
    const out = tx(db, [
      ...addBridgeOps('br0'),
      { op: 'update', table: 'Bridge', where: [], row: { fail_mode: 'bogus' } },
      { op: 'select', table: 'Bridge', where: [] },
    ]);
    expect(out.changes).toBeNull();
    expect(out.results.slice(0, 4).every((r) => r && !('error' in (r as R)))).toBe(true);
    expect((out.results[4] as R).error).toBe('constraint violation');
    expect((out.results[4] as R).details).toMatch(/fail_mode/);
    expect(out.results[5]).toBeNull();
    expect(out.results).toHaveLength(6);
    expect(db.rows('Bridge').size).toBe(0);
  });

  it('abort discards earlier ops', () => {
    const db = freshDb();
    const out = tx(db, [...addBridgeOps('br0'), { op: 'abort' }]);
    expect((out.results[4] as R).error).toBe('aborted');
    expect(db.rows('Bridge').size).toBe(0);
    expect(db.rows('Interface').size).toBe(0);
  });

  it('reports syntax errors for unknown tables, columns, ops and bad types', () => {
    const db = freshDb();
    const first = (ops: object[]) => (tx(db, ops).results[0] as R);
    expect(first([{ op: 'select', table: 'Nope', where: [] }])).toMatchObject({ error: 'syntax error' });
    expect(first([{ op: 'insert', table: 'Bridge', row: { nope: 1 } }]).details).toMatch(/nope/);
    expect(first([{ op: 'frobnicate' }]).error).toBe('syntax error');
    expect(first([{ op: 'insert', table: 'Bridge', row: { name: 5 } }]).error).toBe('syntax error');
    expect(first([{ op: 'select', table: 'Bridge', where: [['name', 'like', 'x']] }]).error).toBe('syntax error');
    expect(first(['not an object' as unknown as object]).error).toBe('syntax error');
    expect(first([{ op: 'insert', table: 'Bridge', row: { _uuid: ['uuid', '00000000-0000-0000-0000-000000000001'] } }]).error).toBe('constraint violation');
  });

  it('refuses to change immutable columns', () => {
    const db = freshDb();
    tx(db, addBridgeOps('br0'));
    expect((tx(db, [{ op: 'update', table: 'Bridge', where: [], row: { name: 'x' } }]).results[0] as R).error).toBe('constraint violation');
    expect((tx(db, [{ op: 'mutate', table: 'Bridge', where: [], mutations: [['name', 'insert', 'x']] }]).results[0] as R).error).toBe('constraint violation');
  });

  it('mutation errors: domain, range, set size', () => {
    const db = freshDb();
    tx(db, addBridgeOps('br0'));
    const err = (ops: object[]) => (tx(db, ops).results[0] as R).error;
    expect(err([{ op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['next_cfg', '/=', 0]] }])).toBe('domain error');
    expect(err([{ op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['next_cfg', '+=', Number.MAX_SAFE_INTEGER], ['next_cfg', '+=', 10]] }])).toBe('range error');
    expect(err([{ op: 'mutate', table: 'Port', where: [], mutations: [['tag', 'insert', ['set', [1, 2]]]] }])).toBe('constraint violation');
    tx(db, [{ op: 'update', table: 'Port', where: [], row: { tag: 4000 } }]);
    expect(err([{ op: 'mutate', table: 'Port', where: [], mutations: [['tag', '+=', 100]] }])).toBe('constraint violation');
    expect(err([{ op: 'mutate', table: 'Port', where: [], mutations: [['interfaces', 'delete', ['set', [['uuid', [...db.rows('Interface').keys()][0]]]]]] }])).toBe('constraint violation');
  });

  it('rejects duplicate and undeclared uuid-names', () => {
    const db = freshDb();
    const dup = tx(db, [
      { op: 'insert', table: 'Controller', row: { target: 'a' }, 'uuid-name': 'c' },
      { op: 'insert', table: 'Controller', row: { target: 'b' }, 'uuid-name': 'c' },
    ]);
    expect((dup.results[1] as R).error).toBe('duplicate uuid-name');
    const undeclared = tx(db, [{ op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['bridges', 'insert', ['named-uuid', 'ghost']]] }]);
    expect(undeclared.results).toHaveLength(2);
    expect((undeclared.results[1] as R).details).toMatch(/ghost/);
  });

  it('waits: met, unmet with timeout 0, and blocked with time left', () => {
    const db = freshDb();
    tx(db, addBridgeOps('br0'));
    const wait = (until: string, rows: object[], timeout?: number) => ({ op: 'wait', table: 'Bridge', where: [], columns: ['name'], until, rows, timeout });
    expect(tx(db, [wait('==', [{ name: 'br0' }], 0)]).results).toEqual([{}]);
    expect(tx(db, [wait('!=', [{ name: 'br1' }], 0)]).results).toEqual([{}]);
    const unmet = tx(db, [wait('==', [{ name: 'br1' }], 0), ...addBridgeOps('br2')]);
    expect((unmet.results[0] as R).error).toBe('timed out');
    expect(db.rows('Bridge').size).toBe(1);
    const blocked = executeTransaction(db, [wait('==', [{ name: 'br1' }], 1000)], { elapsedMs: 250 });
    expect(blocked.blockedMs).toBe(750);
    expect(blocked.changes).toBeNull();
    const expired = executeTransaction(db, [wait('==', [{ name: 'br1' }], 1000)], { elapsedMs: 1000 });
    expect((expired.results[0] as R).error).toBe('timed out');
    expect(executeTransaction(db, [wait('==', [{ name: 'br1' }])]).blockedMs).toBe(Infinity);
  });

  it('fails assert with "not owner" unless the session owns the lock', () => {
    const db = freshDb();
    const ops = [{ op: 'assert', lock: 'x' }, { op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['next_cfg', '+=', 1]] }];
    const no = executeTransaction(db, ops, { ownsLock: () => false });
    expect(no.results).toEqual([{ error: 'not owner', details: expect.stringContaining('"x"') }, null]);
    expect(no.changes).toBeNull();
    const yes = executeTransaction(db, ops, { ownsLock: (n) => n === 'x' });
    expect(yes.results).toEqual([{}, { count: 1 }]);
    expect((tx(db, [{ op: 'assert' }]).results[0] as R).error).toBe('syntax error');
  });

  it('inserts with a requested "uuid" and refuses one already in use', () => {
    const db = freshDb();
    const u = '11111111-2222-3333-4444-555555555555';
    const ops = [
      { op: 'insert', table: 'Bridge', uuid: ['uuid', u], row: { name: 'br9' }, 'uuid-name': 'b' },
      { op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['bridges', 'insert', ['named-uuid', 'b']]] },
    ];
    expect(tx(db, ops).results[0]).toEqual({ uuid: ['uuid', u] });
    expect(db.rows('Bridge').has(u)).toBe(true);
    expect((tx(db, ops).results[0] as R).error).toBe('duplicate uuid');
  });

  it('takes a requested "uuid" as a bare string, as ovs-vsctl --id=UUID sends it', () => {
    const db = freshDb();
    const u = '21111111-2222-3333-4444-555555555555';
    const ops = [
      { op: 'insert', table: 'Bridge', uuid: u, row: { name: 'br8' }, 'uuid-name': 'b' },
      { op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['bridges', 'insert', ['named-uuid', 'b']]] },
    ];
    expect(tx(db, ops).results[0]).toEqual({ uuid: ['uuid', u] });
    expect((tx(db, [{ op: 'insert', table: 'Bridge', uuid: 'nope', row: { name: 'x' } }]).results[0] as R).error).toBe('syntax error');
  });
});

describe('transact: integrity at commit', () => {
  it('enforces index uniqueness', () => {
    const db = freshDb();
    tx(db, addBridgeOps('br0'));
    const out = tx(db, [
      { op: 'insert', table: 'Interface', row: { name: 'x' }, 'uuid-name': 'i' },
      { op: 'insert', table: 'Port', row: { name: 'x', interfaces: ['named-uuid', 'i'] }, 'uuid-name': 'p' },
      { op: 'insert', table: 'Bridge', row: { name: 'br0', ports: ['named-uuid', 'p'] }, 'uuid-name': 'b' },
      { op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['bridges', 'insert', ['named-uuid', 'b']]] },
    ]);
    expect(out.results).toHaveLength(5);
    expect(out.results[4]).toMatchObject({ error: 'constraint violation' });
    expect((out.results[4] as R).details).toMatch(/"Bridge".*index on name/);
    expect(names(db, 'Bridge')).toEqual(['br0']);
    expect(names(db, 'Interface')).toEqual(['br0']);
  });

  it('refuses to delete a row that is still strongly referenced', () => {
    const db = freshDb();
    tx(db, addBridgeOps('br0'));
    const out = tx(db, [{ op: 'delete', table: 'Port', where: [['name', '==', 'br0']] }]);
    expect(out.results[0]).toEqual({ count: 1 });
    expect(out.results[1]).toMatchObject({ error: 'referential integrity violation' });
    expect((out.results[1] as R).details).toMatch(/cannot delete Port row/);
    expect(names(db, 'Port')).toEqual(['br0']);
  });

  it('refuses references to rows that do not exist', () => {
    const db = freshDb();
    const ghost = '11111111-2222-3333-4444-555555555555';
    const out = tx(db, [
      { op: 'insert', table: 'Bridge', row: { name: 'b', ports: ['uuid', ghost] }, 'uuid-name': 'b' },
      { op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['bridges', 'insert', ['named-uuid', 'b']]] },
    ]);
    expect(out.results[2]).toMatchObject({ error: 'referential integrity violation' });
    expect((out.results[2] as R).details).toContain(ghost);
    // A Port inserted without its required interface points at the all-zero uuid.
    const noIface = tx(db, [
      { op: 'insert', table: 'Port', row: { name: 'p' }, 'uuid-name': 'p' },
      { op: 'insert', table: 'Bridge', row: { name: 'b', ports: ['named-uuid', 'p'] }, 'uuid-name': 'b' },
      { op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['bridges', 'insert', ['named-uuid', 'b']]] },
    ]);
    expect(noIface.results[3]).toMatchObject({ error: 'referential integrity violation' });
  });

  it('garbage-collects unreferenced rows of non-root tables', () => {
    const db = freshDb();
    const orphan = tx(db, [{ op: 'insert', table: 'Bridge', row: { name: 'lonely' } }]);
    expect((orphan.results[0] as R).uuid[0]).toBe('uuid');
    expect(db.rows('Bridge').size).toBe(0);
    tx(db, addBridgeOps('br0'));
    tx(db, addBridgeOps('br1'));
    expect(names(db, 'Interface')).toEqual(['br0', 'br1']);
    const br0 = [...db.rows('Bridge').values()].find((r) => r.cols.get('name')!.keys[0] === 'br0')!;
    const out = tx(db, [{ op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['bridges', 'delete', ['uuid', br0.uuid]]] }]);
    expect(out.results).toEqual([{ count: 1 }]);
    expect(names(db, 'Bridge')).toEqual(['br1']);
    expect(names(db, 'Port')).toEqual(['br1']);
    expect(names(db, 'Interface')).toEqual(['br1']);
    const gone = out.changes!.get('Interface')!;
    expect([...gone.values()].every((c) => c.new === null)).toBe(true);
  });

  it('drops a whole subtree the root no longer reaches', () => {
    const db = freshDb();
    tx(db, addBridgeOps('br0'));
    tx(db, [{ op: 'update', table: 'Open_vSwitch', where: [], row: { bridges: ['set', []] } }]);
    expect(db.rows('Bridge').size + db.rows('Port').size + db.rows('Interface').size).toBe(0);
  });

  it('removes weak references to deleted rows', () => {
    const db = freshDb();
    tx(db, addBridgeOps('br0'));
    const port = [...db.rows('Port').keys()][0];
    const br = [...db.rows('Bridge').keys()][0];
    tx(db, [
      { op: 'insert', table: 'Mirror', row: { name: 'm', select_src_port: ['uuid', port], output_port: ['uuid', port] }, 'uuid-name': 'm' },
      { op: 'mutate', table: 'Bridge', where: [], mutations: [['mirrors', 'insert', ['named-uuid', 'm']]] },
    ]);
    const mirror = [...db.rows('Mirror').values()][0];
    expect(mirror.cols.get('select_src_port')!.keys).toEqual([port]);
    const out = tx(db, [{ op: 'mutate', table: 'Bridge', where: [['_uuid', '==', ['uuid', br]]], mutations: [['ports', 'delete', ['uuid', port]]] }]);
    expect(out.results).toEqual([{ count: 1 }]);
    expect(db.rows('Port').size).toBe(0);
    const after = db.rows('Mirror').get(mirror.uuid)!;
    expect(after.cols.get('select_src_port')!.keys).toEqual([]);
    expect(after.cols.get('output_port')!.keys).toEqual([]);
  });

  it('enforces maxRows', () => {
    const db = freshDb();
    const out = tx(db, [{ op: 'insert', table: 'Open_vSwitch', row: {} }]);
    expect(out.results[1]).toMatchObject({ error: 'constraint violation' });
    expect(db.rows('Open_vSwitch').size).toBe(1);
    expect(rootUuid(db)).toBeTruthy();
  });

  it('reports no change set for a read-only or no-op transaction', () => {
    const db = freshDb();
    tx(db, addBridgeOps('br0'));
    expect(tx(db, [{ op: 'select', table: 'Bridge', where: [] }]).changes).toBeNull();
    expect(tx(db, [{ op: 'update', table: 'Bridge', where: [], row: { datapath_type: '' } }]).changes).toBeNull();
  });
});
