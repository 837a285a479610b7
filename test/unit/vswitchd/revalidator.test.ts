import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { DpifClient } from '../../../src/lib/dpif-client.js';
import { ACT_OUTPUT } from '../../../src/lib/dpif-proto.js';
import { W_IN_PORT, newKey, setEth } from '../../../src/lib/flow-key.js';
import { Bridge, BridgePort, TRUNK_ALL } from '../../../src/vswitchd/bridge.js';
import { Revalidator, type DumpedFlow } from '../../../src/vswitchd/revalidator.js';
import { SwitchState } from '../../../src/vswitchd/state.js';

const log = pino({ level: 'silent' });
const A = 0x02000000000a;
const B = 0x02000000000b;
const C = 0x02000000000c;

/** A datapath holding flows in memory, recording what the revalidator did to them. */
class FakeDp {
  flows: DumpedFlow[] = [];
  puts: { key: number[]; actions: number[] }[] = [];
  dels: number[][] = [];
  isClosed = false;
  async request(method: string): Promise<unknown> {
    if (method !== 'flow_dump') throw new Error(method);
    return this.flows.map((f) => ({ ...f, key: [...f.key], actions: [...f.actions] }));
  }
  flowPut(key: Uint32Array, acts: ArrayLike<number>, n = acts.length): void {
    this.puts.push({ key: [...key], actions: Array.from(acts).slice(0, n) });
  }
  flowDel(key: Uint32Array): void {
    this.dels.push([...key]);
  }
  flush(): void {}
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
  return { key: [...k], actions, packets: 1, bytes: 60, used, created: used || Date.now(), ...extra };
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
    expect(dp.puts).toEqual([{ key: dp.flows[0].key, actions: [ACT_OUTPUT, 12] }]);
    expect(dp.dels).toEqual([]);
  });

  it('deletes flows idle longer than max-idle (keeping their counts) and flows of removed ports', async () => {
    const { st, br, dp, rv } = setup();
    st.maxIdleMs = 1000;
    const now = Date.now();
    dp.flows.push(flow(11, B, A, [ACT_OUTPUT, 12, ACT_OUTPUT, 13], now - 5000, { packets: 7, bytes: 700 }));
    dp.flows.push(flow(99, B, A, [ACT_OUTPUT, 12], now));
    dp.flows.push(flow(98, B, A, [], now)); // drop flow of a stray port: kept until idle
    dp.flows.push(flow(12, A, B, [ACT_OUTPUT, 11, ACT_OUTPUT, 13], 0, { created: now - 100 })); // new, unused
    await rv.run();
    expect(dp.dels).toEqual([dp.flows[0].key, dp.flows[1].key]);
    expect(br.ruleStats).toEqual({ packets: 7, bytes: 700 });
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
