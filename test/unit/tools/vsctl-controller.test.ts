/*
 * vsctl's controller, fail-mode and manager commands, add-bond, the bridge external-id
 * commands, and how show prints controllers, managers and fail_mode, against a working model.
 */
import { describe, expect, it } from 'vitest';
import { model, OVS_UUID, vsctl, vsctlRun } from './helpers.js';

const U = (n: number): string => `00000000-0000-0000-0000-${String(n).padStart(12, '0')}`;

function br0() {
  return model({
    Open_vSwitch: [{ _uuid: ['uuid', OVS_UUID], bridges: ['uuid', U(1)] }],
    Bridge: [{ _uuid: ['uuid', U(1)], name: 'br0', ports: ['uuid', U(2)] }],
    Port: [{ _uuid: ['uuid', U(2)], name: 'br0', interfaces: ['uuid', U(3)] }],
    Interface: [{ _uuid: ['uuid', U(3)], name: 'br0', type: 'internal' }],
  });
}

const ops = (m: ReturnType<typeof br0>, op: string, table?: string) => m.toOps().filter((o: any) => o.op === op && (!table || o.table === table)) as any[];
const fails = (argv: string[], msg: string): void => {
  expect(() => vsctl(br0(), ...argv)).toThrow(msg);
};

describe('controllers', () => {
  it('set-controller creates one Controller row per target; get-controller prints them sorted', () => {
    const m = br0();
    vsctl(m, 'set-controller', 'br0', 'tcp:9.9.9.9:6653', 'ptcp:6633', 'unix:/x');
    expect(vsctl(m, 'get-controller', 'br0')).toEqual(['ptcp:6633', 'tcp:9.9.9.9:6653', 'unix:/x']);
    const inserts = ops(m, 'insert', 'Controller');
    expect(inserts.map((o) => o.row.target).sort()).toEqual(['ptcp:6633', 'tcp:9.9.9.9:6653', 'unix:/x']);
    const refs = ops(m, 'update', 'Bridge')[0].row.controller;
    expect(refs[0]).toBe('set');
    expect(refs[1].map((r: string[]) => r[1]).sort()).toEqual(inserts.map((o) => o['uuid-name']).sort());
  });

  it('set-controller replaces the old rows, del-controller drops them (collected, not deleted)', () => {
    const m = br0();
    vsctl(m, 'set-controller', 'br0', 'tcp:1.1.1.1:6653');
    vsctl(m, '--inactivity-probe=3000', 'set-controller', 'br0', 'tcp:2.2.2.2:6653', 'tcp:3.3.3.3');
    expect(vsctl(m, 'get-controller', 'br0')).toEqual(['tcp:2.2.2.2:6653', 'tcp:3.3.3.3']);
    expect(ops(m, 'insert', 'Controller').map((o) => o.row)).toEqual([
      { target: 'tcp:2.2.2.2:6653', inactivity_probe: 3000 },
      { target: 'tcp:3.3.3.3', inactivity_probe: 3000 },
    ]);
    vsctl(m, 'del-controller', 'br0');
    expect(vsctl(m, 'get-controller', 'br0')).toEqual([]);
    expect(ops(m, 'insert', 'Controller')).toEqual([]);
    expect(ops(m, 'delete')).toEqual([]);
  });

  it('warns about unknown target types, as ovs-vsctl does', () => {
    expect(vsctlRun(br0(), 'set-controller', 'br0', 'bogus:1').warnings).toEqual(['vsctl|target type "bogus:1" is possibly erroneous']);
    expect(vsctlRun(br0(), 'set-controller', 'br0', 'tcp:1.2.3.4', 'ssl:1.2.3.4:6653', 'punix:/x', 'pssl:6653').warnings).toEqual([]);
  });

  it('fail mode', () => {
    const m = br0();
    expect(vsctl(m, 'get-fail-mode', 'br0')).toEqual([]);
    vsctl(m, 'set-fail-mode', 'br0', 'secure');
    expect(vsctl(m, 'get-fail-mode', 'br0')).toEqual(['secure']);
    expect(ops(m, 'update', 'Bridge')[0].row).toEqual({ fail_mode: 'secure' });
    vsctl(m, 'del-fail-mode', 'br0');
    expect(vsctl(m, 'get-fail-mode', 'br0')).toEqual([]);
    expect(m.changed()).toBe(false);
  });

  it('errors in ovs-vsctl wording', () => {
    fails(['set-fail-mode', 'br0', 'foo'], 'fail-mode must be "standalone" or "secure"');
    for (const cmd of [['set-fail-mode', 'br9', 'secure'], ['get-fail-mode', 'br9'], ['del-fail-mode', 'br9'], ['set-controller', 'br9', 'tcp:1.1.1.1'], ['get-controller', 'br9'], ['del-controller', 'br9']]) {
      fails(cmd, 'no bridge named br9');
    }
  });

  it('show prints controllers (is_connected when true) and fail_mode under the bridge, managers first', () => {
    const m = br0();
    vsctl(m, 'set-controller', 'br0', 'tcp:2.2.2.2', 'tcp:1.1.1.1:6653', '--', 'set-fail-mode', 'br0', 'secure', '--', 'set-manager', 'ptcp:6640');
    vsctl(m, 'set', 'Controller', m.rows('Controller').find((r) => r.cols.get('target')!.keys[0] === 'tcp:2.2.2.2')!.uuid, 'is_connected=true');
    expect(vsctl(m, 'show').join('\n')).toBe(`${OVS_UUID}
    Manager "ptcp:6640"
    Bridge br0
        Controller "tcp:1.1.1.1:6653"
        Controller "tcp:2.2.2.2"
            is_connected: true
        fail_mode: secure
        Port br0
            Interface br0
                type: internal`);
  });
});

describe('managers', () => {
  it('set-manager, get-manager (sorted), del-manager', () => {
    const m = br0();
    vsctl(m, 'set-manager', 'tcp:1.2.3.4:6640', 'ptcp:6640');
    expect(vsctl(m, 'get-manager')).toEqual(['ptcp:6640', 'tcp:1.2.3.4:6640']);
    expect(ops(m, 'insert', 'Manager')).toHaveLength(2);
    vsctl(m, 'del-manager');
    expect(vsctl(m, 'get-manager')).toEqual([]);
    expect(m.changed()).toBe(false);
  });
});

describe('add-bond and bridge external ids', () => {
  it('add-bond creates one port with several interfaces, then applies column settings', () => {
    const m = br0();
    vsctl(m, 'add-bond', 'br0', 'bond0', 'e1', 'e2', 'bond_mode=balance-slb', 'tag=7');
    expect(vsctl(m, 'list-ports', 'br0', '--', 'list-ifaces', 'br0', '--', 'iface-to-br', 'e2', '--', 'get', 'Port', 'bond0', 'bond_mode', 'tag')).toEqual(['bond0', 'e1', 'e2', 'br0', 'balance-slb', '7']);
    expect(ops(m, 'insert', 'Interface').map((o) => o.row.name).sort()).toEqual(['e1', 'e2']);
    expect(vsctl(m, '--may-exist', 'add-bond', 'br0', 'bond0', 'e2', 'e1')).toEqual([]);
    expect(() => vsctl(m, '--may-exist', 'add-bond', 'br0', 'bond0', 'e1', 'e3')).toThrow('"--may-exist add-bond br0 bond0 e1 e3" but bond0 actually has interface(s) e1, e2');
    expect(() => vsctl(m, 'add-bond', 'br0', 'b2', 'e9', 'e1')).toThrow('cannot create an interface named e1 because an interface named e1 already exists on bridge br0');
    fails(['add-bond', 'br0', 'b1', 'x', 'tag=1'], 'add-bond requires at least 2 interfaces, but only 1 were specified');
    fails(['add-port', 'br0', ''], 'port name must not be empty string');
  });

  it('br-set-external-id / br-get-external-id', () => {
    const m = br0();
    vsctl(m, 'br-set-external-id', 'br0', 'k', 'v', '--', 'br-set-external-id', 'br0', 'a', 'b');
    expect(vsctl(m, 'br-get-external-id', 'br0', '--', 'br-get-external-id', 'br0', 'k', '--', 'br-get-external-id', 'br0', 'zz')).toEqual(['a=b', 'k=v', 'v']);
    vsctl(m, 'br-set-external-id', 'br0', 'k');
    expect(vsctl(m, 'br-get-external-id', 'br0')).toEqual(['a=b']);
    fails(['br-get-external-id', 'br9'], 'no bridge named br9');
  });

  it('list-br --real lists every bridge, --fake none (there are no fake bridges)', () => {
    expect(vsctl(br0(), '--real', 'list-br')).toEqual(['br0']);
    expect(vsctl(br0(), '--fake', 'list-br')).toEqual([]);
  });
});
