/*
 * vsctl, dpctl, appctl and ofctl against the real daemons in-process: the vsdb server on a
 * socket in a temporary directory, then the datapath (dummy ports) and vswitchd, so vsctl's
 * wait for cur_cfg and its report of interfaces vswitchd could not set up are exercised too.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Datapath } from '../../../src/datapath/datapath.js';
import { DummyNetdev } from '../../../src/datapath/netdev-dummy.js';
import { NoSuchDeviceError } from '../../../src/datapath/netdev.js';
import { VsdbClient } from '../../../src/ovsdb/client.js';
import { defaultSchemaPath, startVsdbServer, type RunningVsdb } from '../../../src/ovsdb/main.js';
import { Vswitchd } from '../../../src/vswitchd/vswitchd.js';
import { main as appctl } from '../../../tools/appctl.js';
import { main as dpctl } from '../../../tools/dpctl.js';
import { main as ofctl } from '../../../tools/ofctl.js';
import { main as vsctlMain } from '../../../tools/vsctl.js';
import { commit, fetchModel, fetchSchema, TryAgain, waitForApply } from '../../../tools/vsctl/session.js';
import { runCommand } from '../../../tools/vsctl/commands.js';
import { parseVsctlArgs } from '../../../tools/vsctl/parse.js';
import { capture } from './helpers.js';

const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

async function startVsdb(dir: string): Promise<RunningVsdb> {
  return startVsdbServer({
    dbFile: join(dir, 'conf.db'),
    remotes: [`punix:${join(dir, 'db.sock')}`],
    schemaFile: defaultSchemaPath(),
    unixctl: join(dir, 'vsdb-server.ctl'),
    pidfile: null,
    fsync: false,
    log,
  });
}

/** Runs vsctl with VSWITCH_RUNDIR=dir; returns [status, stdout, stderr]. */
async function run(dir: string, ...argv: string[]): Promise<[number, string, string]> {
  const io = capture();
  const code = await vsctlMain(argv, io, { VSWITCH_RUNDIR: dir, VSWITCH_LOGDIR: join(dir, 'log') });
  return [code, io.stdout, io.stderr];
}

describe('vsctl with the vsdb server (--no-wait)', () => {
  let dir: string;
  let vsdb: RunningVsdb;
  const vsctl = (...argv: string[]) => run(dir, '--no-wait', ...argv);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vsctl-it-'));
    vsdb = await startVsdb(dir);
  });
  afterAll(async () => {
    await vsdb?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('adds a bridge and a tap port in one chain and shows them', async () => {
    expect(await vsctl('add-br', 'br0')).toEqual([0, '', '']);
    expect(await vsctl('add-port', 'br0', 'vm1', '--', 'set', 'Interface', 'vm1', 'type=tap')).toEqual([0, '', '']);
    expect(await vsctl('add-port', 'br0', 'vm2', 'tag=10')).toEqual([0, '', '']);
    const [code, out] = await vsctl('show');
    expect(code).toBe(0);
    expect(out).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\n/);
    expect(out.split('\n').slice(1).join('\n')).toBe(
      [
        '    Bridge br0',
        '        Port br0',
        '            Interface br0',
        '                type: internal',
        '        Port vm1',
        '            Interface vm1',
        '                type: tap',
        '        Port vm2',
        '            tag: 10',
        '            Interface vm2',
        '',
      ].join('\n'),
    );
    expect(await vsctl('list-ports', 'br0')).toEqual([0, 'vm1\nvm2\n', '']);
    expect(await vsctl('list-br')).toEqual([0, 'br0\n', '']);
    expect(await vsctl('get', 'Interface', 'vm1', 'type', '--', 'get', 'Port', 'vm2', 'tag')).toEqual([0, 'tap\n10\n', '']);
    const [, list] = await vsctl('list', 'Interface', 'vm1');
    expect(list).toMatch(/^_uuid {15}: [0-9a-f-]{36}\n/);
    expect(list).toContain('\nname                : vm1\n');
    expect(list).toContain('\ntype                : tap\n');
  });

  it('every change bumps next_cfg', async () => {
    const before = Number((await vsctl('get', 'Open_vSwitch', '.', 'next_cfg'))[1]);
    await vsctl('set', 'Interface', 'vm1', 'options:peer=x');
    expect(Number((await vsctl('get', 'Open_vSwitch', '.', 'next_cfg'))[1])).toBe(before + 1);
    await vsctl('list-br');
    expect(Number((await vsctl('get', 'Open_vSwitch', '.', 'next_cfg'))[1])).toBe(before + 1);
    expect(await vsctl('get', 'Interface', 'vm1', 'options')).toEqual([0, '{peer=x}\n', '']);
  });

  it('reports errors in ovs-vsctl wording with status 1 and changes nothing', async () => {
    expect(await vsctl('br-exists', 'br9')).toEqual([2, '', '']);
    expect(await vsctl('br-exists', 'br0')).toEqual([0, '', '']);
    expect(await vsctl('del-br', 'br9')).toEqual([1, '', 'vsctl: no bridge named br9\n']);
    expect(await vsctl('add-br', 'br0')).toEqual([1, '', 'vsctl: cannot create a bridge named br0 because a bridge named br0 already exists\n']);
    expect(await vsctl('add-port', 'br0', 'vm1')).toEqual([1, '', 'vsctl: cannot create a port named vm1 because a port named vm1 already exists on bridge br0\n']);
    expect(await vsctl('del-port', 'vm9')).toEqual([1, '', 'vsctl: no port named vm9\n']);
    expect(await vsctl('add-br')).toEqual([1, '', "vsctl: 'add-br' command requires at least 1 arguments\n"]);
    expect(await vsctl('foo')).toEqual([1, '', "vsctl: unknown command 'foo'; use --help for help\n"]);
    // The first command succeeds, the second fails: nothing is committed.
    expect(await vsctl('add-br', 'br5', '--', 'add-port', 'br9', 'x')).toEqual([1, '', 'vsctl: no bridge named br9\n']);
    expect(await vsctl('list-br')).toEqual([0, 'br0\n', '']);
    expect(await vsctl('--may-exist', 'add-br', 'br0', '--', '--if-exists', 'del-port', 'nope')).toEqual([0, '', '']);
  });

  it('deletes ports and bridges; the server collects their rows', async () => {
    expect(await vsctl('del-port', 'br0', 'vm2')).toEqual([0, '', '']);
    expect(await vsctl('list-ports', 'br0')).toEqual([0, 'vm1\n', '']);
    expect(await vsctl('del-br', 'br0')).toEqual([0, '', '']);
    expect(await vsctl('list-br')).toEqual([0, '', '']);
    expect(await vsctl('list', 'Interface')).toEqual([0, '', '']);
    expect(await vsctl('list', 'Port')).toEqual([0, '', '']);
  });

  it('a commit based on a stale snapshot is refused (TryAgain), so vsctl retries on fresh data', async () => {
    const client = await VsdbClient.connect(join(dir, 'db.sock'));
    try {
      const schema = await fetchSchema(client);
      const stale = await fetchModel(client, schema);
      for (const cmd of parseVsctlArgs(['add-br', 'brA']).commands) runCommand({ model: stale, cmd, out: [] });
      expect(await vsctl('add-br', 'brB')).toEqual([0, '', '']);
      await expect(commit(client, stale, 'test')).rejects.toBeInstanceOf(TryAgain);
      expect(await vsctl('list-br')).toEqual([0, 'brB\n', '']);
      const fresh = await fetchModel(client, schema);
      for (const cmd of parseVsctlArgs(['add-br', 'brA']).commands) runCommand({ model: fresh, cmd, out: [] });
      expect(await commit(client, fresh, 'test')).toMatchObject({ newIfaces: [expect.any(String)] });
      expect(await vsctl('list-br')).toEqual([0, 'brA\nbrB\n', '']);
      expect(await vsctl('del-br', 'brA', '--', 'del-br', 'brB')).toEqual([0, '', '']);
    } finally {
      client.close();
    }
  });

  it('says when the database cannot be reached', async () => {
    expect(await run(join(dir, 'nowhere'), 'show')).toEqual([1, '', `vsctl: unix:${join(dir, 'nowhere', 'db.sock')}: database connection failed (No such file or directory)\n`]);
    expect(await run(dir, '--db=foo', 'show')).toEqual([1, '', 'vsctl: foo: database connection failed (Address family not supported by protocol)\n']);
  });

  it('without vswitchd, waiting warns and --timeout gives up with status 142', async () => {
    const t0 = Date.now();
    const [code, , err] = await run(dir, '--timeout=1', 'add-br', 'brw');
    expect(code).toBe(142);
    expect(err).toBe('vsctl: timed out after 1 seconds waiting for vswitchd to apply the change (the database was updated; is vswitchd running?)\n');
    expect(Date.now() - t0).toBeLessThan(3000);
    // The change itself was committed.
    expect(await vsctl('list-br')).toEqual([0, 'brw\n', '']);

    const client = await VsdbClient.connect(join(dir, 'db.sock'));
    try {
      const row = (await client.transact('Open_vSwitch', [{ op: 'select', table: 'Open_vSwitch', where: [] }]))[0].rows[0];
      const io = capture();
      const waiting = waitForApply(client, row.next_cfg, io, 50);
      await new Promise((r) => setTimeout(r, 150));
      expect(io.stderr).toBe('vsctl: waiting for vswitchd to apply the change (is vswitchd running?)\n');
      await client.transact('Open_vSwitch', [{ op: 'update', table: 'Open_vSwitch', where: [['_uuid', '==', row._uuid]], row: { cur_cfg: row.next_cfg } }]);
      await waiting;
    } finally {
      client.close();
    }
  });
});

describe('the tools with vsdb, the datapath and vswitchd', () => {
  let dir: string;
  let vsdb: RunningVsdb;
  let dp: Datapath;
  let vs: Vswitchd;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tools-it-'));
    vsdb = await startVsdb(dir);
    let n = 0;
    // No real devices here: a system port (type "") names a device that does not exist.
    dp = new Datapath({
      socketPath: join(dir, 'datapath.sock'), log,
      openNetdev: (name, type) => {
        if (type === 'system') throw new NoSuchDeviceError(name);
        return new DummyNetdev(name, { mac: `02:bb:00:00:00:${(++n).toString(16).padStart(2, '0')}` });
      },
    });
    await dp.start();
    vs = await Vswitchd.start({ dbSock: join(dir, 'db.sock'), dpSock: join(dir, 'datapath.sock'), ctlSock: join(dir, 'vswitchd.ctl'), log, connectTimeoutMs: 5000 });
  });
  afterAll(async () => {
    await vs?.stop();
    await dp?.stop();
    await vsdb?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('vsctl waits until vswitchd applied the change, and reports interfaces it could not set up', async () => {
    const t0 = Date.now();
    expect(await run(dir, '--timeout=10', 'add-br', 'br0', '--', 'add-port', 'br0', 'p1', '--', 'set', 'Interface', 'p1', 'type=tap')).toEqual([0, '', '']);
    expect(Date.now() - t0).toBeLessThan(5000);
    // Applied: the datapath has the ports and vswitchd numbered them.
    expect(dp.ports.list().map((p) => p.name).sort()).toEqual(['br0', 'p1']);
    expect((await run(dir, '--no-wait', 'get', 'Interface', 'br0', 'ofport'))[1]).toBe('65534\n');
    const [cur, next] = (await run(dir, '--no-wait', 'get', 'Open_vSwitch', '.', 'cur_cfg', 'next_cfg'))[1].trim().split('\n');
    expect(cur).toBe(next);

    const [code, out, err] = await run(dir, '--timeout=10', 'add-port', 'br0', 'bad0');
    expect([code, out]).toEqual([0, '']);
    expect(err).toMatch(/^vsctl: Error detected while setting up 'bad0': could not open network device bad0 .*\.  See vswitchd log for details\.\nvsctl: The default log directory is ".*\/log"\.\n$/);
    expect((await run(dir, '--no-wait', 'show'))[1]).toMatch(/ {8}Port bad0\n {12}Interface bad0\n {16}error: "could not open network device bad0/);
  });

  it('dpctl shows the datapath and its flows without vswitchd', async () => {
    const env = { VSWITCH_RUNDIR: dir };
    let io = capture();
    expect(await dpctl(['show'], io, env)).toBe(0);
    expect(io.stdout).toMatch(/^netdev@vswitch:\n {2}lookups: hit:\d+ missed:\d+ lost:\d+\n {2}flows: \d+\n {2}masks: hit:\d+ total:\d+ hit\/pkt:[\d.]+\n {2}caches: emc:(on|off) emc-hit:\d+ .*\n {2}port 1: br0 \(internal\)\n {2}port 2: p1 \(tap\)\n$/);
    io = capture();
    expect(await dpctl(['show', '-s'], io, env)).toBe(0);
    expect(io.stdout).toContain('\n  counters:\n');
    expect(io.stdout).toMatch(/ {2}port 2: p1 \(tap\)\n {4}RX packets:0 errors:0 dropped:0 overruns:\? frame:\?\n {4}TX packets:\d+ errors:0 dropped:\d+ aborted:\? carrier:\?\n {4}collisions:\?\n {4}RX bytes:0 {2}TX bytes:\d+/);

    // A frame from p1 makes vswitchd install a flow; dump-flows shows it, del-flows removes it.
    const frame = new Uint8Array(60);
    frame.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0x0a, 0x88, 0xb5]);
    (dp.ports.byNameGet('p1')!.netdev as DummyNetdev).inject(frame);
    const deadline = Date.now() + 5000;
    while (dp.table.count === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    io = capture();
    expect(await dpctl(['dump-flows'], io, env)).toBe(0);
    expect(io.stdout).toMatch(/^recirc_id\(0\),in_port\(2\),eth\(src=02:00:00:00:00:0a,dst=ff:ff:ff:ff:ff:ff\),eth_type\(0x88b5\), packets:\d+, bytes:\d+, used:(never|[0-9.]+s), actions:1\n$/);
    io = capture();
    expect(await dpctl(['dump-flows', '--names'], io, env)).toBe(0);
    expect(io.stdout).toMatch(/^recirc_id\(0\),in_port\(p1\),.*actions:br0\n$/);
    io = capture();
    expect(await dpctl(['del-flows'], io, env)).toBe(0);
    expect(io.stdout).toBe('');
    io = capture();
    expect(await dpctl(['dump-flows'], io, env)).toBe(0);
    expect(io.stdout).toBe('');
    io = capture();
    expect(await dpctl(['show', 'nosuchdp'], io, env)).toBe(1);
    expect(io.stderr).toBe('dpctl: opening datapath nosuchdp failed (No such device)\n');
  });

  it('appctl and ofctl talk to vswitchd', async () => {
    const env = { VSWITCH_RUNDIR: dir };
    let io = capture();
    expect(await appctl(['version'], io, env)).toBe(0);
    expect(io.stdout).toMatch(/^vswitchd \(vswitch\) .+\n$/);
    io = capture();
    expect(await appctl(['-t', 'vsdb-server', 'version'], io, env)).toBe(0);
    expect(io.stdout).toMatch(/^vsdb-server \(vswitch\) .+\n$/);
    io = capture();
    expect(await appctl(['no/such-command'], io, env)).toBe(2);
    expect(io.stderr).toMatch(/no\/such-command.*\nappctl: vswitchd: server returned an error\n$/);
    io = capture();
    expect(await ofctl(['show', 'br0'], io, env)).toBe(0);
    expect(io.stdout).toContain('(p1)');
    io = capture();
    expect(await ofctl(['dump-flows', 'br0'], io, env)).toBe(0);
    expect(io.stdout).toContain('actions=NORMAL');
    io = capture();
    expect(await ofctl(['show', 'br9'], io, env)).toBe(1);
    expect(io.stderr).toMatch(/^ofctl: .*br9/);
  });
});
