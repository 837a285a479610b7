import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { DpifClient } from '../../../src/lib/dpif-client.js';
import { map, set, uuid } from '../../../src/ovsdb/datum.js';
import { OFPP_LOCAL } from '../../../src/vswitchd/bridge.js';
import { PortStatusWatch, portStatusChanged, portVlanConfig, reconcile, waitingForDevices, type ConfigDb, type Row } from '../../../src/vswitchd/config.js';
import { VswitchError } from '../../../src/lib/errors.js';
import { SwitchState, type DpPort } from '../../../src/vswitchd/state.js';

const log = pino({ level: 'silent' });

/** An in-memory datapath answering the port requests reconciliation makes. */
class FakeDp {
  ports: DpPort[] = [];
  next = 1;
  calls: string[] = [];
  failAdd = new Set<string>();
  /** Names whose device does not exist (system ports). */
  missing = new Set<string>();
  async request(method: string, params: any): Promise<any> {
    this.calls.push(method);
    switch (method) {
      case 'port_list':
        return this.ports.map((p) => ({ ...p }));
      case 'port_add': {
        const have = this.ports.find((p) => p.name === params.name && p.type === params.type);
        if (have) return { port_no: have.port_no };
        if (this.failAdd.has(params.name)) throw Object.assign(new Error('No such device'), { code: 'NETDEV_OPEN' });
        if (this.missing.has(params.name)) {
          throw new VswitchError('NO_SUCH_DEVICE', `could not open network device ${params.name} (No such device); to have the switch create it, use type=tap or type=internal`);
        }
        const port_no = this.next++;
        this.ports.push({ port_no, name: params.name, type: params.type, mac: `02:00:00:00:00:${port_no.toString(16).padStart(2, '0')}` });
        return { port_no };
      }
      case 'port_del':
        this.ports = this.ports.filter((p) => p.port_no !== params.port_no);
        return {};
      case 'set_config':
        return {};
      default:
        throw new Error(`unexpected ${method}`);
    }
  }
}

/** A tiny replica: tables of rows, transact applies 'update' ops by _uuid. */
class FakeDb implements ConfigDb {
  tables = new Map<string, Map<string, Row>>();
  txns: any[][] = [];
  n = 0;
  constructor() {
    for (const t of ['Open_vSwitch', 'Bridge', 'Port', 'Interface']) this.tables.set(t, new Map());
  }
  add(table: string, row: Record<string, unknown>): string {
    const u = `00000000-0000-0000-0000-${String(++this.n).padStart(12, '0')}`;
    this.tables.get(table)!.set(u, { _uuid: u, ...row });
    return u;
  }
  rows(t: string): Map<string, Row> {
    return this.tables.get(t)!;
  }
  get(t: string, u: string): Row | undefined {
    return this.tables.get(t)!.get(u);
  }
  async transact(ops: any[]): Promise<unknown> {
    this.txns.push(ops);
    for (const op of ops) {
      const row = this.get(op.table, op.where[0][2][1])!;
      Object.assign(row, op.row);
    }
    return [];
  }
  iface(name: string): Row {
    return [...this.rows('Interface').values()].find((r) => r.name === name)!;
  }
}

const IFACE = { ofport: set([]), ofport_request: set([]), error: set([]), mac_in_use: set([]) };

function setup(): { db: FakeDb; dp: FakeDp; st: SwitchState } {
  const db = new FakeDb();
  const ifs = [
    db.add('Interface', { ...IFACE, name: 'br0', type: 'internal' }),
    db.add('Interface', { ...IFACE, name: 'vm1', type: 'tap' }),
    db.add('Interface', { ...IFACE, name: 'eth9', type: '' }),
    db.add('Interface', { ...IFACE, name: 'vm2', type: 'tap', ofport_request: 7 }),
  ];
  const ports = ifs.map((i, k) => db.add('Port', { name: ['br0', 'vm1', 'eth9', 'vm2'][k], interfaces: set([uuid(i)]), tag: k === 1 ? 10 : set([]), trunks: set([]), vlan_mode: set([]) }));
  const br = db.add('Bridge', { name: 'br0', ports: set(ports.map(uuid)), other_config: map({ 'mac-aging-time': '30' }) });
  db.add('Open_vSwitch', { bridges: set([uuid(br)]), next_cfg: 3, cur_cfg: 0, other_config: map({ 'max-idle': '2500' }) });
  return { db, dp: new FakeDp(), st: new SwitchState() };
}

describe('reconcile', () => {
  it('creates datapath ports, assigns ofports, reports unsupported types and sets cur_cfg', async () => {
    const { db, dp, st } = setup();
    db.iface('eth9').type = 'bogus';
    await reconcile(st, db, dp as unknown as DpifClient, log);
    expect(dp.ports.map((p) => p.name).sort()).toEqual(['br0', 'vm1', 'vm2']);
    expect(db.iface('br0').ofport).toBe(OFPP_LOCAL);
    expect(db.iface('vm1').ofport).toBe(1);
    expect(db.iface('vm2').ofport).toBe(7);
    expect(db.iface('eth9').ofport).toBe(-1);
    expect(db.iface('eth9').error).toBe('could not open network device eth9 (unknown type "bogus"; use type=system, type=tap or type=internal)');
    expect(db.iface('vm1').mac_in_use).toMatch(/^02:00:00:00:00:0/);
    expect(db.rows('Open_vSwitch').values().next().value!.cur_cfg).toBe(3);
    const br = st.bridges.get('br0')!;
    expect(br.macs.agingS).toBe(30);
    expect(st.maxIdleMs).toBe(2500);
    expect(br.port(1)!.vlan).toEqual({ mode: 'access', tag: 10, trunks: null });
    expect(st.portsByOdp.get(br.port(7)!.odpPort)!.name).toBe('vm2');
  });

  it('is idempotent: a second run writes nothing and touches no port', async () => {
    const { db, dp, st } = setup();
    await reconcile(st, db, dp as unknown as DpifClient, log);
    const txns = db.txns.length;
    dp.calls = [];
    await reconcile(st, db, dp as unknown as DpifClient, log);
    expect(db.txns.length).toBe(txns);
    expect(dp.calls.filter((c) => c !== 'port_list')).toEqual([]);
  });

  it('adopts existing datapath ports by name, deletes unconfigured ones and keeps ofports', async () => {
    const { db, dp, st } = setup();
    await reconcile(st, db, dp as unknown as DpifClient, log);
    const before = dp.ports.map((p) => ({ ...p }));
    dp.ports.push({ port_no: 99, name: 'stale', type: 'tap' });
    // A restarted vswitchd: fresh state, same datapath.
    const st2 = new SwitchState();
    await reconcile(st2, db, dp as unknown as DpifClient, log);
    expect(dp.ports).toEqual(before);
    expect(st2.bridges.get('br0')!.port(1)!.odpPort).toBe(st.bridges.get('br0')!.port(1)!.odpPort);
  });

  it('writes the datapath error and keeps going when a port cannot be created', async () => {
    const { db, dp, st } = setup();
    dp.failAdd.add('vm1');
    await reconcile(st, db, dp as unknown as DpifClient, log);
    expect(db.iface('vm1').error).toBe('could not open network device vm1 (No such device)');
    expect(db.iface('vm1').ofport).toBe(-1);
    expect(db.iface('vm2').ofport).toBe(7);
  });

  it('adds "" and system interfaces as system ports; a missing device gets the helpful error', async () => {
    const { db, dp, st } = setup();
    dp.missing.add('eth9');
    await reconcile(st, db, dp as unknown as DpifClient, log);
    expect(db.iface('eth9').error).toBe('could not open network device eth9 (No such device); to have the switch create it, use type=tap or type=internal');
    expect(db.iface('eth9').ofport).toBe(-1);
    expect(waitingForDevices(db.rows('Interface'))).toBe(true);
    dp.missing.clear(); // the device appeared
    await reconcile(st, db, dp as unknown as DpifClient, log);
    expect(dp.ports.find((p) => p.name === 'eth9')?.type).toBe('system');
    expect(db.iface('eth9').error).toEqual(set([]));
    expect(db.iface('eth9').ofport).toBeGreaterThan(0);
    expect(waitingForDevices(db.rows('Interface'))).toBe(false);
  });

  it('writes the device state of a port (error, link_state) and keeps the port on its bridge', async () => {
    const { db, dp, st } = setup();
    db.iface('eth9').link_state = set([]);
    await reconcile(st, db, dp as unknown as DpifClient, log);
    const eth9 = dp.ports.find((p) => p.name === 'eth9')! as any;
    eth9.link_state = 'up';
    eth9.error = '';
    await reconcile(st, db, dp as unknown as DpifClient, log);
    expect(db.iface('eth9').link_state).toBe('up');
    const ofport = db.iface('eth9').ofport;
    const before = st.dpPorts.map((p) => ({ ...p }));
    eth9.link_state = 'missing';
    eth9.error = 'network device eth9 disappeared (No such device); the port resumes when a device of that name returns';
    expect(portStatusChanged(before, dp.ports)).toBe(true);
    await reconcile(st, db, dp as unknown as DpifClient, log);
    expect(db.iface('eth9').error).toBe(eth9.error);
    expect(db.iface('eth9').link_state).toBe('down');
    expect(db.iface('eth9').ofport).toBe(ofport);
    expect(portStatusChanged(st.dpPorts, dp.ports)).toBe(false);
    eth9.link_state = 'up';
    eth9.error = '';
    await reconcile(st, db, dp as unknown as DpifClient, log);
    expect(db.iface('eth9').error).toEqual(set([]));
    expect(db.iface('eth9').link_state).toBe('up');
  });

  it('PortStatusWatch reconciles when a device state changes, and retries while one is missing', async () => {
    const { db, dp, st } = setup();
    await reconcile(st, db, dp as unknown as DpifClient, log);
    st.ready = true;
    let runs = 0;
    const watch = new PortStatusWatch(st, () => dp as unknown as DpifClient, () => db.rows('Interface'), async () => {
      runs++;
      await reconcile(st, db, dp as unknown as DpifClient, log);
    });
    await watch.tick();
    expect(runs).toBe(0);
    (dp.ports.find((p) => p.name === 'eth9') as any).link_state = 'down';
    await watch.tick();
    expect(runs).toBe(1);
    await watch.tick();
    expect(runs).toBe(1);
    db.iface('eth9').error = 'could not open network device eth9 (No such device); to have the switch create it, use type=tap or type=internal';
    for (let i = 0; i < PortStatusWatch.RETRY_TICKS; i++) await watch.tick();
    expect(runs).toBe(2);
  });

  it('removes a deleted port from the datapath and flushes its MACs', async () => {
    const { db, dp, st } = setup();
    db.iface('eth9').type = 'bogus'; // ofports 1 and 7 only
    await reconcile(st, db, dp as unknown as DpifClient, log);
    const br = st.bridges.get('br0')!;
    br.macs.learn(0x020000000001, 10, 1, Date.now());
    br.macs.learn(0x020000000002, 0, 7, Date.now());
    const brRow = [...db.rows('Bridge').values()][0];
    const vm1Port = [...db.rows('Port').values()].find((p) => p.name === 'vm1')!;
    brRow.ports = set((brRow.ports as [string, unknown[]])[1].filter((a) => (a as string[])[1] !== vm1Port._uuid));
    await reconcile(st, db, dp as unknown as DpifClient, log);
    expect(dp.ports.map((p) => p.name).sort()).toEqual(['br0', 'vm2']);
    expect(br.port(1)).toBeUndefined();
    expect(br.macs.size).toBe(1);
    expect(br.macs.lookup(0x020000000002, 0)).toBe(7);
  });
});

describe('portVlanConfig', () => {
  it('follows OVS defaults: tag means access, no tag means trunk of all VLANs', () => {
    expect(portVlanConfig({ tag: set([]), trunks: set([]), vlan_mode: set([]) })).toEqual({ mode: 'trunk', tag: -1, trunks: null });
    expect(portVlanConfig({ tag: 5, trunks: set([]), vlan_mode: set([]) })).toEqual({ mode: 'access', tag: 5, trunks: null });
    expect(portVlanConfig({ tag: set([]), trunks: set([1, 2]), vlan_mode: set([]) }).trunks).toEqual(new Set([1, 2]));
    expect(portVlanConfig({ tag: 3, trunks: 4, vlan_mode: 'native-untagged' })).toEqual({ mode: 'native-untagged', tag: 3, trunks: new Set([4]) });
  });
});
