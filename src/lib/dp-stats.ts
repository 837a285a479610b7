/*
 * The datapath's statistics as dp_stats returns them, and their text form as `dpctl show`
 * prints it (shaped like ovs-dpctl show: lookups, flows, masks, then our cache and drop
 * lines). Shared by the datapath (appctl dpif/show), dpctl and vswitchd. Control path.
 */

export interface DpStats {
  name: string;
  /** Frames that hit a cached flow (EMC or megaflow). */
  hit: number;
  /** Frames that missed both caches. */
  missed: number;
  /** Misses that could not be upcalled (no vswitchd, queue full, upcall limit). */
  lost: number;
  flows: number;
  /** The datapath's flow limit (puts of new flows beyond it are refused). */
  flow_limit?: number;
  /** Megaflow subtable searches (`hit`, summed over lookups) and subtables (`total`). */
  masks?: { hit: number; total: number };
  emc?: {
    /** Whether the pipeline consults the EMC now (see src/datapath/datapath.ts). */
    active?: boolean;
    min_probes?: number;
    hit: number; megaflow_hit: number; inserted: number; entries: number; size: number; insert_inv_prob: number;
  };
  upcall?: { queued_bytes: number; unsent_bytes: number; max_bytes: number; port_max_bytes: number };
  /** Every named counter (see src/datapath/counters.ts). */
  counters?: Record<string, number>;
  /** Names of the counters that count dropped frames. */
  drops?: string[];
}

/** "netdev@vswitch", the datapath's name as ovs-dpctl prints it. */
export function dpName(stats: Pick<DpStats, 'name'>): string {
  const n = stats.name || 'vswitch';
  return n.includes('@') ? n : `netdev@${n}`;
}

/** masks: hit/pkt, as OVS computes it: subtable searches per looked-up frame. */
export function hitPerPkt(stats: DpStats): string {
  const pkts = stats.hit + stats.missed;
  const hits = stats.masks?.hit ?? 0;
  return (pkts > 0 ? hits / pkts : 0).toFixed(2);
}

/** The lines before the port list of `dpctl show` (no trailing newline on the last). */
export function formatStatsLines(stats: DpStats, withCounters: boolean): string[] {
  const lines = [
    `${dpName(stats)}:`,
    `  lookups: hit:${stats.hit} missed:${stats.missed} lost:${stats.lost}`,
    `  flows: ${stats.flows}`,
  ];
  if (stats.masks) lines.push(`  masks: hit:${stats.masks.hit} total:${stats.masks.total} hit/pkt:${hitPerPkt(stats)}`);
  const e = stats.emc;
  if (e) {
    const state = e.active === undefined ? '' : `emc:${e.active ? 'on' : 'off'} `;
    lines.push(`  caches: ${state}emc-hit:${e.hit} megaflow-hit:${e.megaflow_hit} emc-entries:${e.entries}/${e.size} emc-inserted:${e.inserted} emc-insert-inv-prob:${e.insert_inv_prob}`);
  }
  if (withCounters && stats.upcall) {
    const u = stats.upcall;
    lines.push(`  limits: flows:${stats.flow_limit ?? '?'} upcall-bytes:${u.max_bytes} upcall-bytes-per-port:${u.port_max_bytes}`);
    lines.push(`  upcall queue: queued:${u.queued_bytes} unsent:${u.unsent_bytes}`);
  }
  if (withCounters && stats.counters && Object.keys(stats.counters).length) {
    const drops = new Set(stats.drops ?? []);
    lines.push('  counters:');
    for (const [name, value] of Object.entries(stats.counters)) lines.push(`    ${name}: ${value}${drops.has(name) ? ' (drop)' : ''}`);
  }
  return lines;
}
