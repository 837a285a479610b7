/*
 * Setups d0 and dt: Open vSwitch's userspace datapath (datapath_type=netdev) with tap ports,
 * without and with userspace TSO. Its own ovsdb-server and ovs-vswitchd with private
 * directories (never the system's /etc/openvswitch or /var/run/openvswitch). ovs-vswitchd runs
 * in a namespace of its own: the netdev datapath always creates a tap named "ovs-netdev", so
 * two instances in one namespace collide. Its tap ports are then moved into the hosts.
 * Control path.
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchNames, Topology } from './topo.js';
import { HOST_IPS, SetupNotApplicable, attachHost, createNamespace } from './topo.js';
import { BenchCommandError, must, nsArgs, onTeardown, run, sleep, type CmdResult } from './sh.js';
import { parseDpStats, type DpStats } from './parse.js';

const SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema';
/** ovs-ctl's default --ovs-vswitchd-priority. */
const OVS_VSWITCHD_NICE = -10;
const TOOLS = ['ovsdb-tool', 'ovsdb-server', 'ovs-vswitchd', 'ovs-vsctl', 'ovs-ofctl', 'ovs-appctl'];
const TSO_LOG_LINE = 'Userspace TCP Segmentation Offloading support enabled';

/** Open vSwitch's version when it is installed, else why it cannot be used. */
export function ovsVersion(): { version: string } | { missing: string } {
  const absent = TOOLS.filter((t) => run('sh', ['-c', `command -v ${t}`]).status !== 0);
  if (absent.length || !existsSync(SCHEMA)) {
    return { missing: `Open vSwitch is not installed (missing ${absent.length ? absent.join(', ') : SCHEMA}; apt-get install openvswitch-switch)` };
  }
  const v = /\(Open vSwitch\) (\S+)/.exec(run('ovs-vswitchd', ['--version']).stdout);
  return { version: v ? v[1] : 'unknown' };
}

/** SIGTERM the pid in `pidfile`, SIGKILL after `ms` if it is still there. */
async function killPidfile(pidfile: string, ms = 5000): Promise<void> {
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(pidfile, 'utf8'), 10);
  } catch {
    return;
  }
  if (!(pid > 0)) return;
  const alive = (): boolean => { try { process.kill(pid, 0); return true; } catch { return false; } };
  try { process.kill(pid, 'SIGTERM'); } catch { return; }
  const deadline = Date.now() + ms;
  while (alive() && Date.now() < deadline) await sleep(50);
  if (alive()) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
}

export async function buildOvs(tso: boolean, names: BenchNames, tmp: string): Promise<Topology> {
  const setup = tso ? 'dt' : 'd0';
  const v = ovsVersion();
  if ('missing' in v) throw new SetupNotApplicable(v.missing);
  const dir = join(tmp, `ovs-${setup}`);
  const env: NodeJS.ProcessEnv = { ...process.env, OVS_RUNDIR: dir, OVS_DBDIR: dir, OVS_LOGDIR: dir, OVS_SYSCONFDIR: dir };
  const f = (name: string): string => join(dir, name);
  const vsctl = (...args: string[]): CmdResult => {
    const r = run('ovs-vsctl', [`--db=unix:${f('db.sock')}`, '--timeout=20', ...args], { env });
    if (r.status !== 0 || /Error detected/.test(r.stderr)) throw new BenchCommandError('ovs-vsctl', args, { ...r, stderr: `${r.stderr}\n${logTail()}` });
    return r;
  };
  const appctl = (...args: string[]) => run('ovs-appctl', ['-t', f('ovs-vswitchd.ctl'), ...args], { env });
  const logTail = (): string => {
    try { return readFileSync(f('ovs-vswitchd.log'), 'utf8').trimEnd().split('\n').slice(-5).join('\n'); } catch { return ''; }
  };

  // Hosts and the switch's namespace first: teardown (newest first) stops OVS before them.
  for (const n of [1, 2] as const) createNamespace(names.ns(setup, n));
  const swns = `vbench-${names.suffix}-${setup}-sw`;
  createNamespace(swns);

  mkdirSync(dir, { recursive: true });
  onTeardown(`Open vSwitch in ${dir}`, async () => {
    await killPidfile(f('ovs-vswitchd.pid'));
    await killPidfile(f('ovsdb-server.pid'));
    rmSync(dir, { recursive: true, force: true });
  });
  must('ovsdb-tool', ['create', f('conf.db'), SCHEMA], { env });
  must('ovsdb-server', [f('conf.db'), `--remote=punix:${f('db.sock')}`, `--pidfile=${f('ovsdb-server.pid')}`, '--detach',
    `--log-file=${f('ovsdb-server.log')}`, `--unixctl=${f('ovsdb-server.ctl')}`], { env });
  vsctl('--no-wait', 'init');
  // Read once when ovs-vswitchd starts ("changing this value requires restarting the daemon"),
  // so it is set before the first start.
  if (tso) vsctl('--no-wait', 'set', 'Open_vSwitch', '.', 'other_config:userspace-tso-enable=true');
  // At nice -10, as ovs-ctl (the way Open vSwitch is normally started) runs it; vswitch's
  // datapath thread runs at the same level (src/datapath/priority.ts).
  must('ip', nsArgs(swns, 'nice', ['-n', String(OVS_VSWITCHD_NICE), 'ovs-vswitchd', `unix:${f('db.sock')}`, `--pidfile=${f('ovs-vswitchd.pid')}`, '--detach',
    `--log-file=${f('ovs-vswitchd.log')}`, `--unixctl=${f('ovs-vswitchd.ctl')}`]), { env });
  if (tso) {
    const logged = (): boolean => {
      try { return readFileSync(f('ovs-vswitchd.log'), 'utf8').includes(TSO_LOG_LINE); } catch { return false; }
    };
    let on = logged();
    for (let i = 0; i < 40 && !on; i++) {
      await sleep(50);
      on = logged();
    }
    if (!on) throw new BenchCommandError('ovs-vswitchd', ['(userspace TSO)'], { status: 0, stdout: '', stderr: `did not log "${TSO_LOG_LINE}"\n${logTail()}` });
  }

  const br = names.dev(setup, 'br');
  vsctl('add-br', br, '--', 'set', 'Bridge', br, 'datapath_type=netdev');
  const hosts = ([1, 2] as const).map((n) => {
    const tap = names.dev(setup, `t${n}`);
    vsctl('add-port', br, tap, '--', 'set', 'Interface', tap, 'type=tap');
    return attachHost(names.ns(setup, n), tap, HOST_IPS[n - 1], swns);
  });

  return {
    id: setup,
    hosts: [hosts[0], hosts[1]],
    info: { bridge: br, ovs: v.version, datapath_type: 'netdev', ports: 'tap', userspace_tso: tso, instance: dir },
    async addFlow(rule: string): Promise<string | null> {
      const r = run('ovs-ofctl', ['add-flow', br, rule], { env });
      return r.status === 0 ? null : `ovs-ofctl add-flow failed: ${(r.stderr || r.stdout).trim().split('\n')[0]}`;
    },
    async beforeNewFlows(): Promise<string> {
      // OVS's classifier unwildcards only a prefix of tp_src when a packet misses a tp_src=1
      // rule (its ports trie), so one megaflow covers thousands of 5-tuples. Exact-match
      // datapath flows make each new 5-tuple a miss, as in vswitch's exact-match cache.
      const r = appctl('upcall/disable-megaflows');
      if (r.status !== 0) throw new BenchCommandError('ovs-appctl', ['upcall/disable-megaflows'], r);
      return 'megaflows disabled (ovs-appctl upcall/disable-megaflows)';
    },
    async datapathStats(): Promise<DpStats | null> {
      const r = appctl('dpctl/show');
      return r.status === 0 ? parseDpStats(r.stdout) : null;
    },
    async diagnostics(): Promise<string | null> {
      const r = appctl('dpctl/show', '-s');
      return r.status === 0 ? r.stdout : null;
    },
  };
}
