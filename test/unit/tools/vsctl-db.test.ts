/*
 * vsctl's database commands against a working model (no server): find and its operators,
 * get, set, add, remove, clear, create, destroy, wait-until, "@name" row ids across a chain,
 * how records are named, the transaction each produces, and ovs-vsctl's error wording.
 */
import { describe, expect, it } from 'vitest';
import { model, OVS_UUID, vsctl, vsctlRun } from './helpers.js';

const U = (n: number): string => `00000000-0000-0000-0000-${String(n).padStart(12, '0')}`;

/** br0 (controller c1) with ports br0, p1 (tag 10, external_ids k=v), p2 (trunks 10,20). */
function db() {
  return model({
    Open_vSwitch: [{ _uuid: ['uuid', OVS_UUID], bridges: ['uuid', U(1)], next_cfg: 1, cur_cfg: 1 }],
    Bridge: [{ _uuid: ['uuid', U(1)], name: 'br0', ports: ['set', [['uuid', U(2)], ['uuid', U(3)], ['uuid', U(4)]]], controller: ['uuid', U(8)] }],
    Port: [
      { _uuid: ['uuid', U(2)], name: 'br0', interfaces: ['uuid', U(5)] },
      { _uuid: ['uuid', U(3)], name: 'p1', interfaces: ['uuid', U(6)], tag: 10, external_ids: ['map', [['k', 'v']]] },
      { _uuid: ['uuid', U(4)], name: 'p2', interfaces: ['uuid', U(7)], trunks: ['set', [10, 20]] },
    ],
    Interface: [
      { _uuid: ['uuid', U(5)], name: 'br0', type: 'internal' },
      { _uuid: ['uuid', U(6)], name: 'p1', options: ['map', [['peer', 'x']]] },
      { _uuid: ['uuid', U(7)], name: 'p2' },
    ],
    Controller: [{ _uuid: ['uuid', U(8)], target: 'tcp:1.2.3.4:6653' }],
    QoS: [{ _uuid: ['uuid', 'abcd0000-0000-0000-0000-000000000009'], type: 'linux-htb' }],
  });
}

const ops = (m: ReturnType<typeof db>, op: string, table?: string) => m.toOps().filter((o: any) => o.op === op && (!table || o.table === table)) as any[];
const names = (...cond: string[]): string[] => vsctl(db(), '--bare', '--columns=name', 'find', 'Port', ...cond).filter((l) => l);
const fails = (argv: string[], msg: string): void => {
  expect(() => vsctl(db(), ...argv)).toThrow(msg);
};

describe('find', () => {
  it('compares whole values with = != < > <= >= (size first, then elements), as ovs-vsctl does', () => {
    expect(names('tag=10')).toEqual(['p1']);
    expect(names('tag!=10')).toEqual(['br0', 'p2']);
    expect(names('tag<11')).toEqual(['br0', 'p1', 'p2']); // [] < 11: fewer elements
    expect(names('tag>5')).toEqual(['p1']);
    expect(names('tag<=10')).toEqual(['br0', 'p1', 'p2']);
    expect(names('tag>=11')).toEqual([]);
    expect(names('tag=[]')).toEqual(['br0', 'p2']);
    expect(names('tag<[]')).toEqual([]);
    expect(names('name=p1', 'tag=10')).toEqual(['p1']);
    expect(names('name=p1', 'tag=11')).toEqual([]);
    expect(names()).toEqual(['br0', 'p1', 'p2']);
  });

  it('compares as sets with {=} {!=} {<} {>} {<=} {>=} {in} {not-in}', () => {
    expect(names('trunks{=}10,20')).toEqual(['p2']);
    expect(names('trunks{!=}[]')).toEqual(['p2']);
    expect(names('trunks{<}[10,20,30]')).toEqual(['br0', 'p1', 'p2']);
    expect(names('trunks{<}[10,20]')).toEqual(['br0', 'p1']);
    expect(names('trunks{>}10')).toEqual(['p2']);
    expect(names('trunks{<=}[10,20]')).toEqual(['br0', 'p1', 'p2']);
    expect(names('trunks{>=}20')).toEqual(['p2']);
    expect(names('trunks{in}10,20,30')).toEqual(['br0', 'p1', 'p2']);
    expect(names('trunks{not-in}30')).toEqual(['br0', 'p1', 'p2']);
    expect(names('trunks{not-in}20')).toEqual(['br0', 'p1']);
  });

  it('map keys: a missing key never matches = or !=, but is empty for set operators', () => {
    expect(names('external_ids:k=v')).toEqual(['p1']);
    expect(names('external_ids:k!=v')).toEqual([]);
    expect(names('external_ids:k{=}v')).toEqual(['p1']);
    expect(names('external_ids:z{=}[]')).toEqual(['br0', 'p1', 'p2']);
    expect(names('external_ids:z=[]')).toEqual([]);
    expect(names('external_ids={k=v}')).toEqual(['p1']);
    expect(names('external_ids{>=}k=v')).toEqual(['p1']);
    expect(names('external_ids{<=}{k=v,a=b}')).toEqual(['br0', 'p1', 'p2']);
    expect(names('external_ids{<=}{k=w}')).toEqual(['br0', 'p2']);
  });

  it('reports bad conditions in ovs-vsctl wording', () => {
    const ops = '"=", "!=", "<", ">", "<=", ">=", "{=}", "{!=}", "{<}", "{>}", "{<=}", "{>=}", "{in}", or "{not-in}"';
    fails(['find', 'Port', 'name'], `name: argument does not end in ${ops} followed by a value.`);
    fails(['find', 'Port', 'name='], `name=: argument does not end in ${ops} followed by a value.`);
    fails(['find', 'Port', 'foo=1'], 'Port does not contain a column whose name matches "foo"');
    fails(['find', 'Port', 'tag:x=1'], 'cannot specify key to check for non-map column tag');
    fails(['find', 'Port', 'tag=abc'], '"abc" is not a valid integer or range');
    fails(['find', 'Port', 'tag==10'], '=10: unexpected "=" parsing set of up to 1 integers');
    fails(['find', 'Port', 'name=<x'], '<x: unexpected "<" parsing string');
    fails(['find', 'Port', ':x=1'], ':x=1: missing column name');
    fails(['find', 'Port', 'tag{<=}[10,11]'], '[10,11]: 2 value(s) specified but the maximum number is 1');
    fails(['find', 'Port', '_uuid=x'], 'Port does not contain a column whose name matches "_uuid"');
    fails(['find'], "'find' command requires at least 1 arguments");
  });
});

describe('get', () => {
  it('prints values, map keys and _uuid (any case, or -uuid)', () => {
    expect(vsctl(db(), 'get', 'Interface', 'p1', 'options:peer', 'options', 'name', '_UUID', '-uuid')).toEqual(['x', '{peer=x}', 'p1', U(6), U(6)]);
    expect(vsctl(db(), 'get', 'Bridge', 'br0')).toEqual([]);
  });

  it('--if-exists: a missing key prints an empty line, a missing record nothing', () => {
    expect(vsctl(db(), '--if-exists', 'get', 'Interface', 'p1', 'other_config:zz', 'name')).toEqual(['', 'p1']);
    expect(vsctl(db(), '--if-exists', 'get', 'Interface', 'p9', 'name')).toEqual([]);
  });

  it('errors', () => {
    fails(['get', 'Port', 'p1', '_uu'], 'Port does not contain a column whose name matches "_uu"');
    fails(['get', 'Interface', 'p1', 'options:zz'], 'no key "zz" in Interface record "p1" column options');
    fails(['--id=@b', '--if-exists', 'get', 'Bridge', 'br0'], '--if-exists and --id may not be specified together');
    fails(['--id=b', 'get', 'Bridge', 'br0'], 'row id "b" does not begin with "@"');
    fails(['--', 'set', 'Bridge', 'br0', 'mirrors=@b', '--', '--id=@b', 'get', 'Bridge', 'br0'], 'row id "@b" specified on "get" command was used before it was defined');
    fails(['get', 'Port', 'p9', 'tag'], 'no row "p9" in table Port');
  });
});

describe('finding records', () => {
  it('by uuid, a unique uuid prefix of 4 or more, name, "." and through a reference', () => {
    expect(vsctl(db(), 'get', 'Port', U(3), 'name', '--', 'get', 'Port', U(3).toUpperCase(), 'name')).toEqual(['p1', 'p1']);
    expect(vsctl(db(), 'get', 'QoS', 'abcd', 'type', '--', 'get', 'QoS', '.', 'type', '--', 'get', 'Open_vSwitch', '.', 'next_cfg')).toEqual(['linux-htb', 'linux-htb', '1']);
    expect(vsctl(db(), 'get', 'Controller', 'br0', 'target')).toEqual(['"tcp:1.2.3.4:6653"']);
    expect(vsctl(db(), 'get', 'Controller', '.', 'target')).toEqual(['"tcp:1.2.3.4:6653"']);
    fails(['list', 'Port', '.'], 'no row "." in table Port');
    fails(['list', 'Port', '0000'], 'Port contains 2 or more rows whose UUIDs begin with 0000: at least');
    fails(['list', 'Port', '000'], 'no row "000" in table Port');
    fails(['list', 'QoS', 'p1'], 'no row "p1" in table QoS');
    fails(['get', 'Controller', 'p1', 'target'], 'no row "p1" in table Controller');
  });

  it('table and column names: case-insensitive, "-" for "_", unique prefixes', () => {
    expect(vsctl(db(), 'get', 'bridge', 'br0', 'fail-mode', '--', 'get', 'int', 'p1', 'ty')).toEqual(['[]', '""']);
    fails(['list', 'Q'], '"Q" matches multiple table names: QoS, Queue');
    fails(['list', 'Foo'], 'unknown table "Foo"');
  });
});

describe('set, add, remove, clear', () => {
  it('add unions values into sets and maps (an existing key keeps its value)', () => {
    const m = db();
    vsctl(m, 'add', 'Port', 'p2', 'trunks', '1', '2,3', '[4,5]', '--', 'add', 'Port', 'p1', 'external_ids', 'k=new', 'a=1', 'b=2,c=3', '{d=4}', '--', 'add', 'Port', 'p1', 'tag', '10');
    expect(vsctl(m, 'get', 'Port', 'p2', 'trunks', '--', 'get', 'Port', 'p1', 'external_ids', 'tag')).toEqual(['[1, 2, 3, 4, 5, 10, 20]', '{a="1", b="2", c="3", d="4", k=v}', '10']);
    expect(ops(m, 'mutate', 'Port')[0].mutations).toEqual([['external_ids', 'insert', ['map', [['a', '1'], ['b', '2'], ['c', '3'], ['d', '4']]]]]);
  });

  it('remove takes values, key=value pairs (both must match) or keys', () => {
    const m = db();
    vsctl(m, 'set', 'Port', 'p1', 'external_ids:a=1', 'external_ids:b=2', '--', 'remove', 'Port', 'p1', 'external_ids', 'k=wrong', 'a', 'b=2', '--', 'remove', 'Port', 'p2', 'trunks', '10', '99');
    expect(vsctl(m, 'get', 'Port', 'p1', 'external_ids', '--', 'get', 'Port', 'p2', 'trunks')).toEqual(['{k=v}', '[20]']);
    vsctl(m, 'remove', 'Port', 'p1', 'tag', '10', '--', 'remove', 'Port', 'p1', 'external_ids', '{k=v}');
    expect(vsctl(m, 'get', 'Port', 'p1', 'tag', 'external_ids')).toEqual(['[]', '{}']);
  });

  it('clear empties columns', () => {
    const m = db();
    vsctl(m, 'clear', 'Port', 'p1', 'tag', 'external_ids');
    expect(vsctl(m, 'get', 'Port', 'p1', 'tag', 'external_ids')).toEqual(['[]', '{}']);
    expect(ops(m, 'update', 'Port')[0].row).toEqual({ tag: ['set', []] });
  });

  it('booleans take true/false, yes/no, on/off, 1/0', () => {
    const m = db();
    vsctl(m, 'set', 'Bridge', 'br0', 'stp_enable=yes');
    expect(vsctl(m, 'get', 'Bridge', 'br0', 'stp_enable')).toEqual(['true']);
    vsctl(m, 'set', 'Bridge', 'br0', 'stp_enable=off');
    expect(vsctl(m, 'get', 'Bridge', 'br0', 'stp_enable')).toEqual(['false']);
  });

  it('errors in ovs-vsctl wording', () => {
    fails(['add', 'Port', 'p1', 'tag', '11'], '"add" operation would put 2 values in column tag of table Port but the maximum number is 1');
    fails(['add', 'Port', 'p1', 'external_ids', 'k'], 'k: syntax error at "');
    fails(['add', 'Port', 'p1', 'name', 'x'], 'cannot modify read-only column name in table Port');
    fails(['add', 'Port', 'p9', 'tag', '1'], 'no row "p9" in table Port');
    fails(['add', 'Port', 'p1', 'trunks', '[]'], '[]: 0 value(s) specified but the minimum number is 1');
    fails(['add', 'Port', 'p1', 'trunks', '1,,2'], '1,,2: unexpected "," parsing set of 1 or more integers');
    fails(['remove', 'Port', 'p1', 'interfaces', U(6)], '"remove" operation would put 0 values in column interfaces of table Port but the minimum number is 1');
    fails(['remove', 'Interface', 'p1', 'name', 'p1'], 'cannot modify read-only column name in table Interface');
    fails(['clear', 'Port', 'p1', 'interfaces'], '"clear" operation cannot be applied to column interfaces of table Port, which is not allowed to be empty');
    fails(['set', 'Port', 'p1', 'external_ids=k'], 'k: syntax error at "');
    fails(['set', 'Port', 'p1', 'external_ids=k,'], 'k,: syntax error at "," expecting "="');
    fails(['set', 'Port', 'p1', 'trunks={1}'], '{1}: unexpected "{" parsing set of up to 4096 integers');
    fails(['set', 'Port', 'p1', 'external_ids=[k=v]'], '[k=v]: unexpected "[" parsing map of (string, string) pairs');
    fails(['set', 'Port', 'p1', 'external_ids=k=v,k=w'], 'k=v,k=w: map contains duplicate key');
    fails(['set', 'Port', 'p1', 'tag='], 'tag=: argument does not end in "=" followed by a value.');
    fails(['set', 'Port', 'p1', 'external_ids:=1'], 'An empty string is not valid as input; use "" to represent the empty string');
    fails(['set', 'Bridge', 'br0', 'fail_mode=bogus'], 'constraint violation: bogus is not one of the allowed values ([secure, standalone])');
    fails(['set', 'Interface', 'p1', 'ofport_request=0'], 'constraint violation: 0 is not in the valid range 1 to 65279 (inclusive)');
    fails(['set', 'Port', 'p1', '_uuid=x'], 'Port does not contain a column whose name matches "_uuid"');
    fails(['set', 'Port', 'p9', 'foo=1'], 'Port does not contain a column whose name matches "foo"');
    fails(['--if-exists', 'set', 'Port', 'p9', 'foo=1'], 'Port does not contain a column whose name matches "foo"');
  });

  it('--if-exists makes a missing record silent', () => {
    const m = db();
    expect(vsctl(m, '--if-exists', 'add', 'Port', 'p9', 'tag', '1', '--', '--if-exists', 'remove', 'Port', 'p9', 'tag', '1', '--', '--if-exists', 'clear', 'Port', 'p9', 'tag', '--', '--if-exists', 'destroy', 'QoS', 'nope')).toEqual([]);
    expect(m.changed()).toBe(false);
  });
});

describe('create, destroy and @name row ids', () => {
  it('create --id=@c, referenced later in the chain, becomes one insert referred to by uuid-name', () => {
    const m = db();
    const out = vsctl(m, '--', '--id=@c', 'create', 'Controller', 'target="tcp:5.6.7.8:6653"', '--', 'set', 'Bridge', 'br0', 'controller=@c');
    expect(out).toHaveLength(1);
    expect(out[0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const [ins] = ops(m, 'insert', 'Controller');
    expect(ins.row).toEqual({ target: 'tcp:5.6.7.8:6653' });
    expect(ops(m, 'update', 'Bridge')[0].row).toEqual({ controller: ['named-uuid', ins['uuid-name']] });
    expect(vsctl(m, 'get-controller', 'br0')).toEqual(['tcp:5.6.7.8:6653']);
  });

  it('a row id may be used before the create that defines it', () => {
    const m = db();
    vsctl(m, '--', 'set', 'Bridge', 'br0', 'controller=@c', '--', '--id=@c', 'create', 'Controller', 'target=fwd');
    const [ins] = ops(m, 'insert', 'Controller');
    expect(ops(m, 'update', 'Bridge')[0].row).toEqual({ controller: ['named-uuid', ins['uuid-name']] });
  });

  it('get --id=@p names an existing row; add-port settings take row ids too', () => {
    const m = db();
    vsctl(m, '--', '--id=@m', 'create', 'Mirror', 'name=m1', '--', 'add', 'Bridge', 'br0', 'mirrors', '@m', '--', '--id=@p', 'get', 'Port', 'p1', '--', 'set', 'Mirror', 'm1', 'select_src_port=@p');
    expect(vsctl(m, 'get', 'Mirror', 'm1', 'select_src_port')).toEqual([`[${U(3)}]`]);
    const m2 = db();
    vsctl(m2, '--', 'add-port', 'br0', 'p3', 'qos=@q', 'tag=5', '--', '--id=@q', 'create', 'QoS', 'type=linux-htb');
    const [q] = ops(m2, 'insert', 'QoS');
    expect(ops(m2, 'insert', 'Port')[0].row).toMatchObject({ name: 'p3', tag: 5, qos: ['named-uuid', q['uuid-name']] });
  });

  it('warns about created rows nobody refers to, and about create without --id on non-root tables', () => {
    let r = vsctlRun(db(), '--', '--id=@c', 'create', 'Controller', 'target=y');
    expect(r.warnings).toEqual(['vsctl|row id "@c" was created but no reference to it was inserted, so it will not actually appear in the database']);
    r = vsctlRun(db(), 'create', 'Controller', 'target=x');
    expect(r.warnings).toEqual(['db_ctl_base|applying "create" command to table Controller without --id option will have no effect']);
    const m = db();
    r = vsctlRun(m, '--id=@q', 'create', 'QoS', 'type=linux-htb');
    expect(r.warnings).toEqual([]);
    expect(ops(m, 'insert', 'QoS')).toHaveLength(1);
    // An unreferenced non-root row is not even sent.
    const m2 = db();
    vsctlRun(m2, 'create', 'Controller', 'target=x');
    expect(ops(m2, 'insert')).toEqual([]);
  });

  it('create --id=UUID inserts the row with that uuid', () => {
    const m = db();
    const id = '12345678-1234-1234-1234-123456789abc';
    expect(vsctl(m, '--id=' + id, 'create', 'QoS', 'type=x')).toEqual([id]);
    expect(ops(m, 'insert', 'QoS')[0]).toMatchObject({ uuid: id, row: { type: 'x' } });
    expect(vsctl(m, 'get', 'QoS', '1234', 'type')).toEqual(['x']);
    fails(['--id=abcd0000-0000-0000-0000-000000000009', 'create', 'QoS', 'type=x'], 'transaction error: {"details":"This UUID would duplicate a UUID already present within the table or deleted within the same transaction.","error":"duplicate uuid","syntax":"\\"abcd0000-0000-0000-0000-000000000009\\""}');
  });

  it('row id errors', () => {
    fails(['--', 'set', 'Bridge', 'br0', 'controller=@zz'], 'row id "@zz" is referenced but never created (e.g. with "-- --id=@zz create ...")');
    fails(['--', '--id=c', 'create', 'Controller', 'target=y'], 'row id "c" does not begin with "@"');
    fails(['--', '--id=@c', 'create', 'Controller', 'target=y', '--', '--id=@c', 'create', 'Controller', 'target=z'], 'row id "@c" may only be specified on one --id option');
    fails(['set', 'Bridge', 'br0', 'controller=@c'], 'row id "@c" is referenced but never created');
  });

  it('destroy deletes rows of root tables; for other tables it is ignored, as ovs-vsctl documents', () => {
    let m = db();
    vsctl(m, 'destroy', 'QoS', 'abcd');
    expect(ops(m, 'delete', 'QoS')).toEqual([{ op: 'delete', table: 'QoS', where: [['_uuid', '==', ['uuid', 'abcd0000-0000-0000-0000-000000000009']]] }]);
    m = db();
    vsctl(m, '--all', 'destroy', 'QoS');
    expect(ops(m, 'delete', 'QoS')).toHaveLength(1);
    m = db();
    vsctl(m, 'destroy', 'Controller', U(8), '--', '--all', 'destroy', 'Interface');
    expect(m.toOps()).toEqual([]);
    expect(vsctlRun(db(), 'destroy', 'QoS').warnings).toEqual(['db_ctl_base|either --all or records argument should be specified']);
  });

  it('destroy errors', () => {
    fails(['--all', 'destroy', 'QoS', 'x'], '--all and records argument should not be specified together');
    fails(['--all', '--if-exists', 'destroy', 'QoS'], '--all and --if-exists should not be specified together');
    fails(['destroy', 'QoS', 'nosuch'], 'no row "nosuch" in table QoS');
    expect(vsctl(db(), '--if-exists', 'destroy', 'QoS', 'nosuch')).toEqual([]);
  });
});

describe('wait-until and comment', () => {
  it('wait-until runs the chain only once its conditions hold', () => {
    expect(vsctlRun(db(), 'wait-until', 'Bridge', 'br0', '--', 'get', 'Bridge', 'br0', 'name').stdout).toBe('br0\n');
    expect(vsctlRun(db(), 'wait-until', 'Port', 'p1', 'tag=10', 'external_ids:k=v', '--', 'list-br').stdout).toBe('br0\n');
    expect(vsctlRun(db(), 'wait-until', 'Bridge', 'br9').stdout).toBe('<wait-until: try again>');
    expect(vsctlRun(db(), 'wait-until', 'Port', 'p1', 'tag=11').stdout).toBe('<wait-until: try again>');
    fails(['wait-until', 'Bridge', 'br0', 'foo=1'], 'Bridge does not contain a column whose name matches "foo"');
  });

  it('comment does nothing', () => {
    const m = db();
    expect(vsctl(m, 'comment', 'a', 'b', '--', 'comment')).toEqual([]);
    expect(m.changed()).toBe(false);
  });
});
