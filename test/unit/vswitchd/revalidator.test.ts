import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { DpifClient } from '../../../src/lib/dpif-client.js';
import { ACT_OUTPUT } from '../../../src/lib/dpif-proto.js';
import { FlowDumpPage } from '../../../src/lib/flow-dump.js';
import { ETH_TYPE_IP, W_ETH_MID, W_ETH_SRC_LO, W_IN_PORT, W_TYPE_TCI, newKey, setEth } from '../../../src/lib/flow-key.js';
import { exactMask, Wildcards } from '../../../src/lib/flow-mask.js';
import { Bridge, BridgePort, TRUNK_ALL } from '../../../src/vswitchd/bridge.js';
import { Revalidator, type DumpedFlow } from '../../../src/vswitchd/revalidator.js';
import { SwitchState } from '../../../src/vswitchd/state.js';
import { INITIAL_FLOW_LIMIT, udpifOf } from '../../../src/vswitchd/udpif.js';

const log = pino({ level: 'silent' });
const A = 0x02000000000a;
const B = 0x02000000000b;
const C = 0x02000000000c;

/** A datapath holding flows in memory, recording what the revalidator did to them. */
class FakeDp {
  flows: DumpedFlow[] = [];
  puts: { key: number[]; mask: number[]; actions: number[] }[] = [];
  dels: number[][] = [];
  pageSizes: number[] = [];
  isClosed = false;
  async dumpFlows(onPage: (pg: FlowDumpPage) => void | Promise<void>, pageSize = 1024): Promise<number> {
    const flows = this.flows.map((f) => ({ ...f, key: [...f.key], mask: [...f.mask], actions: [...f.actions] }));
    let i = 0;
    do {
      const part = flows.slice(i, i + pageSize);
      this.pageSizes.push(part.length);
      await onPage(FlowDumpPage.fromFlows(part, i + pageSize >= flows.length));
      i += pageSize;
    } while (i < flows.length);
    return flows.length;
  }
  flowPut(key: Uint32Array, mask: Uint32Array | null, acts: ArrayLike<number>, n = acts.length): void {
    this.puts.push({ key: [...key], mask: [...(mask ?? exactMask())], actions: Array.from(acts).slice(0, n) });
  }
  flowDel(key: Uint32Array, mask: Uint32Array | null): void {
    this.dels.push([...key]);
    const m = [...(mask ?? exactMask())];
    this.flows = this.flows.filter((f) => !(f.key.every((v, w) => v === key[w]) && f.mask.every((v, w) => v === m[w])));
  }
  flush(): void {}
}

/** The mask NORMAL produces for an untagged IPv4 frame. */
function normalMask(k: Uint32Array): number[] {
  const wc = new Wildcards();
  wc.initForKey(k);
  wc.vlanTci();
  wc.ethDst();
  wc.ethSrc();
  return [...wc.mask];
}

/** br0 with ofports 1..3 on datapath ports 11..13. */
function setup(): { st: SwitchState; br: Bridge; dp: FakeDp; rv: Revalidator } {
  const st = new SwitchState();
  const br = new Bridge('br0', 'u');
  for (let i = 1; i <= 3; i++) br.portsByOfport.set(i, new BridgePort(br, `p${i}`, 'tap', `p${i}`, i, 10 + i, TRUNK_ALL));
  br.reindex();
  st.bridges.set('br0', br);
  st.reindexPorts();
  st.ready = true;
  const dp = new FakeDp();
  const rv = new Revalidator(st, log);
  rv.attach(dp as unknown as DpifClient);
  return { st, br, dp, rv };
}

function flow(inPort: number, dst: number, src: number, actions: number[], used: number, extra: Partial<DumpedFlow> = {}): DumpedFlow {
  const k = newKey();
  k[W_IN_PORT] = inPort;
  setEth(k, dst, src);
  k[W_TYPE_TCI] = ETH_TYPE_IP << 16;
  return { key: [...k], mask: normalMask(k), actions, packets: 1, bytes: 60, used, created: used || Date.now() - 5000, ...extra };
}

describe('Revalidator', () => {
  it('replaces a flooding flow once its destination is learned, leaves correct ones', async () => {
    const { br, dp, rv } = setup();
    const now = Date.now();
    dp.flows.push(flow(11, B, A, [ACT_OUTPUT, 12, ACT_OUTPUT, 13], now));
    dp.flows.push(flow(12, A, B, [ACT_OUTPUT, 11], now));
    br.macs.learn(A, 0, 1, now);
    br.macs.learn(B, 0, 2, now);
    await rv.run();
    expect(dp.puts).toEqual([{ key: dp.flows[0].key, mask: dp.flows[0].mask, actions: [ACT_OUTPUT, 12] }]);
    expect(dp.dels).toEqual([]);
  });

  it('deletes flows idle longer than max-idle (crediting their last counts) and flows of removed ports', async () => {
    const { st, br, dp, rv } = setup();
    st.maxIdleMs = 1000;
    const now = Date.now();
    dp.flows.push(flow(11, B, A, [ACT_OUTPUT, 12, ACT_OUTPUT, 13], now, { packets: 3, bytes: 300 }));
    await rv.run(); // its ukey starts from what the flow had (traffic before vswitchd knew it)
    const normal = br.tables.select({ table: 0 })[0];
    expect([normal.packets, normal.bytes]).toEqual([0, 0]);
    Object.assign(dp.flows[0], { packets: 10, bytes: 1000, used: now - 5000 });
    dp.flows.push(flow(99, B, A, [ACT_OUTPUT, 12], now));
    dp.flows.push(flow(98, B, A, [], now)); // drop flow of a stray port: kept until idle
    dp.flows.push(flow(12, A, B, [ACT_OUTPUT, 11], 0, { created: now - 100 })); // new, unused
    const [idle, orphan] = dp.flows;
    await rv.run();
    expect(dp.dels).toEqual([idle.key, orphan.key]);
    expect([normal.packets, normal.bytes]).toEqual([7, 700]);
    expect(st.counters.flows_deleted_idle).toBe(1);
    expect(st.counters.flows_deleted_no_port).toBe(1);
    expect(dp.puts).toEqual([]);
  });

  it('refreshes MAC entries that cached flows still use, so they do not age out', async () => {
    const { br, dp, rv } = setup();
    br.macs.agingS = 1;
    const now = Date.now();
    br.macs.learn(A, 0, 1, now - 900);
    br.macs.learn(C, 0, 3, now - 2000); // unused: ages out
    dp.flows.push(flow(11, B, A, [ACT_OUTPUT, 12, ACT_OUTPUT, 13], now));
    await rv.run();
    expect(br.macs.entry(A, 0)!.refreshed).toBeGreaterThanOrEqual(now);
    expect(br.macs.lookup(C, 0)).toBe(-1);
    expect(br.macs.counters.aged).toBe(1);
  });

  it('turns unicast back into flooding when the entry aged out', async () => {
    const { br, dp, rv } = setup();
    br.macs.agingS = 1;
    const now = Date.now();
    br.macs.learn(B, 0, 2, now - 5000);
    dp.flows.push(flow(11, B, A, [ACT_OUTPUT, 12], now + 10)); // used during this pass
    await rv.run();
    expect(br.macs.lookup(A, 0)).toBe(1);
    expect(br.macs.lookup(B, 0)).toBe(-1);
    expect(dp.puts.at(-1)!.actions).toEqual([ACT_OUTPUT, 12, ACT_OUTPUT, 13]);
  });

  it('relearns every source from the cached flows after a restart, latest use winning', async () => {
    const { br, dp, rv } = setup();
    const now = Date.now();
    dp.flows.push(flow(13, B, A, [ACT_OUTPUT, 12], now - 3000)); // A was on p3 earlier
    dp.flows.push(flow(11, B, A, [ACT_OUTPUT, 12], now - 1000)); // then moved to p1
    dp.flows.push(flow(12, A, B, [ACT_OUTPUT, 11], now - 2000));
    await rv.run(true);
    expect(br.macs.lookup(A, 0)).toBe(1);
    expect(br.macs.lookup(B, 0)).toBe(2);
    // The stale flow from p3 to B is still right (B is on p2); nothing floods.
    expect(dp.puts).toEqual([]);
  });

  it('does nothing before the ports were reconciled with the datapath', async () => {
    const { st, dp, rv } = setup();
    st.ready = false;
    dp.flows.push(flow(99, B, A, [ACT_OUTPUT, 12], Date.now()));
    await rv.run();
    expect(dp.dels).toEqual([]);
    expect(st.counters.revalidations).toBe(0);
  });
});

describe('Revalidator and megaflows', () => {
  it('deletes a megaflow whose mask lacks a field the translation now consults', async () => {
    const { st, dp, rv } = setup();
    const now = Date.now();
    const wide = flow(11, B, A, [ACT_OUTPUT, 12, ACT_OUTPUT, 13], now);
    wide.mask[W_ETH_MID] = (wide.mask[W_ETH_MID] & 0xffff0000) >>> 0; // dl_src wildcarded: NORMAL needs it for learning
    wide.mask[W_ETH_SRC_LO] = 0;
    wide.key[W_ETH_MID] = (wide.key[W_ETH_MID] & 0xffff0000) >>> 0;
    wide.key[W_ETH_SRC_LO] = 0;
    const narrow = flow(12, A, B, [ACT_OUTPUT, 11, ACT_OUTPUT, 13], now);
    narrow.mask = [...exactMask()]; // more specific than needed: still correct, kept
    dp.flows.push(wide, narrow);
    await rv.run();
    expect(dp.dels).toEqual([wide.key]);
    expect(udpifOf(st).counters.flows_deleted_mask).toBe(1);
    expect(dp.puts).toEqual([]);
  });

  it('is incremental: an old flow is translated again only after its bridge MAC table changed', async () => {
    const { st, br, dp, rv } = setup();
    const now = Date.now();
    dp.flows.push(flow(11, B, A, [ACT_OUTPUT, 12, ACT_OUTPUT, 13], now, { created: now - 60000 }));
    await rv.run(); // full: translated; the pass learns A from the flow, so a second one follows
    const u = udpifOf(st);
    expect(u.counters.revalidate_full).toBe(1);
    expect(st.counters.revalidations).toBe(2);
    // Translated once: its ukey records the MAC generation it was translated at (after A).
    expect(u.counters.flows_revalidated).toBe(1);
    // A timer pass with nothing changed: not translated again.
    rv.wake();
    await rv.whenIdle();
    expect(st.counters.revalidations).toBe(3);
    expect(u.counters.flows_revalidated).toBe(1);
    // B gets learned: the flow floods no more.
    br.macs.learn(B, 0, 2, Date.now());
    rv.wake();
    await rv.whenIdle();
    expect(u.counters.flows_revalidated).toBe(2);
    expect(dp.puts.at(-1)!.actions).toEqual([ACT_OUTPUT, 12]);
    // A flow vswitchd has no record of is checked on the next pass.
    dp.flows.push(flow(13, B, C, [ACT_OUTPUT, 11], Date.now(), { created: Date.now() }));
    await new Promise((r) => setTimeout(r, 5));
    rv.wake();
    await rv.whenIdle();
    expect(u.counters.flows_revalidated).toBeGreaterThanOrEqual(3);
    expect(dp.puts.at(-1)!.actions).toEqual([ACT_OUTPUT, 12]);
  });

  it('over the flow limit, evicts flows idle over 100 ms first and keeps busy ones; adjusts the limit', async () => {
    const { st, dp, rv } = setup();
    st.flowLimit = 1000;
    const u = udpifOf(st);
    u.flowLimit = 1000;
    u.nFlows = 1500;
    const now = Date.now();
    for (let i = 0; i < 1500; i++) {
      const busy = i % 3 === 0;
      dp.flows.push(flow(11, 0x020000100000 + i, A, [ACT_OUTPUT, 12, ACT_OUTPUT, 13], busy ? now + 1000 : now - 500));
    }
    await rv.run();
    expect(u.counters.flows_evicted).toBe(1000);
    expect(st.counters.flows_deleted_idle).toBe(0);
    expect(dp.flows.length).toBe(500);
    expect(u.nFlows).toBe(500);
    expect(u.canInstall).toBe(true);
    expect(dp.pageSizes.slice(0, 2)).toEqual([1024, 476]);
    // Below the limit again, the same idleness is within max-idle: nothing more goes.
    for (const f of dp.flows) f.used = Date.now() - 500;
    await rv.run();
    expect(dp.flows.length).toBe(500);
    // A slow pass lowers the limit, never under 1000 or over the configured ceiling.
    u.adjust(1500, 500, 200000);
    expect(u.flowLimit).toBe(1000);
    u.flowLimit = 100000;
    u.adjust(4000, 50000, 200000);
    expect(u.flowLimit).toBe(25000);
    u.adjust(1500, 50000, 200000);
    expect(u.flowLimit).toBe(18750);
    u.adjust(100, 50000, 200000);
    expect(u.flowLimit).toBe(19750);
    u.adjust(100, 50000, 5000);
    expect(u.flowLimit).toBe(5000);
  });

  it('the dynamic flow limit starts at 10000 (a lower ceiling: the ceiling) and grows 1000 a fast pass', () => {
    const st = new SwitchState();
    const u = udpifOf(st);
    expect(u.flowLimit).toBe(INITIAL_FLOW_LIMIT);
    expect(INITIAL_FLOW_LIMIT).toBe(10000);
    u.nFlows = INITIAL_FLOW_LIMIT;
    expect(u.canInstall).toBe(false);
    u.adjust(200, 10000, 200000);
    expect(u.flowLimit).toBe(11000);
    expect(u.canInstall).toBe(true);
    const low = new SwitchState();
    low.flowLimit = 3000;
    expect(udpifOf(low).flowLimit).toBe(3000);
  });
});
