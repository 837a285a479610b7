/*
 * A whole vswitch instance for end-to-end tests: private run/db/log directories, the real
 * daemons started with `vswitch start`, the tools run as separate processes exactly as a user
 * runs them, and network namespaces ("hosts") attached through tap ports. Everything it makes
 * has a unique name and is removed by destroy(), also after a failure.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';

const root = resolve(import.meta.dirname, '../..');

export interface ToolResult { status: number; stdout: string; stderr: string }

export interface Host { ns: string; tap: string; ip: string; mac: string }

export class Instance {
  readonly id = randomBytes(3).toString('hex');
  readonly dir = mkdtempSync(join(tmpdir(), 'vswitch-e2e-'));
  readonly env: NodeJS.ProcessEnv = {
    ...process.env,
    VSWITCH_RUNDIR: join(this.dir, 'run'),
    VSWITCH_DBDIR: join(this.dir, 'db'),
    VSWITCH_LOGDIR: join(this.dir, 'log'),
  };
  readonly hosts: Host[] = [];
  private readonly children: ChildProcess[] = [];

  /** Runs a tool (vswitch, vsctl, dpctl, appctl, ofctl) as a separate process. */
  tool(name: string, ...args: string[]): ToolResult {
    const r = spawnSync(process.execPath, [join(root, 'bin', `${name}.js`), ...args], { env: this.env, encoding: 'utf8', timeout: 60000 });
    return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }

  /** Runs a tool and throws with its output unless it exits 0. */
  ok(name: string, ...args: string[]): string {
    const r = this.tool(name, ...args);
    if (r.status !== 0) throw new Error(`${name} ${args.join(' ')} exited ${r.status}: ${r.stdout}${r.stderr}\n${this.logs()}`);
    return r.stdout;
  }

  pid(daemon: string): number {
    return Number(readFileSync(join(this.dir, 'run', `${daemon}.pid`), 'utf8'));
  }

  logs(): string {
    let out = '';
    for (const d of ['vsdb-server', 'datapath', 'vswitchd']) {
      const f = join(this.dir, 'log', `${d}.log`);
      if (existsSync(f)) out += `--- ${d}.log (tail)\n${readFileSync(f, 'utf8').split('\n').slice(-20).join('\n')}\n`;
    }
    return out;
  }

  /** Adds a tap port to `bridge` and moves it into a new namespace with address ip/24. */
  addHost(bridge: string, n: number, ip: string): Host {
    const h: Host = { ns: `vse-${this.id}-h${n}`, tap: `t${n}-${this.id}`, ip, mac: '' };
    this.ok('vsctl', 'add-port', bridge, h.tap, '--', 'set', 'Interface', h.tap, 'type=tap');
    sh('ip', 'netns', 'add', h.ns);
    this.hosts.push(h);
    // No IPv6 autoconfiguration chatter: tests decide exactly which frames each host sends.
    sh('ip', 'netns', 'exec', h.ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
    sh('ip', 'link', 'set', h.tap, 'netns', h.ns);
    sh('ip', '-n', h.ns, 'addr', 'add', `${ip}/24`, 'dev', h.tap);
    sh('ip', '-n', h.ns, 'link', 'set', h.tap, 'up');
    sh('ip', '-n', h.ns, 'link', 'set', 'lo', 'up');
    h.mac = sh('ip', 'netns', 'exec', h.ns, 'cat', `/sys/class/net/${h.tap}/address`).trim();
    return h;
  }

  /** Runs a command inside a host's namespace; returns status and output (never throws). */
  inHost(h: Host, cmd: string, ...args: string[]): ToolResult {
    const r = spawnSync('ip', ['netns', 'exec', h.ns, cmd, ...args], { encoding: 'utf8', timeout: 120000 });
    return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }

  /** Starts a long-running command in a host's namespace; killed by destroy(). */
  spawnInHost(h: Host, cmd: string, ...args: string[]): ChildProcess {
    const c = spawn('ip', ['netns', 'exec', h.ns, cmd, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.children.push(c);
    return c;
  }

  destroy(): void {
    for (const c of this.children) if (c.exitCode === null) c.kill('SIGKILL');
    this.tool('vswitch', 'stop');
    for (const d of ['vswitchd', 'datapath', 'vsdb-server']) {
      try { process.kill(this.pid(d), 'SIGKILL'); } catch { /* not running */ }
    }
    for (const h of this.hosts) {
      try { execFileSync('ip', ['netns', 'del', h.ns], { stdio: 'ignore' }); } catch { /* gone */ }
      try { execFileSync('ip', ['link', 'del', h.tap], { stdio: 'ignore' }); } catch { /* gone */ }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function sh(cmd: string, ...args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

export function linkExists(name: string, ns?: string): boolean {
  const args = ns ? ['-n', ns, 'link', 'show', name] : ['link', 'show', name];
  return spawnSync('ip', args, { stdio: 'ignore' }).status === 0;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
