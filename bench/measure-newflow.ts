/*
 * New-flow rate: a flood of 64-byte frames, each with a 5-tuple not seen before, through a
 * flow table that matches L4 ports (NEWFLOW_RULE, in Open vSwitch's syntax, installed the same
 * way in every switch that has a flow table), with exact-match datapath flows where the switch
 * can switch megaflows off. Every arriving frame is a distinct flow that went through the
 * switch's miss path, so arrivals per second in a one-second flood is the figure; the datapath's
 * miss counters go in the details. Called by bench/run.ts; control path.
 */
import type { Topology } from './topo.js';
import type { GenTools } from './gen/build.js';
import type { Measured } from './measure-tcp.js';
import { blast } from './measure-pps.js';
import { sleep } from './sh.js';

/** Never matches the flood (its source ports start at 2), but makes L4 ports part of lookups. */
export const NEWFLOW_RULE = 'priority=10,udp,tp_src=1,actions=drop';

export async function measureNewFlows(topo: Topology, tools: GenTools, seconds: number): Promise<Measured> {
  const why = await topo.addFlow(NEWFLOW_RULE);
  if (why !== null) return { figures: { newflow: { na: why } }, details: { newflow: { rule: NEWFLOW_RULE, na: why } } };
  const caching = await topo.beforeNewFlows();
  await sleep(200);
  const before = await topo.datapathStats();
  const b = await blast(topo, tools, seconds, true);
  const after = await topo.datapathStats();
  const delta = before && after
    ? { missed: after.missed - before.missed, lost: after.lost - before.lost, hit: after.hit - before.hit, flowsAfter: after.flows }
    : null;
  return {
    figures: { newflow: { value: b.received / b.seconds / 1000 } },
    details: { newflow: { rule: NEWFLOW_RULE, caching, ...b, datapath: delta } },
  };
}
