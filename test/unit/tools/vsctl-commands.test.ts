import { describe, expect, it } from 'vitest';
import { ToolExit } from '../../../tools/common.js';
import { showDb } from '../../../tools/vsctl/show.js';
import { model, OVS_UUID, vsctl } from './helpers.js';

const U = (n: number): string => `00000000-0000-0000-0000-${String(n).padStart(12, '0')}`;

/** br0 with its local port and vm1 (tap, tag 10), as rows read from the database. */
function br0Model() {
  return model({
    Open_vSwitch: [{ _uuid: ['uuid', OVS_UUID], bridges: ['uuid', U(1)], next_cfg: 3, cur_cfg: 3, ovs_version: '0.1.0' }],
    Bridge: [{ _uuid: ['uuid', U(1)], name: 'br0', ports: ['set', [['uuid', U(2)], ['uuid', U(3)]]] }],
    Port: [
      { _uuid: ['uuid', U(2)], name: 'br0', interfaces: ['uuid', U(4)] },
      { _uuid: ['uuid', U(3)], name: 'vm1', interfaces: ['uuid', U(5)], tag: 10 },
    ],
    Interface: [
      { _uuid: ['uuid', U(4)], name: 'br0', type: 'internal' },
      { _uuid: ['uuid', U(5)], name: 'vm1', type: 'tap', options: ['map', [['peer', 'x']]] },
    ],
  });
}

const byOp = (ops: Record<string, any>[], op: string, table?: string) => ops.filter((o) => o.op === op && (!table || o.table === table));

describe('vsctl commands -> one transaction', () => {
  it('add-br inserts Interface(internal) + Port + Bridge and adds the bridge to Open_vSwitch', () => {
    const m = model();
    vsctl(m, 'add-br', 'br0');
    const ops = m.toOps();
    const [iface] = byOp(ops, 'insert', 'Interface');
    const [port] = byOp(ops, 'insert', 'Port');
    const [br] = byOp(ops, 'insert', 'Bridge');
    expect(iface.row).toEqual({ name: 'br0', type: 'internal' });
    expect(port.row).toEqual({ name: 'br0', interfaces: ['named-uuid', iface['uuid-name']] });
    expect(br.row).toEqual({ name: 'br0', ports: ['named-uuid', port['uuid-name']] });
    const where = [['_uuid', '==', ['uuid', OVS_UUID]]];
    expect(byOp(ops, 'wait')).toEqual([{ op: 'wait', table: 'Open_vSwitch', where, columns: ['bridges'], until: '==', rows: [{ bridges: ['set', []] }], timeout: 0 }]);
    expect(byOp(ops, 'update')).toEqual([{ op: 'update', table: 'Open_vSwitch', where, row: { bridges: ['named-uuid', br['uuid-name']] } }]);
    expect(ops.findIndex((o) => o.op === 'wait')).toBe(0);
  });

  it('a later command in a chain sees rows an earlier one created (folded into the insert)', () => {
    const m = br0Model();
    vsctl(m, 'add-port', 'br0', 'vm2', 'tag=20', '--', 'set', 'Interface', 'vm2', 'type=tap', 'options:k=v');
    const ops = m.toOps();
    const [iface] = byOp(ops, 'insert', 'Interface');
    expect(iface.row).toEqual({ name: 'vm2', type: 'tap', options: ['map', [['k', 'v']]] });
    const [port] = byOp(ops, 'insert', 'Port');
    expect(port.row).toMatchObject({ name: 'vm2', tag: 20 });
    const [upd] = byOp(ops, 'update', 'Bridge');
    expect(upd.row.ports).toEqual(['set', [['uuid', U(2)], ['uuid', U(3)], ['named-uuid', port['uuid-name']]]]);
    expect(byOp(ops, 'wait', 'Bridge')[0].rows).toEqual([{ ports: ['set', [['uuid', U(2)], ['uuid', U(3)]]] }]);
    expect(byOp(ops, 'update', 'Open_vSwitch')).toEqual([]);
  });

  it('set on existing rows: update for columns, mutate for map keys', () => {
    const m = br0Model();
    vsctl(m, 'set', 'Port', 'vm1', 'tag=30', '--', 'set', 'Interface', 'vm1', 'options:peer=y', 'options:new=1', '--', 'set', 'Bridge', 'br0', 'other_config:hwaddr=02:00:00:00:00:01');
    const ops = m.toOps();
    expect(byOp(ops, 'update', 'Port')).toEqual([{ op: 'update', table: 'Port', where: [['_uuid', '==', ['uuid', U(3)]]], row: { tag: 30 } }]);
    expect(byOp(ops, 'mutate', 'Interface')[0].mutations).toEqual([
      ['options', 'delete', ['set', ['peer']]],
      ['options', 'insert', ['map', [['new', '1'], ['peer', 'y']]]],
    ]);
    expect(byOp(ops, 'mutate', 'Bridge')[0].mutations).toEqual([['other_config', 'insert', ['map', [['hwaddr', '02:00:00:00:00:01']]]]]);
    expect(byOp(ops, 'wait')).toEqual([]);
    expect(byOp(ops, 'insert')).toEqual([]);
  });

  it('del-port and del-br only drop references (the server collects the rows)', () => {
    let m = br0Model();
    vsctl(m, 'del-port', 'br0', 'vm1');
    let ops = m.toOps();
    expect(byOp(ops, 'update', 'Bridge')[0].row).toEqual({ ports: ['uuid', U(2)] });
    expect(byOp(ops, 'delete')).toEqual([]);
    expect(m.rows('Interface').map((r) => r.uuid)).toEqual([U(4)]);
    m = br0Model();
    vsctl(m, 'del-br', 'br0');
    ops = m.toOps();
    expect(byOp(ops, 'update', 'Open_vSwitch')[0].row).toEqual({ bridges: ['set', []] });
    expect(m.rows('Port')).toEqual([]);
  });

  it('commands that change nothing produce no transaction', () => {
    const m = br0Model();
    expect(vsctl(m, 'list-br', '--', 'list-ports', 'br0', '--', '--may-exist', 'add-br', 'br0', '--', '--if-exists', 'del-br', 'nope', '--', 'get', 'Port', 'vm1', 'tag')).toEqual(['br0', 'vm1', '10']);
    expect(m.changed()).toBe(false);
    const m2 = model();
    vsctl(m2, 'add-br', 'x', '--', 'del-br', 'x');
    expect(byOp(m2.toOps(), 'insert')).toEqual([]);
  });

  it('reports errors in ovs-vsctl wording', () => {
    const err = (argv: string[], msg: string) => expect(() => vsctl(br0Model(), ...argv)).toThrow(msg);
    err(['add-br', 'br0'], 'cannot create a bridge named br0 because a bridge named br0 already exists');
    err(['add-br', 'vm1'], 'cannot create a bridge named vm1 because a port named vm1 already exists on bridge br0');
    err(['add-port', 'br0', 'vm1'], 'cannot create a port named vm1 because a port named vm1 already exists on bridge br0');
    err(['add-port', 'br9', 'vm1'], 'cannot create a port named vm1 because a port named vm1 already exists on bridge br0');
    err(['add-port', 'br9', 'x'], 'no bridge named br9');
    err(['add-port', 'br0', 'x', 'foo=1'], 'Port does not contain a column whose name matches "foo"');
    err(['add-port', 'br0', 'x', 'tag'], 'tag: argument does not end in "=" followed by a value.');
    err(['add-br', 'br1', '--', '--may-exist', 'add-port', 'br1', 'vm1'], '"--may-exist add-port br1 vm1" but vm1 is actually attached to bridge br0');
    err(['add-br', 'a', 'b'], "'add-br' command takes exactly 1 or 3 arguments");
    err(['del-br', 'br9'], 'no bridge named br9');
    err(['del-port', 'vm9'], 'no port named vm9');
    err(['del-port', 'br9', 'vm1'], 'no bridge named br9');
    err(['add-br', 'br1', '--', 'del-port', 'br1', 'vm1'], 'bridge br1 does not have a port vm1');
    err(['del-port', 'br0'], 'cannot delete port br0 because it is the local port for bridge br0 (deleting this port requires deleting the entire bridge)');
    err(['list-ports', 'br9'], 'no bridge named br9');
    err(['list', 'Foo'], 'unknown table "Foo"');
    err(['list', 'Interface', 'vm9'], 'no row "vm9" in table Interface');
    err(['set', 'Interface', 'vm9', 'type=tap'], 'no row "vm9" in table Interface');
    err(['set', 'Interface', 'vm1', 'name=x'], 'cannot modify read-only column name in table Interface');
    err(['set', 'Port', 'vm1', 'tag:x=1'], 'cannot specify key to set for non-map column tag');
    err(['get', 'Port', 'vm1', 'tag:x'], 'cannot specify key to get for non-map column tag');
    err(['get', 'Interface', 'vm1', 'options:zz'], 'no key "zz" in Interface record "vm1" column options');
    err(['get', 'Interface', 'vm1', 'o'], 'Interface contains more than one column whose name matches "o": ofport, ofport_request, options, other_config');
    err(['set', 'Port', 'vm1', 'tag=5000'], 'constraint violation: 5000 is not in the valid range 0 to 4095 (inclusive)');
    expect(() => vsctl(br0Model(), 'br-exists', 'br9')).toThrow(ToolExit);
  });

  it('--if-exists makes missing records silent', () => {
    const m = br0Model();
    expect(vsctl(m, '--if-exists', 'get', 'Interface', 'vm9', 'type', '--', '--if-exists', 'del-port', 'vm9', '--', '--if-exists', 'set', 'Port', 'x', 'tag=1', '--', '--if-exists', 'list', 'Bridge', 'nope')).toEqual([]);
    expect(m.changed()).toBe(false);
  });

  it('finds records by uuid, name, unique prefixes and "."', () => {
    const m = br0Model();
    expect(vsctl(m, 'get', 'Open_vSwitch', '.', 'ovs_version', '--', 'get', 'in', U(5), 'name', '--', 'get', 'Port', 'vm1', 'ta', '_uuid')).toEqual(['"0.1.0"', 'vm1', '10', U(3)]);
    expect(vsctl(m, 'list-ifaces', 'br0', '--', 'port-to-br', 'vm1', '--', 'iface-to-br', 'vm1', '--', 'br-exists', 'br0')).toEqual(['vm1', 'br0', 'br0']);
  });
});

describe('show and list output', () => {
  it('show prints the tree like ovs-vsctl show, sorted by name', () => {
    const m = br0Model();
    vsctl(m, 'add-port', 'br0', 'a1', '--', 'add-br', 'br1', '--', 'add-port', 'br0', 'p 1', 'trunks=1,2', '--', 'set', 'Interface', 'a1', 'error="could not open network device a1 (No such device)"');
    expect(showDb(m)).toBe(`${OVS_UUID}
    Bridge br0
        Port a1
            Interface a1
                error: "could not open network device a1 (No such device)"
        Port br0
            Interface br0
                type: internal
        Port "p 1"
            trunks: [1, 2]
            Interface "p 1"
        Port vm1
            tag: 10
            Interface vm1
                type: tap
                options: {peer=x}
    Bridge br1
        Port br1
            Interface br1
                type: internal
    ovs_version: "0.1.0"`);
    expect(vsctl(m, 'show').join('\n')).toBe(showDb(m));
  });

  it('list prints "column : value" with names padded to 20, records separated by a blank line', () => {
    const m = br0Model();
    const lines = vsctl(m, 'list', 'Port', U(3));
    expect(lines[0]).toBe(`_uuid               : ${U(3)}`);
    expect(lines).toContain('interfaces          : [00000000-0000-0000-0000-000000000005]');
    expect(lines).toContain('tag                 : 10');
    expect(lines).toContain('trunks              : []');
    expect(lines).toContain('name                : vm1');
    expect(lines).toContain('fake_bridge         : false');
    expect(lines).toContain('other_config        : {}');
    const names = lines.slice(1).map((l) => l.slice(0, 20).trim());
    expect(names).toEqual([...names].sort());
    const iface = vsctl(m, 'list', 'Interface', 'vm1');
    expect(iface).toContain('ingress_policing_burst: 0');
    expect(iface).toContain('error               : []');
    expect(vsctl(m, '--columns=name,tag', 'list', 'Port', 'vm1', 'br0')).toEqual(['name                : vm1', 'tag                 : 10', '', 'name                : br0', 'tag                 : []']);
  });
});
