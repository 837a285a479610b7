/*
 * A path-compressed binary trie of the prefixes (value, length 1..32) that rules match on one
 * 32-bit flow word (the classifier keeps one for nw_src's and one for nw_dst's first word).
 * lookup() walks it with a packet's word and tells which prefix lengths some rule has that
 * match the packet, and how many leading bits the walk had to look at; the classifier uses
 * that to skip subtables whose prefix length cannot match, un-wildcarding only those bits
 * instead of the subtable's whole mask. Owned by classifier.ts; lookup is per classifier
 * lookup (per upcall), no allocation.
 */

class TrieNode {
  /** The prefix, left-aligned (bits past `len` are 0). */
  prefix: number;
  len: number;
  /** Rules whose prefix is exactly this one. */
  count = 0;
  c0: TrieNode | null = null;
  c1: TrieNode | null = null;
  constructor(prefix: number, len: number) {
    this.prefix = prefix;
    this.len = len;
  }
}

/** The leading `n` bits set (n in 0..32). */
export function prefixMask32(n: number): number {
  return n === 0 ? 0 : (0xffffffff << (32 - n)) >>> 0;
}

/** Bit `i` (0 = most significant) of v. */
function bitAt(v: number, i: number): number {
  return (v >>> (31 - i)) & 1;
}

export class PrefixTrie {
  private readonly root = new TrieNode(0, 0);
  /** After lookup(): bit (len-1) set for every length with a rule prefix matching the value. */
  lens = 0;
  /** After lookup(): how many leading bits the result depends on (1..32). */
  checkBits = 0;
  /** Distinct (prefix, len) entries with count > 0, for tests. */
  size = 0;

  insert(value: number, len: number): void {
    const v = (value & prefixMask32(len)) >>> 0;
    let node = this.root;
    for (;;) {
      if (node.len === len) {
        if (node.count++ === 0) this.size++;
        return;
      }
      const b = bitAt(v, node.len);
      const child = b ? node.c1 : node.c0;
      if (child === null) {
        this.setChild(node, b, this.leaf(v, len));
        return;
      }
      const lim = Math.min(len, child.len);
      const diff = ((v ^ child.prefix) & prefixMask32(lim)) >>> 0;
      const common = diff === 0 ? lim : Math.clz32(diff);
      if (common === child.len) {
        node = child;
        continue;
      }
      const mid = new TrieNode((v & prefixMask32(common)) >>> 0, common);
      this.setChild(mid, bitAt(child.prefix, common), child);
      this.setChild(node, b, mid);
      if (common === len) {
        mid.count = 1;
        this.size++;
      } else {
        this.setChild(mid, bitAt(v, common), this.leaf(v, len));
      }
      return;
    }
  }

  private leaf(v: number, len: number): TrieNode {
    const n = new TrieNode(v, len);
    n.count = 1;
    this.size++;
    return n;
  }

  private setChild(node: TrieNode, b: number, child: TrieNode | null): void {
    if (b) node.c1 = child;
    else node.c0 = child;
  }

  /** Removes one (value, len); returns false when it was not there. */
  remove(value: number, len: number): boolean {
    const v = (value & prefixMask32(len)) >>> 0;
    const path: TrieNode[] = [];
    let node: TrieNode | null = this.root;
    while (node !== null && node.len < len) {
      path.push(node);
      node = bitAt(v, node.len) ? node.c1 : node.c0;
      if (node !== null && ((node.prefix ^ v) & prefixMask32(Math.min(node.len, len))) !== 0) node = null;
    }
    if (node === null || node.len !== len || node.count === 0) return false;
    if (--node.count > 0) return true;
    this.size--;
    // Prune: drop a childless node, splice out a node left with one child and no rules.
    let cur: TrieNode = node;
    while (path.length > 0 && cur.count === 0) {
      const parent: TrieNode = path[path.length - 1];
      const b = parent.c1 === cur ? 1 : 0;
      if (cur.c0 === null && cur.c1 === null) this.setChild(parent, b, null);
      else if (cur.c0 === null || cur.c1 === null) this.setChild(parent, b, cur.c0 ?? cur.c1);
      else break;
      cur = parent;
      path.pop();
      if (cur === this.root) break;
    }
    return true;
  }

  /** Walks the trie with `value`; sets `lens` and `checkBits`. */
  lookup(value: number): void {
    const v = value >>> 0;
    let node = this.root;
    let lens = 0;
    for (;;) {
      if (node.count > 0 && node.len > 0) lens |= 1 << (node.len - 1);
      if (node.len === 32) {
        this.checkBits = 32;
        break;
      }
      const child = bitAt(v, node.len) ? node.c1 : node.c0;
      if (child === null) {
        this.checkBits = node.len + 1;
        break;
      }
      const diff = ((v ^ child.prefix) & prefixMask32(child.len)) >>> 0;
      if (diff !== 0) {
        this.checkBits = Math.clz32(diff) + 1;
        break;
      }
      node = child;
    }
    this.lens = lens >>> 0;
  }

  /** After lookup(): whether some rule prefix of length `len` matched. */
  matched(len: number): boolean {
    return ((this.lens >>> (len - 1)) & 1) === 1;
  }
}
