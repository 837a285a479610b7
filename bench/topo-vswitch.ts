/*
 * Setups a and b: vswitch itself. A private instance (its own run, database and log
 * directories) started with `vswitch start`, one bridge, and either two tap ports moved into
 * the hosts' namespaces (a) or two veth pairs whose root ends are `type=system` ports (b).
 * The tools run as separate processes, exactly as a user runs them. Control path.
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchNames, Topology } from './topo.js';
import { HOST_IPS, SetupNotApplicable, attachHost, createNamespace, createVeth } from './topo.js';
import { BenchCommandError, must, onTeardown, run, runAsync } from './sh.js';
import { parseDpStats, type DpStats } from './parse.js';

const DAEMONS = ['vswitchd', 'datapath', 'vsdb-server'];

export interface VswitchPaths { root: string; tmp: string }

export async function buildVswitch(kind: 'tap' | 'system', names: BenchNames, where: VswitchPaths): Promise<Topology> {
  const setup = kind === 'tap' ? 'a' : 'b';
  const dir = join(where.tmp, `vswitch-${setup}`);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    VSWITCH_RUNDIR: join(dir, 'run'),
    VSWITCH_DBDIR: join(dir, 'db'),
    VSWITCH_LOGDIR: join(dir, 'log'),
  };
  const bin = (tool: string): string => join(where.root, 'bin', `${tool}.js`);
  const tool = (name: string, ...args: string[]) => run(process.execPath, [bin(name), ...args], { env });
  const logs = (): string => DAEMONS.map((d) => {
    const f = join(dir, 'log', `${d}.log`);
    return existsSync(f) ? `--- ${d}.log\n${readFileSync(f, 'utf8').trimEnd().split('\n').slice(-5).join('\n')}` : '';
  }).filter(Boolean).join('\n');

  // Hosts first, so teardown (newest first) stops the switch before it removes them.
  const nsOf = (n: 1 | 2): string => names.ns(setup, n);
  for (const n of [1, 2] as const) {
    createNamespace(nsOf(n));
    if (kind === 'system') {
      createVeth(names.dev(setup, `p${n}`), names.dev(setup, `h${n}`));
      must('ip', ['link', 'set', names.dev(setup, `p${n}`), 'up']);
    }
  }

  mkdirSync(dir, { recursive: true });
  onTeardown(`vswitch instance in ${dir}`, () => {
    tool('vswitch', 'stop');
    for (const d of DAEMONS) {
      try {
        const pid = Number(readFileSync(join(dir, 'run', `${d}.pid`), 'utf8'));
        if (pid > 0) process.kill(pid, 'SIGKILL');
      } catch { /* not running */ }
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const started = await runAsync(process.execPath, [bin('vswitch'), 'start'], { env, timeoutMs: 60000 });
  if (started.status !== 0) throw new BenchCommandError('vswitch', ['start'], started);

  const br = names.dev(setup, 'br');
  const vsctl = (...args: string[]): string => {
    const r = tool('vsctl', ...args);
    if (r.status !== 0) throw new BenchCommandError('vsctl', args, { ...r, stderr: `${r.stderr}\n${logs()}` });
    return r.stderr;
  };
  vsctl('add-br', br);

  const hosts = ([1, 2] as const).map((n) => {
    if (kind === 'tap') {
      const tap = names.dev(setup, `t${n}`);
      const err = vsctl('add-port', br, tap, '--', 'set', 'Interface', tap, 'type=tap');
      if (/error/i.test(err)) throw new BenchCommandError('vsctl', ['add-port', br, tap], { status: 0, stdout: '', stderr: `${err}\n${logs()}` });
      return attachHost(nsOf(n), tap, HOST_IPS[n - 1]);
    }
    const port = names.dev(setup, `p${n}`);
    const r = tool('vsctl', 'add-port', br, port, '--', 'set', 'Interface', port, 'type=system');
    if (r.status !== 0 || /error/i.test(r.stderr)) {
      const why = (r.stderr || r.stdout).trim().split('\n')[0].replace(/^vsctl:\s*/, '');
      throw new SetupNotApplicable(`vswitch system ports: vsctl add-port ... type=system: ${why}`);
    }
    return attachHost(nsOf(n), names.dev(setup, `h${n}`), HOST_IPS[n - 1]);
  });

  return {
    id: setup,
    hosts: [hosts[0], hosts[1]],
    info: { bridge: br, ports: kind, instance: dir },
    async addFlow(rule: string): Promise<string | null> {
      const help = tool('ofctl', '--help');
      if (!/\badd-flow\b/.test(help.stdout + help.stderr)) return 'needs ofctl add-flow';
      const r = tool('ofctl', 'add-flow', br, rule);
      if (r.status !== 0) return `ofctl add-flow ${br} "${rule}" failed: ${(r.stderr || r.stdout).trim().split('\n')[0]}`;
      return null;
    },
    async beforeNewFlows(): Promise<string> {
      // Same command as in OVS: with a wildcarding cache, exact-match flows make every new
      // 5-tuple a miss, as OVS is run for this measurement. Without the command the cache is
      // taken as exact-match; the misses counted in the details show whether it was.
      const r = tool('appctl', 'upcall/disable-megaflows');
      return r.status === 0 ? 'megaflows disabled (appctl upcall/disable-megaflows)' : 'no appctl upcall/disable-megaflows';
    },
    async datapathStats(): Promise<DpStats | null> {
      const r = tool('dpctl', 'show');
      return r.status === 0 ? parseDpStats(r.stdout) : null;
    },
    async diagnostics(): Promise<string | null> {
      const r = tool('dpctl', 'show', '-s');
      return r.status === 0 ? r.stdout : null;
    },
  };
}
