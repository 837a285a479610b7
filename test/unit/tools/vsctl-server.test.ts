/*
 * vsctl's database, controller and output commands against the real vsdb server in-process
 * (a socket in a temporary directory, --no-wait): row ids across a chain, the uuid create
 * prints, controllers and fail mode in show, find in every format, destroy and transaction
 * errors, wait-until woken by another client's change. When Debian's ovs-vsctl is installed,
 * it runs against the same server and its output is compared with ours.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultSchemaPath, startVsdbServer, type RunningVsdb } from '../../../src/ovsdb/main.js';
import { main as vsctlMain } from '../../../tools/vsctl.js';
import { capture } from './helpers.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const WARN = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\|\d{5}\|/;

let dir: string;
let vsdb: RunningVsdb;

async function run(...argv: string[]): Promise<[number, string, string]> {
  const io = capture();
  const code = await vsctlMain(argv, io, { VSWITCH_RUNDIR: dir, VSWITCH_LOGDIR: join(dir, 'log') });
  return [code, io.stdout, io.stderr];
}
const vsctl = (...argv: string[]) => run('--no-wait', ...argv);
const ok = async (...argv: string[]): Promise<string> => {
  const [code, out, err] = await vsctl(...argv);
  expect([code, err]).toEqual([0, '']);
  return out;
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vsctl-srv-'));
  vsdb = await startVsdbServer({
    dbFile: join(dir, 'conf.db'),
    remotes: [`punix:${join(dir, 'db.sock')}`],
    schemaFile: defaultSchemaPath(),
    unixctl: join(dir, 'vsdb-server.ctl'),
    pidfile: null,
    fsync: false,
    log: pino({ level: 'silent' }),
  });
  await ok('add-br', 'br0', '--', 'add-port', 'br0', 'p1', 'tag=10', '--', 'add-port', 'br0', 'p2', 'trunks=10,20');
});
afterAll(async () => {
  await vsdb?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('vsctl database commands with the vsdb server', () => {
  it('create --id=@c and a reference in the same chain; create prints the uuid the server gave', async () => {
    const out = await ok('--', '--id=@c', 'create', 'Controller', 'target="tcp:1.2.3.4:6653"', '--', 'set', 'Bridge', 'br0', 'controller=@c');
    expect(out).toMatch(/^[0-9a-f-]{36}\n$/);
    expect(await ok('get', 'Bridge', 'br0', 'controller')).toBe(`[${out.trim()}]\n`);
    expect(await ok('get-controller', 'br0')).toBe('tcp:1.2.3.4:6653\n');
    expect(await ok('--columns=_uuid,target', 'list', 'Controller')).toBe(`_uuid               : ${out.trim()}\ntarget              : "tcp:1.2.3.4:6653"\n`);
  });

  it('set-controller replaces the rows, show prints them with fail_mode and is_connected', async () => {
    await ok('set-controller', 'br0', 'tcp:9.9.9.9:6653', 'ptcp:6633', '--', 'set-fail-mode', 'br0', 'secure');
    expect(await ok('get-controller', 'br0', '--', 'get-fail-mode', 'br0')).toBe('ptcp:6633\ntcp:9.9.9.9:6653\nsecure\n');
    expect((await ok('--bare', '--columns=target', 'list', 'Controller')).split('\n').filter((l) => l).sort()).toEqual(['ptcp:6633', 'tcp:9.9.9.9:6653']);
    // A Controller is named by its bridge only when the bridge has exactly one.
    expect(await vsctl('set', 'Controller', 'br0', 'is_connected=true')).toEqual([1, '', 'vsctl: no row "br0" in table Controller\n']);
    const uuid = (await ok('--bare', '--columns=_uuid', 'find', 'Controller', 'target="ptcp:6633"')).trim();
    await ok('set', 'Controller', uuid, 'is_connected=true');
    const show = await ok('show');
    expect(show.split('\n').slice(1, 7).join('\n')).toBe(
      ['    Bridge br0', '        Controller "ptcp:6633"', '            is_connected: true', '        Controller "tcp:9.9.9.9:6653"', '        fail_mode: secure', '        Port br0'].join('\n'),
    );
    await ok('del-controller', 'br0', '--', 'del-fail-mode', 'br0');
    expect(await ok('list', 'Controller', '--', 'get-controller', 'br0', '--', 'get-fail-mode', 'br0')).toBe('');
  });

  it('find and list in every format', async () => {
    const ifaceOf = async (p: string) => (await ok('get', 'Port', p, 'interfaces')).trim().slice(1, -1);
    const i1 = await ifaceOf('p1');
    expect(await ok('-f', 'table', '--columns=name,tag,trunks', 'find', 'Port', 'tag=10')).toBe('name tag trunks\n---- --- ------\np1   10  []\n');
    expect(await ok('-f', 'csv', '--columns=name,trunks', 'find', 'Port', 'trunks{>=}20')).toBe('name,trunks\np2,"[10, 20]"\n');
    expect(await ok('-f', 'json', '--columns=name,tag,interfaces', 'list', 'Port', 'p1')).toBe(`{"data":[["p1",10,["uuid","${i1}"]]],"headings":["name","tag","interfaces"]}\n`);
    expect(await ok('--bare', '--columns=name', 'find', 'Port', 'tag!=10')).toMatch(/^(br0\n\np2|p2\n\nbr0)\n$/);
  });

  it('add, remove and clear on stored rows', async () => {
    await ok('add', 'Port', 'p2', 'trunks', '30', '--', 'add', 'Port', 'p1', 'external_ids', 'a=1', 'b=2');
    await ok('remove', 'Port', 'p2', 'trunks', '10', '--', 'remove', 'Port', 'p1', 'external_ids', 'a');
    expect(await ok('get', 'Port', 'p2', 'trunks', '--', 'get', 'Port', 'p1', 'external_ids')).toBe('[20, 30]\n{b="2"}\n');
    await ok('clear', 'Port', 'p1', 'external_ids');
    expect(await ok('get', 'Port', 'p1', 'external_ids')).toBe('{}\n');
  });

  it('destroy: a referenced QoS row is refused by the server, with ovs-vsctl wording', async () => {
    const q = (await ok('--', 'set', 'Port', 'p1', 'qos=@q', '--', '--id=@q', 'create', 'QoS', 'type=linux-htb')).trim();
    expect(q).toMatch(UUID);
    const [code, out, err] = await vsctl('destroy', 'QoS', q);
    expect([code, out]).toEqual([1, '']);
    const lines = err.split('\n');
    expect(lines[0]).toMatch(WARN);
    expect(lines[0]).toContain('|ovsdb_idl|WARN|transaction error: {"details":');
    expect(lines[1]).toMatch(/^vsctl: transaction error: \{"details":".*","error":"referential integrity violation"\}$/);
    await ok('clear', 'Port', 'p1', 'qos', '--', '--all', 'destroy', 'QoS');
    expect(await ok('list', 'QoS')).toBe('');
  });

  it('warnings go to stderr as ovs-vsctl logs them, the command still succeeds', async () => {
    const [code, out, err] = await vsctl('--', '--id=@m', 'create', 'Mirror', 'name=m1');
    expect(code).toBe(0);
    expect(out).toMatch(/^[0-9a-f-]{36}\n$/);
    expect(err).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\|00002\|vsctl\|WARN\|row id "@m" was created but no reference to it was inserted, so it will not actually appear in the database\n$/);
    expect(await ok('list', 'Mirror')).toBe('');
  });

  it('--dry-run prints what create would, commits nothing', async () => {
    const out = await ok('--dry-run', '--id=@q', 'create', 'QoS', 'type=x');
    expect(out.trim()).toMatch(UUID);
    expect(await ok('list', 'QoS')).toBe('');
  });

  it('wait-until waits for another client to make the condition true', async () => {
    const waiting = run('--timeout=10', '--no-wait', 'wait-until', 'Bridge', 'br7', 'fail_mode=secure', '--', 'get', 'Bridge', 'br7', 'name');
    await new Promise((r) => setTimeout(r, 200));
    await ok('add-br', 'br7');
    await new Promise((r) => setTimeout(r, 100));
    await ok('set-fail-mode', 'br7', 'secure');
    expect(await waiting).toEqual([0, 'br7\n', '']);
    const t0 = Date.now();
    expect(await run('--timeout=1', 'wait-until', 'Bridge', 'br9')).toEqual([142, '', 'vsctl: timed out after 1 seconds waiting for the wait-until condition\n']);
    expect(Date.now() - t0).toBeLessThan(3000);
    await ok('del-br', 'br7');
  });
});

// ---- Side by side with Debian's ovs-vsctl -------------------------------------------------------

const HAVE_OVS_VSCTL = spawnSync('sh', ['-c', 'command -v ovs-vsctl']).status === 0;
if (!HAVE_OVS_VSCTL) console.warn('vsctl/ovs-vsctl comparison skipped: ovs-vsctl not installed (apt-get install openvswitch-switch)');

function ovsVsctl(...argv: string[]): Promise<[number, string, string]> {
  return new Promise((resolve) => {
    execFile('ovs-vsctl', [`--db=unix:${join(dir, 'db.sock')}`, '--no-wait', ...argv], { timeout: 10000, env: { ...process.env, OVS_RUNDIR: dir } }, (e, out, err) =>
      resolve([e ? Number((e as { code?: number }).code ?? 1) : 0, out, err]),
    );
  });
}

describe.skipIf(!HAVE_OVS_VSCTL)('vsctl prints what ovs-vsctl prints (same server)', () => {
  const SAME_OUTPUT = [
    ['-f', 'table', '--columns=name,tag,trunks', 'list', 'Port', 'p1'],
    ['-f', 'table', '-d', 'json', '--columns=name,tag,trunks', 'list', 'Port', 'p2'],
    ['-f', 'table', '-d', 'bare', '--no-headings', '--columns=name,trunks,interfaces', 'list', 'Port', 'p2'],
    ['-f', 'csv', '--columns=_uuid,name,trunks', 'list', 'Port', 'p2'],
    ['-f', 'json', '--columns=_uuid,name,tag,trunks,interfaces,external_ids', 'list', 'Port', 'p2'],
    ['-f', 'json', '--pretty', '--columns=name,tag,trunks', 'find', 'Port', 'trunks{>=}20'],
    ['-f', 'html', '--columns=_uuid,name,interfaces', 'list', 'Port', 'p1'],
    ['--bare', '--columns=name,tag,trunks', 'find', 'Port', 'tag=10'],
    ['--columns=name,type,options', 'list', 'Interface', 'br0', '--', 'list-br', '--', '--columns=name', 'find', 'Port', 'name=p1'],
    ['--oneline', 'list-ports', 'br0', '--', 'get', 'Port', 'p1', 'tag', 'name', '--', 'comment', 'x'],
    ['get', 'Port', 'p1', '_uuid', 'tag', 'trunks', 'external_ids'],
    ['get-controller', 'br0', '--', 'get-fail-mode', 'br0', '--', 'list-ifaces', 'br0', '--', 'port-to-br', 'p1'],
  ];
  const SAME_ERROR = [
    ['find', 'Port', 'name'],
    ['find', 'Port', 'tag==10'],
    ['find', 'Port', 'tag:x=1'],
    ['get', 'Interface', 'p1', 'options:zz'],
    ['set', 'Port', 'p1', 'external_ids=k,'],
    ['set', 'Port', 'p1', 'trunks={1}'],
    ['set', 'Bridge', 'br0', 'fail_mode=bogus'],
    ['remove', 'Port', 'p1', 'interfaces', '00000000-0000-0000-0000-000000000000', '--', 'clear', 'Port', 'p1', 'interfaces'],
    ['--', '--id=@c', 'create', 'Controller', 'target=y', '--', '--id=@c', 'create', 'Controller', 'target=z'],
    ['--', 'set', 'Bridge', 'br0', 'controller=@zz'],
    ['--all', 'destroy', 'QoS', 'x'],
    ['set-fail-mode', 'br0', 'foo'],
    ['list', 'Bridge', 'br9'],
  ];

  it.each(SAME_OUTPUT.map((a) => [a.join(' '), a]))('%s', async (_, argv) => {
    const [code, out] = await ovsVsctl(...argv);
    expect(await vsctl(...argv)).toEqual([code, out, '']);
  });

  it.each(SAME_ERROR.map((a) => [a.join(' '), a]))('error: %s', async (_, argv) => {
    const [code, , err] = await ovsVsctl(...argv);
    const theirs = err.split('\n').filter((l) => l.startsWith('ovs-vsctl: ')).map((l) => l.replace(/^ovs-/, ''));
    const [ours, out, ourErr] = await vsctl(...argv);
    expect([ours, out, ourErr]).toEqual([code, '', `${theirs.join('\n')}\n`]);
  });
});
