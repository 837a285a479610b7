/*
 * A bridge's MAC learning table: (MAC, VLAN) -> OpenFlow port, for NORMAL (xlate.ts). Called by
 * the upcall handler (learn on a miss), the revalidator (refresh entries that cached flows still
 * use, age out), config.ts (flush a removed port) and appctl (fdb/show, fdb/flush). Per upcall,
 * not per packet: the datapath's cached flows never come here.
 *
 * Design: entries sit in a two-level map (VLAN -> MAC -> entry; a 48-bit MAC and a 12-bit VLAN do
 * not fit together in a double exactly) and on one of two doubly linked lists, each ordered by
 * last refresh, least recent first: "probation" (seen once) and "protected" (seen again since:
 * a second miss, or the revalidator refreshing it for a cached flow that carries traffic). A
 * full table evicts the head of probation, and only when probation is empty the head of
 * protected (a segmented LRU). So a flood of random source MACs, each seen once, churns
 * probation among itself while the hosts with established flows keep their entries; memory
 * never exceeds mac-table-size entries. Protected holds at most 80% of the table (its least
 * recent entry drops back to probation beyond that), so new hosts can always be learned. A
 * lookup is two Map gets, a refresh moves one entry to a tail, aging walks from both heads and
 * stops at the first young entry. Config keys (Bridge other_config): mac-aging-time (seconds,
 * default 300), mac-table-size (entries, default 8192).
 *
 * `generation` goes up whenever a translation could come out differently: a new entry, a MAC
 * that moved to another port, an entry aged out, evicted or flushed. A plain refresh (same port)
 * does not change it. The revalidator compares generations to know it must re-translate.
 */

export const DEFAULT_MAC_AGING_S = 300;
export const DEFAULT_MAC_TABLE_SIZE = 8192;

export class MacEntry {
  mac: number;
  vlan: number;
  port: number;
  /** Time (ms) of the last learn or refresh. */
  refreshed: number;
  /** List it is on: 0 probation, 1 protected. */
  seg = 0;
  prev: MacEntry | null = null;
  next: MacEntry | null = null;
  constructor(mac: number, vlan: number, port: number, now: number) {
    this.mac = mac;
    this.vlan = vlan;
    this.port = port;
    this.refreshed = now;
  }
}

export interface MacCounters {
  learned: number;
  moved: number;
  aged: number;
  evicted: number;
  flushed: number;
}

const PROBATION = 0;
const PROTECTED = 1;
/** Share of the table the protected list may hold. */
const PROTECTED_SHARE = 0.8;

export class MacTable {
  private readonly byVlan = new Map<number, Map<number, MacEntry>>();
  private readonly heads: (MacEntry | null)[] = [null, null];
  private readonly tails: (MacEntry | null)[] = [null, null];
  private readonly counts = [0, 0];
  /** Seconds an entry lives without being refreshed. */
  agingS: number;
  /** Maximum number of entries; learning beyond it evicts (see the header). */
  maxEntries: number;
  /** Bumped on every change that can alter a translation (see the header). */
  generation = 0;
  readonly counters: MacCounters = { learned: 0, moved: 0, aged: 0, evicted: 0, flushed: 0 };

  constructor(agingS = DEFAULT_MAC_AGING_S, maxEntries = DEFAULT_MAC_TABLE_SIZE) {
    this.agingS = agingS;
    this.maxEntries = maxEntries;
  }

  get size(): number {
    return this.counts[0] + this.counts[1];
  }

  /** Entries seen more than once (protected from eviction by new ones). */
  get protectedSize(): number {
    return this.counts[PROTECTED];
  }

  /** The port that `mac` on `vlan` was learned on, or -1. Does not check age (see expire()). */
  lookup(mac: number, vlan: number): number {
    const e = this.byVlan.get(vlan)?.get(mac);
    return e === undefined ? -1 : e.port;
  }

  entry(mac: number, vlan: number): MacEntry | undefined {
    return this.byVlan.get(vlan)?.get(mac);
  }

  /**
   * Records that `mac` on `vlan` was seen on `port` at `now`. Returns true when the table
   * changed in a way that matters for translation (new entry or moved), false for a refresh.
   */
  learn(mac: number, vlan: number, port: number, now: number): boolean {
    let inVlan = this.byVlan.get(vlan);
    const e = inVlan?.get(mac);
    if (e !== undefined) {
      e.refreshed = now;
      this.unlink(e);
      this.append(e, PROTECTED);
      this.capProtected();
      if (e.port === port) return false;
      e.port = port;
      this.counters.moved++;
      this.generation++;
      return true;
    }
    if (this.maxEntries <= 0) return false;
    while (this.size >= this.maxEntries) {
      const victim = this.heads[PROBATION] ?? this.heads[PROTECTED];
      if (victim === null) break;
      this.remove(victim);
      this.counters.evicted++;
    }
    if (inVlan === undefined) {
      inVlan = new Map();
      this.byVlan.set(vlan, inVlan);
    }
    const n = new MacEntry(mac, vlan, port, now);
    inVlan.set(mac, n);
    this.append(n, PROBATION);
    this.counters.learned++;
    this.generation++;
    return true;
  }

  /** Removes entries not refreshed for agingS seconds. Returns how many went. */
  expire(now: number): number {
    const limit = now - this.agingS * 1000;
    let n = 0;
    for (let seg = 0; seg < 2; seg++) {
      while (this.heads[seg] !== null && (this.heads[seg] as MacEntry).refreshed <= limit) {
        this.remove(this.heads[seg] as MacEntry);
        n++;
      }
    }
    if (n > 0) {
      this.counters.aged += n;
      this.generation++;
    }
    return n;
  }

  /** Removes every entry (port < 0) or the entries of one port. Returns how many went. */
  flush(port = -1): number {
    let n = 0;
    for (let seg = 0; seg < 2; seg++) {
      for (let e = this.heads[seg]; e !== null; ) {
        const next: MacEntry | null = e.next;
        if (port < 0 || e.port === port) {
          this.remove(e);
          n++;
        }
        e = next;
      }
    }
    if (n > 0) {
      this.counters.flushed += n;
      this.generation++;
    }
    return n;
  }

  /** Applies a new table size, evicting (probation first) when it shrank. */
  resize(maxEntries: number): void {
    this.maxEntries = maxEntries;
    let n = 0;
    while (this.size > maxEntries) {
      const victim = this.heads[PROBATION] ?? this.heads[PROTECTED];
      if (victim === null) break;
      this.remove(victim);
      n++;
    }
    this.capProtected();
    if (n > 0) {
      this.counters.evicted += n;
      this.generation++;
    }
  }

  /** Entries from least to most recently refreshed (fdb/show order). */
  *entries(): IterableIterator<MacEntry> {
    let a = this.heads[PROBATION];
    let b = this.heads[PROTECTED];
    while (a !== null || b !== null) {
      if (b === null || (a !== null && a.refreshed <= b.refreshed)) {
        const e = a as MacEntry;
        a = e.next;
        yield e;
      } else {
        const e = b;
        b = e.next;
        yield e;
      }
    }
  }

  /** Age in whole seconds of an entry at `now`. */
  static age(e: MacEntry, now: number): number {
    return Math.max(0, Math.floor((now - e.refreshed) / 1000));
  }

  /** Keeps protected within its share: its least recent entries go back to probation. */
  private capProtected(): void {
    const cap = Math.max(1, Math.floor(this.maxEntries * PROTECTED_SHARE));
    while (this.counts[PROTECTED] > cap) {
      const e = this.heads[PROTECTED] as MacEntry;
      this.unlink(e);
      this.appendByAge(e);
    }
  }

  private remove(e: MacEntry): void {
    const inVlan = this.byVlan.get(e.vlan);
    if (inVlan !== undefined) {
      inVlan.delete(e.mac);
      if (inVlan.size === 0) this.byVlan.delete(e.vlan);
    }
    this.unlink(e);
  }

  private unlink(e: MacEntry): void {
    const seg = e.seg;
    if (e.prev !== null) e.prev.next = e.next;
    else this.heads[seg] = e.next;
    if (e.next !== null) e.next.prev = e.prev;
    else this.tails[seg] = e.prev;
    e.prev = null;
    e.next = null;
    this.counts[seg]--;
  }

  private append(e: MacEntry, seg: number): void {
    e.seg = seg;
    e.prev = this.tails[seg];
    e.next = null;
    const t = this.tails[seg];
    if (t !== null) t.next = e;
    else this.heads[seg] = e;
    this.tails[seg] = e;
    this.counts[seg]++;
  }

  /** Puts a demoted entry into probation at the place its refresh time says (kept sorted). */
  private appendByAge(e: MacEntry): void {
    let after = this.tails[PROBATION];
    while (after !== null && after.refreshed > e.refreshed) after = after.prev;
    e.seg = PROBATION;
    e.prev = after;
    e.next = after === null ? this.heads[PROBATION] : after.next;
    if (e.next !== null) e.next.prev = e;
    else this.tails[PROBATION] = e;
    if (after !== null) after.next = e;
    else this.heads[PROBATION] = e;
    this.counts[PROBATION]++;
  }
}
