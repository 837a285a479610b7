import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JsonRpcServer, RpcError } from '../../../src/lib/jsonrpc.js';
import { main as appctl, resolveTarget } from '../../../tools/appctl.js';
import { capture } from './helpers.js';

describe('appctl target resolution', () => {
  const env = { VSWITCH_RUNDIR: '/r' };
  it('maps daemon names to their control sockets and passes paths through', () => {
    expect(resolveTarget('vswitchd', env)).toBe('/r/vswitchd.ctl');
    expect(resolveTarget('ovs-vswitchd', env)).toBe('/r/vswitchd.ctl');
    expect(resolveTarget('datapath', env)).toBe('/r/datapath.ctl');
    expect(resolveTarget('vsdb-server', env)).toBe('/r/vsdb-server.ctl');
    expect(resolveTarget('ovsdb-server', env)).toBe('/r/vsdb-server.ctl');
    expect(resolveTarget('other', env)).toBe('/r/other.ctl');
    expect(resolveTarget('/tmp/x.ctl', env)).toBe('/tmp/x.ctl');
    expect(resolveTarget('./x.ctl', env)).toBe('./x.ctl');
  });
});

describe('appctl against a control socket', () => {
  let dir: string;
  let server: JsonRpcServer;
  const seen: [string, unknown[]][] = [];
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'appctl-test-'));
    env = { VSWITCH_RUNDIR: dir };
    server = new JsonRpcServer((conn) =>
      conn.onRequest((method, params) => {
        seen.push([method, params]);
        switch (method) {
          case 'version': return 'vswitchd (vswitch) 0.1.0';
          case 'fdb/show': return ' port  VLAN  MAC                Age\n';
          case 'empty': return '';
          case 'object': return { a: 1 };
          default: throw new RpcError(`"${method}" is not a valid command (use "list-commands" to see a list of valid commands)`);
        }
      }),
    );
    await server.listenUnix(join(dir, 'vswitchd.ctl'));
  });
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints the result newline-terminated and exits 0', async () => {
    let io = capture();
    expect(await appctl(['version'], io, env)).toBe(0);
    expect(io.stdout).toBe('vswitchd (vswitch) 0.1.0\n');
    io = capture();
    expect(await appctl(['-t', 'vswitchd', 'fdb/show', 'br0'], io, env)).toBe(0);
    expect(io.stdout).toBe(' port  VLAN  MAC                Age\n');
    expect(seen.at(-1)).toEqual(['fdb/show', ['br0']]);
    io = capture();
    expect(await appctl([`--target=${join(dir, 'vswitchd.ctl')}`, 'empty'], io, env)).toBe(0);
    expect(io.stdout).toBe('');
    io = capture();
    expect(await appctl(['object'], io, env)).toBe(0);
    expect(JSON.parse(io.stdout)).toEqual({ a: 1 });
    io = capture();
    expect(await appctl(['vlog/set', '-x'], io, env)).toBe(2);
    expect(seen.at(-1)).toEqual(['vlog/set', ['-x']]);
  });

  it('prints a daemon error on stderr and exits 2, like ovs-appctl', async () => {
    const io = capture();
    expect(await appctl(['frob'], io, env)).toBe(2);
    expect(io.stdout).toBe('');
    expect(io.stderr).toBe('"frob" is not a valid command (use "list-commands" to see a list of valid commands)\nappctl: vswitchd: server returned an error\n');
  });

  it('exits 1 when it cannot connect or is called wrongly', async () => {
    let io = capture();
    expect(await appctl(['-t', 'datapath', 'version'], io, env)).toBe(1);
    expect(io.stderr).toBe(`appctl: cannot connect to "${join(dir, 'datapath.ctl')}" (No such file or directory)\n`);
    io = capture();
    expect(await appctl([], io, env)).toBe(1);
    expect(io.stderr).toBe('appctl: at least one non-option argument is required (use --help for help)\n');
    io = capture();
    expect(await appctl(['--timeout=x', 'version'], io, env)).toBe(1);
    expect(io.stderr).toBe('appctl: value x on -T or --timeout is invalid\n');
    io = capture();
    expect(await appctl(['--help'], io, env)).toBe(0);
    for (const s of ['--target=TARGET', '--timeout=SECS', 'list-commands', '--version']) expect(io.stdout).toContain(s);
  });
});
