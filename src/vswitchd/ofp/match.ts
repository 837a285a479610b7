/*
 * A match: field values and bit masks over the OpenFlow flow layout (layout.ts), one value word
 * and one mask word per flow word, a 1 mask bit meaning "this bit must equal the value". Values
 * are kept normalized (value & ~mask == 0), so two matches are equal iff their words are. Made
 * by the flow syntax (match-syntax.ts) and the protocol conversion; read by the classifier and
 * the flow tables. Control path, except matchesFlow (per classifier candidate).
 *
 * The relations OpenFlow needs: equals (strict flow mods: same match), covers (non-strict:
 * a rule is selected by a filter when the rule is at least as specific and agrees with it on
 * the filter's bits) and overlaps (check_overlap: some packet matches both).
 */
import type { Field } from './fields.js';
import { getBig, getWide, lowMask, OF_WORDS, onesBig, setBig, setWide } from './layout.js';

/*
 * Matches are made by the hundred thousand (add-flows, dumps), and a typed array with its own
 * buffer costs ~0.8 us to make, a view on a shared slab ~0.1 us: value and mask words come from
 * 64 KiB slabs. A slab lives while any match on it does.
 */
const SLAB_WORDS = 16384;
let slab = new ArrayBuffer(SLAB_WORDS * 4);
let slabUsed = 0;
function slabWords(): Uint32Array {
  if (slabUsed + OF_WORDS > SLAB_WORDS) {
    slab = new ArrayBuffer(SLAB_WORDS * 4);
    slabUsed = 0;
  }
  const a = new Uint32Array(slab, slabUsed * 4, OF_WORDS);
  slabUsed += OF_WORDS;
  return a;
}

export class Match {
  readonly value: Uint32Array;
  readonly mask: Uint32Array;

  constructor(value?: Uint32Array, mask?: Uint32Array) {
    this.value = value ?? slabWords();
    this.mask = mask ?? slabWords();
  }

  /** The match that matches every packet. */
  static catchAll(): Match {
    return new Match();
  }

  /** An exact match on every bit of `flow` (tests, learned flows). */
  static exact(flow: Uint32Array): Match {
    const m = new Match(Uint32Array.from(flow));
    m.mask.fill(0xffffffff);
    return m;
  }

  clone(): Match {
    const m = new Match();
    m.value.set(this.value);
    m.mask.set(this.mask);
    return m;
  }

  /** Sets `f` to `value` under `mask` (default: all of the field); bits outside the mask are 0. */
  setField(f: Field, value: bigint, mask: bigint = onesBig(f.width)): void {
    if (f.width <= 52) {
      this.setFieldNum(f, Number(value & mask), Number(mask));
      return;
    }
    const m = mask & onesBig(f.width);
    setBig(this.mask, f.pos, f.width, m);
    setBig(this.value, f.pos, f.width, value & m);
  }

  /** Number form of setField for fields up to 52 bits wide. */
  setFieldNum(f: Field, value: number, mask: number = f.width >= 32 ? 2 ** f.width - 1 : lowMask(f.width)): void {
    setWide(this.mask, f.pos, f.width, mask);
    setWide(this.value, f.pos, f.width, f.width <= 32 ? (value & mask) >>> 0 : andWide(value, mask));
  }

  /** Makes `f` a wildcard again. */
  clearField(f: Field): void {
    setBig(this.mask, f.pos, f.width, 0n);
    setBig(this.value, f.pos, f.width, 0n);
  }

  fieldValue(f: Field): bigint {
    return getBig(this.value, f.pos, f.width);
  }
  fieldMask(f: Field): bigint {
    return getBig(this.mask, f.pos, f.width);
  }
  /** Value of a field up to 52 bits wide, as a number. */
  fieldValueNum(f: Field): number {
    return getWide(this.value, f.pos, f.width);
  }
  fieldMaskNum(f: Field): number {
    return getWide(this.mask, f.pos, f.width);
  }
  /** Whether every bit of `f` is matched. */
  isExact(f: Field): boolean {
    return this.fieldMask(f) === onesBig(f.width);
  }
  /** Whether no bit of `f` is matched. */
  isWild(f: Field): boolean {
    return this.fieldMask(f) === 0n;
  }

  isCatchAll(): boolean {
    for (let i = 0; i < OF_WORDS; i++) if (this.mask[i] !== 0) return false;
    return true;
  }

  /** Whether `flow` (OF_WORDS) matches. */
  matchesFlow(flow: Uint32Array): boolean {
    const v = this.value;
    const m = this.mask;
    for (let i = 0; i < OF_WORDS; i++) if (((flow[i] & m[i]) >>> 0) !== v[i]) return false;
    return true;
  }

  equals(o: Match): boolean {
    for (let i = 0; i < OF_WORDS; i++) if (this.mask[i] !== o.mask[i] || this.value[i] !== o.value[i]) return false;
    return true;
  }

  /**
   * Whether `rule` is selected by this match used as a non-strict filter: `rule` constrains at
   * least the bits this match constrains, to the same values (OpenFlow's non-strict modify,
   * delete and stats). Every packet `rule` matches then also matches this.
   */
  covers(rule: Match): boolean {
    for (let i = 0; i < OF_WORDS; i++) {
      const fm = this.mask[i];
      if ((fm & ~rule.mask[i]) !== 0) return false;
      if (((this.value[i] ^ rule.value[i]) & fm) !== 0) return false;
    }
    return true;
  }

  /** Whether some packet matches both (the values agree wherever both masks have a bit). */
  overlaps(o: Match): boolean {
    for (let i = 0; i < OF_WORDS; i++) if (((this.value[i] ^ o.value[i]) & this.mask[i] & o.mask[i]) !== 0) return false;
    return true;
  }

  /** Clears value bits outside the mask (after raw writes). */
  normalize(): void {
    for (let i = 0; i < OF_WORDS; i++) this.value[i] = (this.value[i] & this.mask[i]) >>> 0;
  }

  /** A string identifying the match (map keys: replace-flows, diff-flows, learned flows). */
  key(): string {
    let s = '';
    for (let i = 0; i < OF_WORDS; i++) {
      if (this.mask[i] === 0) continue;
      s += `${i}:${this.value[i].toString(16)}/${this.mask[i].toString(16)};`;
    }
    return s;
  }
}

function andWide(a: number, b: number): number {
  const hi = (Math.floor(a / 0x100000000) & Math.floor(b / 0x100000000)) >>> 0;
  const lo = ((a % 0x100000000) & (b % 0x100000000)) >>> 0;
  return hi * 0x100000000 + lo;
}
