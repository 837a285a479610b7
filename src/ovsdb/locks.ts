/*
 * Named locks shared by the clients of one vsdb server (RFC 7047 sections 4.1.8-4.1.10): who
 * owns each lock and who waits for it, in arrival order. server.ts calls it for "lock", "steal",
 * "unlock", the "assert" op and when a connection closes, and sends the "locked" and "stolen"
 * notifications this module reports. Control path.
 */

interface LockState<S> {
  owner: S | null;
  /** Sessions waiting, oldest first (never includes the owner). */
  waiters: S[];
}

export class LockTable<S> {
  private readonly locks = new Map<string, LockState<S>>();

  private state(name: string): LockState<S> {
    let l = this.locks.get(name);
    if (!l) this.locks.set(name, (l = { owner: null, waiters: [] }));
    return l;
  }

  /** True if `s` owns or waits for `name`. */
  holdsOrWaits(s: S, name: string): boolean {
    const l = this.locks.get(name);
    return !!l && (l.owner === s || l.waiters.includes(s));
  }

  owns(s: S, name: string): boolean {
    return this.locks.get(name)?.owner === s;
  }

  owner(name: string): S | null {
    return this.locks.get(name)?.owner ?? null;
  }

  /** Takes `name` if free (true); otherwise queues `s` (false; "locked" comes later). */
  lock(s: S, name: string): boolean {
    const l = this.state(name);
    if (l.owner === null) {
      l.owner = s;
      return true;
    }
    l.waiters.push(s);
    return false;
  }

  /** Makes `s` the owner at once; returns the session it was taken from (to notify with
   * "stolen"), or null. As in OVS, the victim stays first in line and gets the lock back
   * ("locked") when the thief unlocks, unless it unlocks first. */
  steal(s: S, name: string): S | null {
    const l = this.state(name);
    const prev = l.owner === s ? null : l.owner;
    l.waiters = l.waiters.filter((w) => w !== s);
    if (prev !== null) l.waiters.unshift(prev);
    l.owner = s;
    return prev;
  }

  /** Drops `s`'s ownership or place in line; returns the session that now owns the lock (to
   * notify with "locked"), or null. */
  unlock(s: S, name: string): S | null {
    const l = this.locks.get(name);
    if (!l) return null;
    l.waiters = l.waiters.filter((w) => w !== s);
    if (l.owner !== s) return null;
    l.owner = l.waiters.shift() ?? null;
    if (l.owner === null && l.waiters.length === 0) this.locks.delete(name);
    return l.owner;
  }

  /** Releases everything `s` holds or waits for; returns [new owner, lock name] pairs. */
  releaseAll(s: S): [S, string][] {
    const granted: [S, string][] = [];
    for (const name of [...this.locks.keys()]) {
      const next = this.unlock(s, name);
      if (next !== null) granted.push([next, name]);
    }
    return granted;
  }

  /** Lock names and their owner/waiter counts (for memory/show). */
  get size(): number {
    return this.locks.size;
  }
}
