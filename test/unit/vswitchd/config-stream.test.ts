// Reconciliation of `stream` interfaces against a real in-process datapath (no root): the
// options:path checks land in Interface.error with the port's name, a good path becomes a
// listening socket, the link state follows the peer, a changed path moves the socket, and a
// removed port takes its socket file with it.
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Datapath } from '../../../src/datapath/datapath.js';
import { DpifClient } from '../../../src/lib/dpif-client.js';
import { map, set, uuid } from '../../../src/ovsdb/datum.js';
import { reconcile, waitingForDevices, type ConfigDb, type Row } from '../../../src/vswitchd/config.js';
import { SwitchState } from '../../../src/vswitchd/state.js';

const log = pino({ level: 'silent' });

/** A tiny replica: tables of rows; transact applies 'update' ops by _uuid. */
class FakeDb implements ConfigDb {
  private readonly tables = new Map<string, Map<string, Row>>();
  private n = 0;
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
    for (const op of ops) Object.assign(this.get(op.table, op.where[0][2][1])!, op.row);
    return [];
  }
  iface(name: string): Row {
    return [...this.rows('Interface').values()].find((r) => r.name === name)!;
  }
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

describe('reconcile: stream interfaces', () => {
  let dir = '';
  let dp: Datapath;
  let client: DpifClient;
  let db: FakeDb;
  let st: SwitchState;
  let br = '';
  const peers: net.Socket[] = [];

  /** Adds Port+Interface `name` of type stream (options as given) to the bridge. */
  function addStream(name: string, options: Record<string, string>): void {
    const i = db.add('Interface', { name, type: 'stream', options: map(options), ofport: set([]), error: set([]), link_state: set([]) });
    const p = db.add('Port', { name, interfaces: set([uuid(i)]), tag: set([]), trunks: set([]), vlan_mode: set([]) });
    const b = db.get('Bridge', br)!;
    b.ports = set([...((b.ports as [string, unknown[]])[1] as unknown[]), uuid(p)]);
  }
  const run = (): Promise<boolean> => reconcile(st, db, client, log);
  const dpPorts = async (): Promise<{ name: string; type: string; options: { path?: string } }[]> => client.request('port_list');

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vswitch-cfgstream-'));
    dp = new Datapath({ socketPath: join(dir, 'datapath.sock') });
    await dp.start();
    client = await DpifClient.connect(join(dir, 'datapath.sock'), 'vswitchd');
    db = new FakeDb();
    br = db.add('Bridge', { name: 'br0', ports: set([]), other_config: map({}) });
    db.add('Open_vSwitch', { bridges: set([uuid(br)]), next_cfg: 1, cur_cfg: 0, other_config: map({}) });
    st = new SwitchState();
  });
  afterEach(async () => {
    for (const p of peers) p.destroy();
    client.close();
    await dp.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes what is wrong with the options to Interface.error, opens no port, and retries a missing directory', async () => {
    addStream('vmA', {});
    addStream('vmB', { path: 'vmB.sock' });
    addStream('vmC', { path: join(dir, 'no', 'such', 'dir', 'c.sock') });
    addStream('vmD', { path: join(dir, 'd.sock'), mode: 'rw', group: 'no-such-group-here' });
    await run();
    expect(db.iface('vmA').error).toMatch(/^stream port vmA: options:path is required/);
    expect(db.iface('vmB').error).toBe("stream port vmB: options:path must be an absolute path, not 'vmB.sock'");
    expect(db.iface('vmC').error).toBe(`stream port vmC: cannot listen on ${join(dir, 'no/such/dir/c.sock')}: directory ${join(dir, 'no/such/dir')} does not exist`);
    // The directory may appear later: the port status watch keeps retrying that one.
    expect(waitingForDevices(new Map([['c', db.iface('vmC')]]))).toBe(true);
    expect(waitingForDevices(new Map([['b', db.iface('vmB')]]))).toBe(false);
    mkdirSync(join(dir, 'no/such/dir'), { recursive: true });
    await run();
    expect(str(db.iface('vmC').error)).toBe('');
    expect(db.iface('vmC').ofport).toBe(1);
    expect(db.iface('vmD').error).toBe("stream port vmD: options:mode must be octal permission bits such as 0660, not 'rw'");
    db.iface('vmD').options = map({ path: join(dir, 'd.sock'), group: 'no-such-group-here' });
    await run();
    expect(db.iface('vmD').error).toBe("stream port vmD: options:group: no group named 'no-such-group-here'");
    for (const n of ['vmA', 'vmB', 'vmD']) expect(db.iface(n).ofport).toBe(-1);
    expect((await dpPorts()).map((p) => p.name)).toEqual(['vmC']);
  });

  it('listens on the path, follows the peer in link_state, moves with the path and goes with the port', async () => {
    const path = join(dir, 'vmS.sock');
    addStream('vmS', { path });
    await run();
    expect(str(db.iface('vmS').error)).toBe('');
    expect(db.iface('vmS').ofport).toBe(1);
    expect(db.iface('vmS').link_state).toBe('down');
    expect(existsSync(path)).toBe(true);
    expect((await dpPorts())[0]).toMatchObject({ name: 'vmS', type: 'stream', options: { path } });

    const peer = net.connect(path);
    peers.push(peer);
    await new Promise((r) => peer.once('connect', r));
    for (let i = 0; i < 100 && dp.ports.byNameGet('vmS')!.netdev.linkState() !== 'up'; i++) await new Promise((r) => setTimeout(r, 5));
    await run();
    expect(db.iface('vmS').link_state).toBe('up');
    // A second run with nothing changed keeps the port, and so the connection.
    await run();
    expect(db.iface('vmS').link_state).toBe('up');

    const moved = join(dir, 'moved.sock');
    db.iface('vmS').options = map({ path: moved, mode: '0600' });
    await run();
    expect(existsSync(path)).toBe(false);
    expect(statSync(moved).mode & 0o777).toBe(0o600);
    expect(db.iface('vmS').link_state).toBe('down');
    expect((await dpPorts())[0]).toMatchObject({ name: 'vmS', options: { path: moved, mode: '0600' } });
    expect(db.iface('vmS').ofport).toBe(1);

    db.get('Bridge', br)!.ports = set([]);
    await run();
    expect(existsSync(moved)).toBe(false);
    expect(await dpPorts()).toEqual([]);
  });
});
