/*
 * OpenFlow port number assignment for one bridge, run by config.ts on every reconciliation.
 * The bridge's own internal interface (named like the bridge) is LOCAL (65534). The others get,
 * in this order of precedence: their ofport_request when it is valid and no earlier interface
 * took it; the number they already have (Interface.ofport, so numbers survive restarts and
 * unrelated changes) when still free and not requested by anyone; else the lowest free number
 * from 1. Control path, pure.
 */
import { OFPP_LOCAL, OFPP_MAX } from './bridge.js';

export interface OfportCandidate {
  name: string;
  /** Interface.ofport_request, or undefined. */
  request?: number;
  /** The number the interface has now (Interface.ofport), or undefined. */
  current?: number;
}

function valid(n: number | undefined): n is number {
  return n !== undefined && Number.isInteger(n) && n >= 1 && n <= OFPP_MAX;
}

/** Assigns a number to every candidate of bridge `bridgeName`; returns name -> ofport. */
export function assignOfports(bridgeName: string, cands: readonly OfportCandidate[]): Map<string, number> {
  const out = new Map<string, number>();
  const used = new Set<number>();
  const sorted = [...cands].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const local = sorted.find((c) => c.name === bridgeName);
  if (local) out.set(local.name, OFPP_LOCAL);
  const rest = sorted.filter((c) => c !== local);

  for (const c of rest) {
    if (valid(c.request) && !used.has(c.request)) {
      used.add(c.request);
      out.set(c.name, c.request);
    }
  }
  for (const c of rest) {
    if (out.has(c.name)) continue;
    if (valid(c.current) && !used.has(c.current)) {
      used.add(c.current);
      out.set(c.name, c.current);
    }
  }
  let next = 1;
  for (const c of rest) {
    if (out.has(c.name)) continue;
    while (used.has(next)) next++;
    if (next > OFPP_MAX) break;
    used.add(next);
    out.set(c.name, next);
  }
  return out;
}
