/*
 * Setup c: the Linux kernel bridge, each host joined by a veth pair (one end in the host's
 * namespace, the other a bridge port). The upper bound for this machine. Built and torn down
 * by bench/run.ts; control path.
 */
import type { BenchNames, Topology } from './topo.js';
import { HOST_IPS, NO_FLOW_TABLE, attachHost, createNamespace, createVeth } from './topo.js';
import { must, onTeardown, run } from './sh.js';

export async function buildLinuxBridge(names: BenchNames): Promise<Topology> {
  const br = names.dev('c', 'br');
  must('ip', ['link', 'add', br, 'type', 'bridge']);
  onTeardown(`bridge ${br}`, () => { run('ip', ['link', 'del', br]); });
  must('ip', ['link', 'set', br, 'up']);
  const hosts = ([1, 2] as const).map((n) => {
    const ns = names.ns('c', n);
    const port = names.dev('c', `p${n}`);
    const inner = names.dev('c', `h${n}`);
    createNamespace(ns);
    createVeth(port, inner);
    must('ip', ['link', 'set', port, 'master', br]);
    must('ip', ['link', 'set', port, 'up']);
    return attachHost(ns, inner, HOST_IPS[n - 1]);
  });
  return {
    id: 'c',
    hosts: [hosts[0], hosts[1]],
    info: { bridge: br, ports: 'veth' },
    ...NO_FLOW_TABLE,
  };
}
