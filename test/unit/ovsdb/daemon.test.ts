// Runs the compiled daemon (dist/src/ovsdb/main.js; build with `npx tsc -p .` first) as a real
// process in a temp directory: foreground with SIGTERM, restart with persisted data, --detach.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { VsdbClient } from '../../../src/ovsdb/client.js';
import { connectUnix } from '../../../src/lib/jsonrpc.js';
import { addBridgeOps } from './helpers.js';

const MAIN = resolve(__dirname, '../../../dist/src/ovsdb/main.js');
const BIN = resolve(__dirname, '../../../bin/vsdb-server.js');

function waitFor(f: () => boolean, ms = 5000): Promise<void> {
  const start = Date.now();
  return new Promise((res, rej) => {
    const tick = () => (f() ? res() : Date.now() - start > ms ? rej(new Error('timed out waiting')) : setTimeout(tick, 10));
    tick();
  });
}

describe('vsdb-server daemon process', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const kids: ChildProcess[] = [];

  beforeEach(() => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npx tsc -p .\` before these tests`);
    dir = mkdtempSync(join(tmpdir(), 'vsdb-daemon-'));
    env = { ...process.env, VSWITCH_RUNDIR: join(dir, 'run'), VSWITCH_DBDIR: join(dir, 'db'), VSWITCH_LOGDIR: join(dir, 'log') };
  });

  afterEach(() => {
    for (const k of kids.splice(0)) if (k.exitCode === null) k.kill('SIGKILL');
    const pidfile = join(dir, 'run', 'vsdb-server.pid');
    if (existsSync(pidfile)) {
      try {
        process.kill(Number(readFileSync(pidfile, 'utf8')), 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  function start(script = MAIN): ChildProcess {
    const k = spawn(process.execPath, [script, '--pidfile'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    kids.push(k);
    return k;
  }

  it('uses paths() defaults, stops cleanly on SIGTERM and keeps data across restarts', async () => {
    const pidfile = join(dir, 'run', 'vsdb-server.pid');
    const sock = join(dir, 'run', 'db.sock');
    let k = start();
    await waitFor(() => existsSync(pidfile));
    expect(Number(readFileSync(pidfile, 'utf8'))).toBe(k.pid);
    expect(existsSync(join(dir, 'db', 'conf.db'))).toBe(true);
    const c = await VsdbClient.connect(sock);
    await c.transact('Open_vSwitch', addBridgeOps('br0'));
    c.close();
    const exited = new Promise<number | null>((r) => k.once('exit', (code) => r(code)));
    k.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(existsSync(pidfile)).toBe(false);
    expect(existsSync(sock)).toBe(false);

    k = start(BIN); // as `vswitch start` runs it
    await waitFor(() => existsSync(pidfile));
    const c2 = await VsdbClient.connect(sock);
    const rows = (await c2.transact('Open_vSwitch', [{ op: 'select', table: 'Bridge', where: [], columns: ['name'] }]))[0].rows;
    expect(rows).toEqual([{ name: 'br0' }]);
    c2.close();
    const ctl = await connectUnix(join(dir, 'run', 'vsdb-server.ctl'));
    const exited2 = new Promise<number | null>((r) => k.once('exit', (code) => r(code)));
    expect(await ctl.request('exit', [])).toBe('');
    expect(await exited2).toBe(0);
  });

  it('refuses to start twice on the same pidfile and socket', async () => {
    start();
    const pidfile = join(dir, 'run', 'vsdb-server.pid');
    await waitFor(() => existsSync(pidfile));
    const second = spawnSync(process.execPath, [MAIN, '--pidfile'], { env, encoding: 'utf8', timeout: 10000 });
    expect(second.status).toBe(1);
    expect(second.stderr).toMatch(/already running/);
  });

  it('--detach returns once the server is listening', async () => {
    const r = spawnSync(process.execPath, [MAIN, '--detach', '--pidfile'], { env, encoding: 'utf8', timeout: 10000 });
    expect(r.status).toBe(0);
    const pidfile = join(dir, 'run', 'vsdb-server.pid');
    expect(existsSync(pidfile)).toBe(true);
    const pid = Number(readFileSync(pidfile, 'utf8'));
    expect(pid).not.toBe(r.pid);
    const c = await VsdbClient.connect(join(dir, 'run', 'db.sock'));
    expect(await c.listDbs()).toEqual(['Open_vSwitch']);
    c.close();
    expect(existsSync(join(dir, 'log', 'vsdb-server.log'))).toBe(true);
    process.kill(pid, 'SIGTERM');
    await waitFor(() => !existsSync(pidfile));
  });
});

describe('vsdb-server command line', () => {
  it('prints its options with --help and rejects unknown ones', () => {
    const help = spawnSync(process.execPath, [BIN, '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    for (const o of ['--db FILE', '--remote', '--pidfile', '--log-file', '--detach', '--no-fsync']) expect(help.stdout).toContain(o);
    const bad = spawnSync(process.execPath, [BIN, '--bogus'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toBe('vsdb-server: unknown option "--bogus"; use --help for help\n');
  });
});
