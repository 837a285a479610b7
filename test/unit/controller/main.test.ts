// vscontroller's command line (parsing and its errors) and the real process (dist/, built by
// `npx tsc -p .`): foreground with a fake switch, the REST API and SIGHUP/SIGTERM, startup
// errors, and --detach with its pidfile.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HELP, parseControllerArgs } from '../../../src/controller/main.js';
import { main } from '../../../tools/vscontroller.js';
import { FakeSwitch, until } from './fake-switch.js';

const BIN = resolve(__dirname, '../../../bin/vscontroller.js');
const DIST = resolve(__dirname, '../../../dist/src/controller/main.js');
const tmp = mkdtempSync(join(tmpdir(), 'vscontroller-main-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('command line', () => {
  it('parses targets, apps and options in any order', () => {
    const c = parseControllerArgs(['--app', 'l2-learning:idle_timeout=5', 'ptcp:6653:127.0.0.1', '--rest=8080', 'punix:/tmp/x.sock',
      '--app=static:/f.yaml', '--role', 'master', '--generation-id', '0x10', '--probe-interval', '0.5', '--scrape-vswitch', '/run/vs',
      '--rest-token-file', '/t', '--pidfile', '/p', '--log-file', '/l', '--log-level', 'debug']);
    expect(c.targets).toEqual([{ kind: 'tcp', port: 6653, host: '127.0.0.1' }, { kind: 'unix', path: '/tmp/x.sock' }]);
    expect(c.apps).toEqual(['l2-learning:idle_timeout=5', 'static:/f.yaml']);
    expect(c).toMatchObject({
      rest: { host: '127.0.0.1', port: 8080 }, role: 'master', generationId: 16n, probeIntervalMs: 500, scrapeRundir: '/run/vs',
      restTokenFile: '/t', pidfile: '/p', logFile: '/l', logLevel: 'debug', detach: false,
    });
    expect(parseControllerArgs(['--', 'ptcp:1']).targets).toHaveLength(1);
    expect(parseControllerArgs(['-h']).help).toBe(true);
  });

  it('says what is wrong', () => {
    const bad: [string[], RegExp][] = [
      [[], /at least one target is needed/],
      [['ptcp:1', '--bogus'], /unrecognized option '--bogus'/],
      [['ptcp:1', '--app'], /option '--app' requires an argument/],
      [['ptcp:1', '--role', 'king'], /expected equal, master or slave/],
      [['ptcp:1', '--probe-interval', '-1'], /expected seconds/],
      [['ptcp:1', '--generation-id', 'x'], /64-bit number/],
      [['ptcp:1', '--detach=yes'], /doesn't allow an argument/],
      [['tcp:1.2.3.4:5'], /unknown listen target/],
      [['ptcp:1', '--rest', 'localhost:80'], /not an IP address/],
      [['ptcp:1', '-x'], /invalid option -- 'x'/],
    ];
    for (const [argv, re] of bad) expect(() => parseControllerArgs(argv), argv.join(' ')).toThrow(re);
  });

  it('main() prints help and version, and errors as "vscontroller: ..." with status 1', async () => {
    const out: string[] = [];
    const io = { out: (s: string) => void out.push(s), err: (s: string) => void out.push(`ERR ${s}`) };
    const env = { ...process.env, VSWITCH_LOG_LEVEL: 'silent' };
    expect(await main(['--help'], io)).toBe(0);
    expect(out.pop()).toBe(HELP);
    expect(await main(['-V'], io)).toBe(0);
    expect(out.pop()).toMatch(/^vscontroller \(vswitch\) \d+\.\d+\.\d+\n$/);
    expect(await main(['ptcp:0:127.0.0.1', '--app', 'nosuch'], io, env)).toBe(1);
    expect(out.pop()).toMatch(/^ERR vscontroller: no app named "nosuch"/);
    expect(await main(['ptcp:0:127.0.0.1', '--rest', '0.0.0.0:0'], io, env)).toBe(1);
    expect(out.pop()).toMatch(/^ERR vscontroller: the REST API would listen on 0\.0\.0\.0.*without a token/);
  });
});

describe('the vscontroller process', () => {
  const kids: ChildProcess[] = [];
  beforeAll(() => {
    if (!existsSync(DIST)) throw new Error(`${DIST} is missing: run \`npx tsc -p .\` before these tests`);
  });
  afterEach(() => {
    for (const k of kids.splice(0)) if (k.exitCode === null) k.kill('SIGKILL');
  });

  function start(args: string[]): { child: ChildProcess; lines: () => Record<string, unknown>[]; exited: Promise<number> } {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    kids.push(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number>((r) => child.once('exit', (code) => r(code ?? -1)));
    const lines = () => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    return { child, lines, exited };
  }

  it('runs in the foreground: switches, REST, SIGHUP reload, SIGTERM clean exit', async () => {
    const sock = join(tmp, 'fg.sock');
    const pidfile = join(tmp, 'fg.pid');
    const flows = join(tmp, 'fg.yaml');
    writeFileSync(flows, '"*":\n  - priority=5,actions=drop\n');
    const p = start(['--app', 'l2-learning', '--app', `static:${flows}`, '--rest', '127.0.0.1:0', '--pidfile', pidfile, `punix:${sock}`]);
    await until(() => existsSync(pidfile) && Number(readFileSync(pidfile, 'utf8')) === p.child.pid, 10000, 'pidfile');
    await until(() => p.lines().some((l) => l.msg === 'REST API listening'), 5000, 'REST log line');
    const url = p.lines().find((l) => l.msg === 'REST API listening')!.url as string;
    const fs = new FakeSwitch(0x42n);
    await fs.connect(`unix:${sock}`);
    await until(() => fs.flows().length === 2, 5000, 'static and table-miss flows').catch((e: Error) => {
      throw new Error(`${e.message}: ${fs.flows().map((f) => `${f.priority}/${f.actions[0]?.type}`).join(' ')} ${JSON.stringify(p.lines().filter((l) => l.level as number >= 40))}`);
    });
    const r = await (await fetch(`${url}/switches`)).json() as { switches: { dpid: string }[] };
    expect(r.switches.map((s) => s.dpid)).toEqual(['0000000000000042']);
    writeFileSync(flows, '"*":\n  - priority=6,actions=drop\n');
    p.child.kill('SIGHUP');
    await until(() => fs.flows().some((e) => e.priority === 6) && !fs.flows().some((e) => e.priority === 5), 5000, 'reloaded flows');
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    expect(existsSync(pidfile)).toBe(false);
    expect(existsSync(sock)).toBe(false);
    await until(() => fs.conns.length === 0);
    const msgs = p.lines().map((l) => l.msg);
    expect(msgs).toEqual(expect.arrayContaining(['controller listening', 'switch connected', 'SIGHUP: reloading app configuration', 'vscontroller exiting']));
  });

  it('exits 1 with the reason when it cannot listen', async () => {
    const sock = join(tmp, 'busy.sock');
    const first = start([`punix:${sock}`]);
    await until(() => first.lines().some((l) => l.msg === 'vscontroller ready'), 10000, 'first ready');
    const second = spawnSync(process.execPath, [BIN, `punix:${sock}`], { encoding: 'utf8', timeout: 10000 });
    expect(second.status).toBe(1);
    expect(second.stderr).toMatch(/^vscontroller: .*busy\.sock/m);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
  });

  it('--detach returns once the background copy is listening', async () => {
    const env = { ...process.env, VSWITCH_RUNDIR: join(tmp, 'run'), VSWITCH_LOGDIR: join(tmp, 'log') };
    const sock = join(tmp, 'bg.sock');
    const r = spawnSync(process.execPath, [BIN, '--detach', `punix:${sock}`], { encoding: 'utf8', timeout: 20000, env });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const pid = Number(readFileSync(join(tmp, 'run', 'vscontroller.pid'), 'utf8'));
    try {
      const fs = new FakeSwitch(0x43n);
      await fs.connect(`unix:${sock}`);
      fs.close();
      expect(readFileSync(join(tmp, 'log', 'vscontroller.log'), 'utf8')).toMatch(/"msg":"controller listening"/);
    } finally {
      process.kill(pid, 'SIGTERM');
    }
    await until(() => !existsSync(join(tmp, 'run', 'vscontroller.pid')), 10000, 'pidfile removed');
  });
});
