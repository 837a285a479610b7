/*
 * `vswitch demo`: the main job end to end, narrated. Starts a private instance (its own run,
 * database and log directories under a fresh temporary directory), creates bridge br0 with two
 * tap ports, moves each tap into its own network namespace ("host"), pings across the switch,
 * runs iperf3 through it, prints what the tools show, and removes everything it created, also
 * when a step fails or it is interrupted. Needs root (namespaces, tap devices).
 *
 * The switch itself runs in a network namespace of its own ("vsdemo-sw-ID"): the demo process
 * re-executes itself there, so the bridge's internal port br0 never meets a host device of the
 * same name (many hosts have a br0 bridge).
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { paths } from '../src/lib/paths.js';
import { sleep } from '../src/lib/daemon.js';
import { binPath, start, stop } from './vswitch.js';

function say(text: string): void {
  process.stdout.write(`\n== ${text}\n`);
}

/** Runs a command, echoing it; throws with its output if it fails. */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, echo = true): string {
  if (echo) process.stdout.write(`$ ${[cmd, ...args].join(' ')}\n`);
  const r = spawnSync(cmd, args, { env, encoding: 'utf8' });
  if (r.error) throw r.error;
  const out = (r.stdout ?? '') + (r.stderr ?? '');
  if (echo && out) process.stdout.write(out.endsWith('\n') ? out : `${out}\n`);
  if (r.status !== 0) throw new Error(`'${[cmd, ...args].join(' ')}' failed with status ${r.status}${echo ? '' : `: ${out}`}`);
  return out;
}

function tool(name: string, args: string[], env: NodeJS.ProcessEnv): string {
  process.stdout.write(`$ ${name} ${args.join(' ')}\n`);
  const r = spawnSync(process.execPath, [binPath(`${name}.js`), ...args], { env, encoding: 'utf8' });
  const out = (r.stdout ?? '') + (r.stderr ?? '');
  process.stdout.write(out.endsWith('\n') || !out ? out : `${out}\n`);
  if (r.status !== 0) throw new Error(`${name} ${args.join(' ')} failed with status ${r.status}`);
  return out;
}

export async function runDemo(seconds: number): Promise<number> {
  if (process.getuid && process.getuid() !== 0) {
    console.error('vswitch: demo needs root (it creates network namespaces and tap devices)');
    return 1;
  }
  const inner = process.env.VSWITCH_DEMO_NS_ID;
  if (!inner) return runInOwnNamespace(seconds);
  if (existsSync('/sys/class/net/br0')) {
    console.error('vswitch: demo: a network device named br0 already exists in the demo namespace');
    return 1;
  }
  const id = inner;
  const dir = mkdtempSync(join(tmpdir(), 'vswitch-demo-'));
  const env = {
    ...process.env,
    VSWITCH_RUNDIR: join(dir, 'run'),
    VSWITCH_DBDIR: join(dir, 'db'),
    VSWITCH_LOGDIR: join(dir, 'log'),
  };
  const hosts = [
    { ns: `vsdemo-h1-${id}`, tap: `vm1-${id}`, ip: '10.0.0.1' },
    { ns: `vsdemo-h2-${id}`, tap: `vm2-${id}`, ip: '10.0.0.2' },
  ];
  let iperfServer: ChildProcess | null = null;
  let interrupted = false;
  const onSignal = (): void => { interrupted = true; };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const p = paths(env);
  const saved = { ...process.env };
  try {
    say(`starting a private vswitch instance in ${dir} (network namespace vsdemo-sw-${id})`);
    Object.assign(process.env, { VSWITCH_RUNDIR: env.VSWITCH_RUNDIR, VSWITCH_DBDIR: env.VSWITCH_DBDIR, VSWITCH_LOGDIR: env.VSWITCH_LOGDIR });
    await start(p);

    say('bridge br0 with two tap ports');
    tool('vsctl', ['add-br', 'br0'], env);
    for (const h of hosts) tool('vsctl', ['add-port', 'br0', h.tap, '--', 'set', 'Interface', h.tap, 'type=tap'], env);

    say('two hosts: each tap moved into its own network namespace');
    for (const h of hosts) {
      run('ip', ['netns', 'add', h.ns], env);
      run('ip', ['link', 'set', h.tap, 'netns', h.ns], env);
      run('ip', ['-n', h.ns, 'addr', 'add', `${h.ip}/24`, 'dev', h.tap], env);
      run('ip', ['-n', h.ns, 'link', 'set', h.tap, 'up'], env);
      run('ip', ['-n', h.ns, 'link', 'set', 'lo', 'up'], env);
    }
    if (interrupted) throw new Error('interrupted');

    say('ping from host 1 to host 2 through br0');
    run('ip', ['netns', 'exec', hosts[0].ns, 'ping', '-c', '3', '-i', '0.2', '-W', '2', hosts[1].ip], env);

    say(`iperf3 from host 1 to host 2 (${seconds} s, TCP)`);
    iperfServer = spawn('ip', ['netns', 'exec', hosts[1].ns, 'iperf3', '-s', '-1'], { stdio: 'ignore' });
    let ok = false;
    for (let i = 0; i < 50 && !ok; i++) {
      await sleep(100);
      ok = spawnSync('ip', ['netns', 'exec', hosts[1].ns, 'ss', '-ltn', 'sport = :5201'], { encoding: 'utf8' }).stdout.includes('5201');
    }
    run('ip', ['netns', 'exec', hosts[0].ns, 'iperf3', '-c', hosts[1].ip, '-t', String(seconds), '-f', 'm'], env);
    if (interrupted) throw new Error('interrupted');

    say('what the switch shows');
    tool('vsctl', ['show'], env);
    tool('dpctl', ['dump-flows'], env);
    tool('appctl', ['fdb/show', 'br0'], env);
    say('demo finished: the two hosts talked through vswitch');
    return 0;
  } catch (e) {
    console.error(`vswitch: demo failed: ${(e as Error).message}`);
    for (const d of ['vsdb-server', 'datapath', 'vswitchd']) {
      const f = join(dir, 'log', `${d}.log`);
      if (existsSync(f)) console.error(`--- end of ${d}.log\n${readFileSync(f, 'utf8').trimEnd().split('\n').slice(-10).join('\n')}`);
    }
    return 1;
  } finally {
    say('cleaning up');
    if (iperfServer && iperfServer.exitCode === null) iperfServer.kill('SIGKILL');
    try { await stop(p); } catch (e) { console.error(`vswitch: stop failed: ${(e as Error).message}`); }
    for (const h of hosts) {
      try { execFileSync('ip', ['netns', 'del', h.ns], { stdio: 'ignore' }); } catch { /* not created */ }
      try { execFileSync('ip', ['link', 'del', h.tap], { stdio: 'ignore' }); } catch { /* already gone */ }
    }
    for (const k of ['VSWITCH_RUNDIR', 'VSWITCH_DBDIR', 'VSWITCH_LOGDIR']) {
      if (saved[k] === undefined) delete process.env[k]; else process.env[k] = saved[k];
    }
    rmSync(dir, { recursive: true, force: true });
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

/** Creates the switch's namespace, runs the demo inside it, and always removes it. */
function runInOwnNamespace(seconds: number): number {
  const id = randomBytes(2).toString('hex');
  const ns = `vsdemo-sw-${id}`;
  // Ctrl-C reaches the inner demo too, which cleans up; this process must live to remove ns.
  const ignore = (): void => {};
  process.on('SIGINT', ignore);
  process.on('SIGTERM', ignore);
  try {
    execFileSync('ip', ['netns', 'add', ns]);
    execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, binPath('vswitch.js'), 'demo', '--time', String(seconds)], {
      stdio: 'inherit',
      env: { ...process.env, VSWITCH_DEMO_NS_ID: id },
    });
    return r.status ?? 1;
  } catch (e) {
    console.error(`vswitch: demo failed: ${(e as Error).message}`);
    return 1;
  } finally {
    try { execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' }); } catch { /* not created */ }
    process.removeListener('SIGINT', ignore);
    process.removeListener('SIGTERM', ignore);
  }
}
