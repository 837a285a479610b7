import { describe, expect, it } from 'vitest';
import { ActionRunner } from '../../../src/datapath/actions.js';
import { BATCH_MAX, PacketBatch, SLOT_SIZE } from '../../../src/datapath/batch.js';
import { Counters } from '../../../src/datapath/counters.js';
import { DummyNetdev } from '../../../src/datapath/netdev-dummy.js';
import { PortTable, TXQ_MAX } from '../../../src/datapath/ports.js';
import { ACT_OUTPUT, ACT_POP_VLAN, ACT_PUSH_VLAN } from '../../../src/lib/dpif-proto.js';
import { ethFrame, ipv4Frame } from '../../../src/lib/packet.js';

const OUT = (p: number): number[] => [ACT_OUTPUT, p];
const PUSH = (vid: number, pcp = 0): number[] => [ACT_PUSH_VLAN, 0x1000 | (pcp << 13) | vid];
const POP = [ACT_POP_VLAN];

function setup(nPorts = 4): { batch: PacketBatch; runner: ActionRunner; devs: DummyNetdev[]; counters: Counters; ports: PortTable } {
  const devs: DummyNetdev[] = [];
  const ports = new PortTable((name) => {
    const d = new DummyNetdev(name);
    devs.push(d);
    return d;
  });
  for (let i = 1; i <= nPorts; i++) ports.add(`p${i}`, 'dummy');
  const batch = new PacketBatch();
  const counters = new Counters();
  return { batch, runner: new ActionRunner(batch, ports, counters), devs, counters, ports };
}

/** Runs `acts` on `frame` placed in batch slot `slot`, flushes, returns what each port sent. */
function run(s: ReturnType<typeof setup>, frame: Uint8Array, acts: number[], slot = 0): number[][][] {
  const off = s.batch.offs[slot];
  s.batch.buf.set(frame, off);
  s.runner.run(Int32Array.from(acts), acts.length, off, off, frame.length);
  s.runner.flush();
  return s.devs.map((d) => d.takeSent().map((f) => Array.from(f)));
}

const untagged = ipv4Frame({ src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' }, { src: '10.0.0.1', dst: '10.0.0.2' }, { icmp: { type: 8, code: 0 } }, new Uint8Array(20).fill(0x5a));
const tagged10 = ipv4Frame({ src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02', vlan: { vid: 10 } }, { src: '10.0.0.1', dst: '10.0.0.2' }, { icmp: { type: 8, code: 0 } }, new Uint8Array(20).fill(0x5a));
const tagged10p3 = ipv4Frame({ src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02', vlan: { vid: 10, pcp: 3 } }, { src: '10.0.0.1', dst: '10.0.0.2' }, { icmp: { type: 8, code: 0 } }, new Uint8Array(20).fill(0x5a));

describe('ActionRunner: output', () => {
  it('queues per port and sends one burst per port on flush', () => {
    const s = setup();
    const off0 = s.batch.offs[0];
    const off1 = s.batch.offs[1];
    s.batch.buf.set(untagged, off0);
    s.batch.buf.set(tagged10, off1);
    s.runner.run(Int32Array.from([...OUT(1), ...OUT(2)]), 4, off0, off0, untagged.length);
    s.runner.run(Int32Array.from(OUT(2)), 2, off1, off1, tagged10.length);
    expect(s.devs[1].sent.length).toBe(0); // nothing sent before flush
    s.runner.flush();
    expect(s.devs[0].takeSent().map((f) => Array.from(f))).toEqual([Array.from(untagged)]);
    expect(s.devs[1].takeSent().map((f) => Array.from(f))).toEqual([Array.from(untagged), Array.from(tagged10)]);
    expect(s.devs[1].stats.txPackets).toBe(2);
  });

  it('empty action list drops; unknown port counts tx_no_port', () => {
    const s = setup();
    expect(run(s, untagged, []).flat().length).toBe(0);
    const sent = run(s, untagged, [...OUT(9), ...OUT(1), ...OUT(0)]);
    expect(sent[0].length).toBe(1);
    expect(s.counters.get('tx_no_port')).toBe(2);
  });

  it('a full port queue is flushed early and nothing is lost', () => {
    const s = setup(1);
    const acts: number[] = [];
    for (let i = 0; i < TXQ_MAX + 10; i++) acts.push(...OUT(1));
    const sent = run(s, untagged, acts);
    expect(sent[0].length).toBe(TXQ_MAX + 10);
  });

  it('counts tx_failed for frames the netdev refuses', () => {
    const s = setup(1);
    s.devs[0].linkUp = false;
    run(s, untagged, [...OUT(1), ...OUT(1)]);
    expect(s.counters.get('tx_failed')).toBe(2);
  });
});

describe('ActionRunner: VLAN', () => {
  it('push_vlan tags an untagged frame (TPID 0x8100, VID, PCP)', () => {
    const s = setup();
    const sent = run(s, untagged, [...PUSH(10, 3), ...OUT(1)]);
    expect(sent[0]).toEqual([Array.from(tagged10p3)]);
  });

  it('pop_vlan untags; pop on an untagged frame does nothing', () => {
    const s = setup();
    expect(run(s, tagged10, [...POP, ...OUT(1)])[0]).toEqual([Array.from(untagged)]);
    expect(run(s, untagged, [...POP, ...OUT(1)])[0]).toEqual([Array.from(untagged)]);
  });

  it('outputs before and after a push each get their own version', () => {
    const s = setup();
    const sent = run(s, untagged, [...OUT(1), ...PUSH(10), ...OUT(2), ...OUT(3)]);
    expect(sent[0]).toEqual([Array.from(untagged)]);
    expect(sent[1]).toEqual([Array.from(tagged10)]);
    expect(sent[2]).toEqual([Array.from(tagged10)]);
  });

  it('outputs before and after a pop each get their own version', () => {
    const s = setup();
    const sent = run(s, tagged10, [...OUT(1), ...POP, ...OUT(2), ...PUSH(10, 3), ...OUT(3), ...POP, ...OUT(4)]);
    expect(sent[0]).toEqual([Array.from(tagged10)]);
    expect(sent[1]).toEqual([Array.from(untagged)]);
    expect(sent[2]).toEqual([Array.from(tagged10p3)]);
    expect(sent[3]).toEqual([Array.from(untagged)]);
  });

  it('re-tagging: pop then push changes the VID', () => {
    const s = setup();
    const want = ethFrame({ src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02', vlan: { vid: 20 } }, 0x0800, untagged.subarray(14));
    expect(run(s, tagged10, [...OUT(1), ...POP, ...PUSH(20), ...OUT(2)])[1]).toEqual([Array.from(want)]);
  });

  it('other frames of the batch are untouched by a neighbour\'s VLAN changes', () => {
    const s = setup();
    const off0 = s.batch.offs[0];
    const off1 = s.batch.offs[1];
    s.batch.buf.set(untagged, off0);
    s.batch.buf.set(tagged10, off1);
    s.runner.run(Int32Array.from([...OUT(1), ...PUSH(5), ...OUT(2), ...PUSH(6), ...OUT(2)]), 10, off0, off0, untagged.length);
    s.runner.run(Int32Array.from([...OUT(1), ...POP, ...OUT(2)]), 5, off1, off1, tagged10.length);
    s.runner.flush();
    expect(s.devs[0].takeSent().map((f) => Array.from(f))).toEqual([Array.from(untagged), Array.from(tagged10)]);
    const p2 = s.devs[1].takeSent();
    expect(p2.length).toBe(3);
    expect(Array.from(p2[2])).toEqual(Array.from(untagged));
    expect([(p2[0][14] << 8) | p2[0][15], (p2[1][14] << 8) | p2[1][15], (p2[1][18] << 8) | p2[1][19]]).toEqual([5, 6, 5]);
  });

  it('a frame too big for a copy in its slot tail still comes out right (queues flushed first)', () => {
    const s = setup();
    const big = ethFrame({}, 0x0800, new Uint8Array(40000).map((_, i) => i & 0xff));
    const sent = run(s, big, [...OUT(1), ...PUSH(7), ...OUT(2), ...POP, ...OUT(3)], BATCH_MAX - 1);
    expect(sent[0]).toEqual([Array.from(big)]);
    const want = ethFrame({ vlan: { vid: 7 } }, 0x0800, big.subarray(14));
    expect(sent[1]).toEqual([Array.from(want)]);
    expect(sent[2]).toEqual([Array.from(big)]);
  });

  it('many versions of a small frame fit its slot; nothing leaks into the next slot', () => {
    const s = setup(1);
    const next = s.batch.offs[1];
    s.batch.buf.fill(0x77, next, next + 100);
    const acts: number[] = [];
    for (let i = 0; i < 200; i++) acts.push(...OUT(1), ...PUSH(i & 0xfff), ...OUT(1), ...POP);
    const sent = run(s, untagged, acts);
    expect(sent[0].length).toBe(400);
    expect(sent[0][398]).toEqual(Array.from(untagged));
    expect(sent[0][399].length).toBe(untagged.length + 4);
    expect(Array.from(s.batch.buf.subarray(next, next + 100)).every((b) => b === 0x77)).toBe(true);
  });

  it('a push that cannot fit even an empty slot drops the frame and counts action_too_long', () => {
    const s = setup();
    const huge = ethFrame({}, 0x0800, new Uint8Array(SLOT_SIZE - 14 - 2));
    const sent = run(s, huge, [...OUT(2), ...PUSH(1), ...OUT(1)]);
    expect(sent[1].length).toBe(1);
    expect(sent[0].length).toBe(0);
    expect(s.counters.get('action_too_long')).toBe(1);
  });

  it('a truncated action list counts exec_bad_actions after running what is complete', () => {
    const s = setup();
    const sent = run(s, untagged, [...OUT(1), ACT_OUTPUT]);
    expect(sent[0].length).toBe(1);
    expect(s.counters.get('exec_bad_actions')).toBe(1);
    run(s, untagged, [99, 1]);
    expect(s.counters.get('exec_bad_actions')).toBe(2);
  });
});

describe('ActionRunner.execute', () => {
  it('copies the packet into a free slot and runs the actions', () => {
    const s = setup();
    const src = new Uint8Array(untagged.length + 10);
    src.set(untagged, 5);
    for (let i = 0; i < BATCH_MAX + 5; i++) expect(s.runner.execute(Int32Array.from([...PUSH(10), ...OUT(2)]), 4, src, 5, untagged.length)).toBe(true);
    s.runner.flush();
    const sent = s.devs[1].takeSent();
    expect(sent.length).toBe(BATCH_MAX + 5);
    for (const f of sent) expect(Array.from(f)).toEqual(Array.from(tagged10));
    expect(s.runner.execute(Int32Array.from(OUT(1)), 2, new Uint8Array(SLOT_SIZE + 1), 0, SLOT_SIZE + 1)).toBe(false);
  });
});
