/*
 * A growable datapath action list (i32 words, layouts in src/lib/dpif-proto.ts) that the
 * translation appends to: outputs, VLAN push/pop, the masked header sets and userspace
 * (packet-in) actions. One instance per translator, reset for each translation. Per upcall,
 * not per packet.
 */
import {
  ACT_OUTPUT, ACT_POP_VLAN, ACT_PUSH_VLAN, ACT_SET_ARP, ACT_SET_ETH, ACT_SET_IPV4, ACT_SET_IPV6, ACT_SET_L4, ACT_USERSPACE,
} from '../lib/dpif-proto.js';

export class OdpActions {
  buf = new Int32Array(64);
  n = 0;
  reset(): void {
    this.n = 0;
  }
  private word(w: number): void {
    if (this.n === this.buf.length) {
      const nb = new Int32Array(this.buf.length * 2);
      nb.set(this.buf);
      this.buf = nb;
    }
    this.buf[this.n++] = w;
  }
  output(odpPort: number): void {
    this.word(ACT_OUTPUT);
    this.word(odpPort);
  }
  pushVlan(tci: number): void {
    this.word(ACT_PUSH_VLAN);
    this.word(tci);
  }
  popVlan(): void {
    this.word(ACT_POP_VLAN);
  }
  /**
   * A masked set of one header: `op` is ACT_SET_ETH, _IPV4, _IPV6 or _ARP, `words` the flow-key
   * word indices it carries (in the order dpif-proto.ts gives), values from `flow`, masks from
   * `mask` (both key-layout arrays).
   */
  set(op: number, words: ArrayLike<number>, flow: Uint32Array, mask: Uint32Array): void {
    this.word(op);
    for (let k = 0; k < words.length; k++) this.word(flow[words[k]] & mask[words[k]]);
    for (let k = 0; k < words.length; k++) this.word(mask[words[k]]);
  }
  /** ACT_SET_L4 for IP protocol `proto`: the W_TP word under `mask`. */
  setL4(proto: number, value: number, mask: number): void {
    this.word(ACT_SET_L4);
    this.word(proto);
    this.word(value & mask);
    this.word(mask);
  }
  /** ACT_USERSPACE reported on datapath port `odpPort` with the first `maxLen` bytes and `user`. */
  userspace(odpPort: number, maxLen: number, user: ArrayLike<number>): void {
    this.word(ACT_USERSPACE);
    this.word(2 + user.length);
    this.word(odpPort);
    this.word(maxLen);
    for (let k = 0; k < user.length; k++) this.word(user[k]);
  }
  equals(other: ArrayLike<number>): boolean {
    if (other.length !== this.n) return false;
    for (let i = 0; i < this.n; i++) if ((other[i] | 0) !== this.buf[i]) return false;
    return true;
  }
  toArray(): number[] {
    return Array.from(this.buf.subarray(0, this.n));
  }
}

export { ACT_SET_ARP, ACT_SET_ETH, ACT_SET_IPV4, ACT_SET_IPV6 };
