/*
 * The datapath's JIT warm-up (warmup.ts): it runs every per-frame path (hits, misses, the
 * exact-match cache, drops, bad headers) on private objects, counts every frame, and leaves
 * a real Datapath and megaflow table built afterwards working as before.
 */
import { describe, expect, it } from 'vitest';
import { Counters } from '../../../src/datapath/counters.js';
import { Datapath } from '../../../src/datapath/datapath.js';
import { DummyNetdev } from '../../../src/datapath/netdev-dummy.js';
import { MegaflowTable } from '../../../src/datapath/megaflow.js';
import { warmUpPipeline } from '../../../src/datapath/warmup.js';
import { KEY_WORDS } from '../../../src/lib/flow-key.js';

describe('warmUpPipeline', () => {
  it('runs every path the per-frame code has: hits, misses, the EMC, drops, bad headers', () => {
    const c = new Counters();
    const frames = warmUpPipeline(20, c);
    expect(frames).toBe(20 * 3 * (1 + 7 + 32));
    const v = c.toObject();
    expect(v.hit + v.missed + v.rx_runt).toBe(frames);
    expect(v.missed).toBeGreaterThan(frames / 10);
    expect(v.upcall_lost).toBe(v.missed); // no vswitchd: every miss is dropped and counted
    expect(v.megaflow_hit).toBeGreaterThan(0);
    expect(v.emc_hit).toBeGreaterThan(0);
    expect(v.flow_drop).toBeGreaterThan(0);
    expect(v.tx_no_port).toBeGreaterThan(0);
    expect(v.rx_bad_header).toBeGreaterThan(0);
    // More subtable probes than lookups: hits beyond the first subtable, and misses over all.
    expect(v.mask_lookups).toBeGreaterThan(v.megaflow_hit + v.missed);
  });

  it('leaves nothing behind: a datapath made afterwards forwards as usual', async () => {
    warmUpPipeline(5);
    const ports = new Map<string, DummyNetdev>();
    const dp = new Datapath({ socketPath: '/nonexistent/dp.sock', openNetdev: (name) => {
      const d = new DummyNetdev(name);
      ports.set(name, d);
      return d;
    } });
    const a = dp.addPort('a', 'dummy');
    const b = dp.addPort('b', 'dummy');
    expect(dp.table.count).toBe(0);
    const frame = new Uint8Array(60);
    frame.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x88, 0xcc]);
    const key = new Uint32Array(KEY_WORDS);
    const { extractKey } = await import('../../../src/datapath/extract.js');
    extractKey(frame, 0, frame.length, a.portNo, key, 0);
    dp.table.put(key, new Uint32Array(KEY_WORDS).fill(0xffffffff), Int32Array.of(1, b.portNo), Date.now());
    ports.get('a')!.inject(frame);
    await new Promise((r) => setTimeout(r, 20));
    expect(ports.get('b')!.takeSent()).toEqual([frame]);
    expect(dp.counters.get('hit')).toBe(1);
    dp.ports.closeAll();
  });
});

describe('MegaflowTable subtable order', () => {
  it('empties and refills: lookups keep finding flows', () => {
    const t = new MegaflowTable(16);
    const key = new Uint32Array(KEY_WORDS);
    const mask = new Uint32Array(KEY_WORDS).fill(0xffffffff);
    expect(t.lookup(key, 0)).toBe(-1);
    for (let round = 0; round < 3; round++) {
      key[1] = round;
      const f = t.put(key, mask, new Int32Array(0), 0);
      expect(t.lookup(key, 0)).toBe(f);
      expect(t.subtableList()).toHaveLength(1);
      expect(t.del(key, mask)).toBe(true);
      expect(t.subtableList()).toHaveLength(0);
      expect(t.lookup(key, 0)).toBe(-1);
    }
  });
});
