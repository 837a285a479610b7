/*
 * A bridge's MAC learning table: (MAC, VLAN) -> OpenFlow port, for NORMAL (xlate.ts). Called by
 * the upcall handler (learn on a miss), the revalidator (refresh entries that cached flows still
 * use, age out), config.ts (flush a removed port) and appctl (fdb/show, fdb/flush). Per upcall,
 * not per packet: the datapath's cached flows never come here.
 *
 * Design: entries sit in a two-level map (VLAN -> MAC -> entry; a 48-bit MAC and a 12-bit VLAN do
 * not fit together in a double exactly) and on one doubly linked list ordered by last refresh,
 * least recent first. So a lookup is two Map gets, a refresh moves one entry to the tail, aging
 * walks from the head and stops at the first young entry, and a full table evicts the head (the
 * entry used least recently, as OVS does). Config keys (Bridge other_config): mac-aging-time
 * (seconds, default 300), mac-table-size (entries, default 8192).
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

export class MacTable {
  private readonly byVlan = new Map<number, Map<number, MacEntry>>();
  private head: MacEntry | null = null;
  private tail: MacEntry | null = null;
  private count = 0;
  /** Seconds an entry lives without being refreshed. */
  agingS: number;
  /** Maximum number of entries; learning beyond it evicts the least recently refreshed. */
  maxEntries: number;
  /** Bumped on every change that can alter a translation (see the header). */
  generation = 0;
  readonly counters: MacCounters = { learned: 0, moved: 0, aged: 0, evicted: 0, flushed: 0 };

  constructor(agingS = DEFAULT_MAC_AGING_S, maxEntries = DEFAULT_MAC_TABLE_SIZE) {
    this.agingS = agingS;
    this.maxEntries = maxEntries;
  }

  get size(): number {
    return this.count;
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
      this.moveToTail(e);
      if (e.port === port) return false;
      e.port = port;
      this.counters.moved++;
      this.generation++;
      return true;
    }
    if (this.maxEntries <= 0) return false;
    while (this.count >= this.maxEntries && this.head !== null) {
      this.remove(this.head);
      this.counters.evicted++;
    }
    if (inVlan === undefined) {
      inVlan = new Map();
      this.byVlan.set(vlan, inVlan);
    }
    const n = new MacEntry(mac, vlan, port, now);
    inVlan.set(mac, n);
    this.append(n);
    this.count++;
    this.counters.learned++;
    this.generation++;
    return true;
  }

  /** Removes entries not refreshed for agingS seconds. Returns how many went. */
  expire(now: number): number {
    const limit = now - this.agingS * 1000;
    let n = 0;
    while (this.head !== null && this.head.refreshed <= limit) {
      this.remove(this.head);
      n++;
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
    for (let e = this.head; e !== null; ) {
      const next: MacEntry | null = e.next;
      if (port < 0 || e.port === port) {
        this.remove(e);
        n++;
      }
      e = next;
    }
    if (n > 0) {
      this.counters.flushed += n;
      this.generation++;
    }
    return n;
  }

  /** Applies a new table size, evicting the oldest entries when it shrank. */
  resize(maxEntries: number): void {
    this.maxEntries = maxEntries;
    let n = 0;
    while (this.count > maxEntries && this.head !== null) {
      this.remove(this.head);
      n++;
    }
    if (n > 0) {
      this.counters.evicted += n;
      this.generation++;
    }
  }

  /** Entries from least to most recently refreshed (fdb/show order). */
  *entries(): IterableIterator<MacEntry> {
    for (let e = this.head; e !== null; e = e.next) yield e;
  }

  /** Age in whole seconds of an entry at `now`. */
  static age(e: MacEntry, now: number): number {
    return Math.max(0, Math.floor((now - e.refreshed) / 1000));
  }

  private remove(e: MacEntry): void {
    const inVlan = this.byVlan.get(e.vlan);
    if (inVlan !== undefined) {
      inVlan.delete(e.mac);
      if (inVlan.size === 0) this.byVlan.delete(e.vlan);
    }
    if (e.prev !== null) e.prev.next = e.next;
    else this.head = e.next;
    if (e.next !== null) e.next.prev = e.prev;
    else this.tail = e.prev;
    e.prev = null;
    e.next = null;
    this.count--;
  }

  private append(e: MacEntry): void {
    e.prev = this.tail;
    e.next = null;
    if (this.tail !== null) this.tail.next = e;
    else this.head = e;
    this.tail = e;
  }

  private moveToTail(e: MacEntry): void {
    if (this.tail === e) return;
    if (e.prev !== null) e.prev.next = e.next;
    else this.head = e.next;
    if (e.next !== null) e.next.prev = e.prev;
    e.prev = null;
    e.next = null;
    this.append(e);
  }
}
