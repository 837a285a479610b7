/*
 * 64-byte forwarding rate and the frame blast it shares with the new-flow test: pktgen pushes
 * minimum-size UDP frames addressed to host 2's MAC out of host 1's interface from one core;
 * what the switch delivers is host 2's interface rx_packets delta (host 2's stack may drop the
 * frames afterwards; they have arrived). Called by bench/run.ts; control path.
 */
import type { Host, Topology } from './topo.js';
import type { GenTools } from './gen/build.js';
import { parseLinkStats, parsePktgen, type LinkStats } from './parse.js';
import { BenchCommandError, must, nsArgs, runAsync, sleep } from './sh.js';
import type { Measured } from './measure-tcp.js';

/** Time for frames still queued in the switch to arrive before the receiver is read. */
const DRAIN_MS = 250;

export function linkStats(h: Host): LinkStats {
  return parseLinkStats(must('ip', ['-n', h.ns, '-j', '-s', 'link', 'show', 'dev', h.ifname]));
}

export interface BlastResult { sent: number; received: number; seconds: number; senderTxDropped: number; receiverRxDropped: number }

/** Sends 64-byte frames from host 1 to host 2 for `seconds` (each with a new 5-tuple when
 *  `varyPorts`) and counts what arrived at host 2's interface. */
export async function blast(topo: Topology, tools: GenTools, seconds: number, varyPorts: boolean): Promise<BlastResult> {
  const [h1, h2] = topo.hosts;
  const tx0 = linkStats(h1);
  const rx0 = linkStats(h2);
  const args = [h1.ifname, h1.mac, h2.mac, h1.ip, h2.ip, String(seconds), ...(varyPorts ? ['--vary-ports'] : [])];
  const r = await runAsync('ip', nsArgs(h1.ns, tools.pktgen, args), { timeoutMs: seconds * 1000 + 30000 });
  if (r.status !== 0) throw new BenchCommandError('pktgen', args, r);
  const gen = parsePktgen(r.stdout);
  await sleep(DRAIN_MS);
  const tx1 = linkStats(h1);
  const rx1 = linkStats(h2);
  return {
    sent: gen.sent,
    received: rx1.rxPackets - rx0.rxPackets,
    seconds: gen.seconds,
    senderTxDropped: tx1.txDropped - tx0.txDropped,
    receiverRxDropped: rx1.rxDropped - rx0.rxDropped,
  };
}

export async function measurePps(topo: Topology, tools: GenTools, seconds: number): Promise<Measured> {
  const b = await blast(topo, tools, seconds, false);
  return {
    figures: { pps64: { value: b.received / b.seconds / 1000 } },
    details: { pps64: { ...b, sentKpps: b.sent / b.seconds / 1000 } },
  };
}
