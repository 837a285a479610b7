/*
 * What every benchmark setup builds: two hosts (network namespaces, one interface each, on one
 * subnet) joined by a switch, and what the measurements may ask of the switch. Each
 * bench/topo-*.ts builds one kind of switch; this module holds the shared host plumbing.
 * Control path; everything created is registered for teardown (bench/sh.ts).
 */
import { randomBytes } from 'node:crypto';
import { VswitchError } from '../src/lib/errors.js';
import type { SetupId } from './options.js';
import { must, nsArgs, onTeardown, run } from './sh.js';
import type { DpStats } from './parse.js';

export interface Host {
  ns: string;
  /** The host's interface, inside `ns`. */
  ifname: string;
  ip: string;
  mac: string;
}

export interface Topology {
  readonly id: SetupId;
  readonly hosts: [Host, Host];
  /** Facts worth keeping in the JSON (versions, port types). */
  readonly info: Record<string, unknown>;
  /**
   * Installs an OpenFlow rule written in Open vSwitch's syntax; resolves null once it is in
   * place, or with the reason it cannot be (shown as "n/a (reason)").
   */
  addFlow(rule: string): Promise<string | null>;
  /**
   * Called right before the new-flow flood, after addFlow: makes every new 5-tuple a datapath
   * miss where the switch can (exact-match datapath flows). Resolves with what it did.
   */
  beforeNewFlows(): Promise<string>;
  /** The datapath's lookup counters and flow count, or null when it has none. */
  datapathStats(): Promise<DpStats | null>;
  /** The switch's own view after the measurements (ports, counters), for the JSON; or null. */
  diagnostics(): Promise<string | null>;
}

/** Thrown when a setup cannot be built on this machine (missing feature or tool); the
 *  message becomes the "n/a" reason of every figure of that setup. */
export class SetupNotApplicable extends VswitchError {
  constructor(message: string) {
    super('BENCH_NOT_APPLICABLE', message);
    this.name = 'SetupNotApplicable';
  }
}

/** Names and addresses for one run; the suffix keeps them apart from anyone else's. */
export interface BenchNames {
  suffix: string;
  /** Namespace for host n (1 or 2) of `setup`. */
  ns(setup: SetupId, n: 1 | 2): string;
  /** An interface name (≤ 15 characters) for `role` in `setup`. */
  dev(setup: SetupId, role: string): string;
}

export const HOST_IPS: [string, string] = ['10.213.0.1', '10.213.0.2'];
export const PREFIX_LEN = 24;

export function makeNames(suffix = randomBytes(2).toString('hex')): BenchNames {
  return {
    suffix,
    ns: (setup, n) => `vbench-${suffix}-${setup}-h${n}`,
    dev: (setup, role) => `vb${setup}${role}-${suffix}`.slice(0, 15),
  };
}

/** Creates namespace `ns` (registered for deletion): loopback up, no IPv6 chatter. */
export function createNamespace(ns: string): void {
  must('ip', ['netns', 'add', ns]);
  onTeardown(`namespace ${ns}`, () => { run('ip', ['netns', 'del', ns]); });
  must('ip', nsArgs(ns, 'sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']));
  must('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
}

/**
 * Moves interface `dev` (now in namespace `from`, or the root one when null) into `ns`, gives
 * it `ip` and brings it up. Returns the host.
 */
export function attachHost(ns: string, dev: string, ip: string, from: string | null = null): Host {
  must('ip', [...(from ? ['-n', from] : []), 'link', 'set', dev, 'netns', ns]);
  must('ip', ['-n', ns, 'addr', 'add', `${ip}/${PREFIX_LEN}`, 'dev', dev]);
  must('ip', ['-n', ns, 'link', 'set', dev, 'up']);
  const mac = JSON.parse(must('ip', ['-n', ns, '-j', 'link', 'show', 'dev', dev]))[0]?.address as string | undefined;
  if (!mac) throw new VswitchError('BENCH_COMMAND', `cannot read the MAC address of ${dev} in ${ns}`);
  return { ns, ifname: dev, ip, mac };
}

/** Creates a veth pair `a`/`b` in the root namespace (registered for deletion). */
export function createVeth(a: string, b: string): void {
  must('ip', ['link', 'add', a, 'type', 'veth', 'peer', 'name', b]);
  onTeardown(`veth ${a}`, () => { run('ip', ['link', 'del', a]); });
}

/** A Topology's defaults for a switch without a flow table. */
export const NO_FLOW_TABLE = {
  addFlow: async (): Promise<string | null> => 'no flow table',
  beforeNewFlows: async (): Promise<string> => 'no datapath cache',
  datapathStats: async (): Promise<DpStats | null> => null,
  diagnostics: async (): Promise<string | null> => null,
};
