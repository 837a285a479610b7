/*
 * JIT warm-up of the upcall path, run once by the daemon (main.ts) before it connects to
 * anything; control path: some 4000 synthetic misses (about 0.2-0.4 s) through a private
 * bridge, upcall handler and DpifClient, from the upcall frame's bytes to the PUT_EXECUTE
 * written back. The functions are the ones the real upcalls run (V8 keeps type feedback and
 * optimised code on functions, not on objects); the objects are thrown away. Touches no
 * socket, device, vsdb or shared state: the client's stream discards what it is sent.
 *
 * Why: a flood of new flows (a scan, many clients at once) arrived at a switch whose upcall
 * path had only seen a handful of misses, so the first half second ran in V8's interpreter,
 * with the compiler threads competing for the CPUs with the flood itself: measured, the rate of
 * flows set up climbed from ~15k/s to ~200k/s over ~600 ms while Open vSwitch ran at full rate
 * from the first 100 ms. Here the translations (NORMAL with learning and flooding, a few
 * OpenFlow rules on L3/L4 fields, exact-match and wildcarded megaflows, the flow limit) run
 * while the machine is otherwise idle, before the first real upcall.
 */
import { Duplex } from 'node:stream';
import { extractKey } from '../datapath/extract.js';
import { DpifClient } from '../lib/dpif-client.js';
import { FrameWriter, KEY_WORDS, T_UPCALL, UPCALL_MISS } from '../lib/dpif-proto.js';
import { arpFrame, ipv4Frame, ipv6Frame } from '../lib/packet.js';
import { Bridge, BridgePort, TRUNK_ALL } from './bridge.js';
import { parseFlow } from './ofp/flow-syntax.js';
import { SwitchState } from './state.js';
import { udpifOf } from './udpif.js';
import { UpcallHandler } from './upcall-handler.js';

/** Synthetic misses run by warmUpUpcalls. */
export const WARMUP_UPCALLS = 4000;
const PORTS = 4;
const CHUNK = 64;
/** Rules beside the bridge's NORMAL flow, so the classifier searches several masks. */
const RULES = [
  'priority=10,udp,tp_src=1,actions=drop',
  'priority=20,tcp,tp_dst=22,actions=drop',
  'priority=15,ip,nw_dst=10.99.0.0/16,actions=NORMAL',
];

/** A small deterministic xorshift32 source. */
class Rng {
  private s = 0x2545f491;
  next(n: number): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s % n;
  }
}

function mac(i: number): string {
  return `02:00:5e:00:00:${(i & 0xff).toString(16).padStart(2, '0')}`;
}

/** Frame i: UDP, TCP, ICMP, ARP or IPv6 TCP, between MACs of a small pool (so learning sees
 *  new sources, moves and known destinations) and random addresses and ports. */
function frame(rng: Rng, i: number): Uint8Array {
  const src = mac(rng.next(24));
  const dst = rng.next(8) === 0 ? 'ff:ff:ff:ff:ff:ff' : mac(rng.next(24));
  const ip = (): string => `10.${rng.next(2) === 0 ? 99 : 0}.${rng.next(256)}.${1 + rng.next(254)}`;
  const port = (): number => 1 + rng.next(65535);
  switch (i % 5) {
    case 0: return ipv4Frame({ src, dst }, { src: ip(), dst: ip() }, { udp: { src: port(), dst: port() } }, new Uint8Array(18));
    case 1: return ipv4Frame({ src, dst }, { src: ip(), dst: ip() }, { tcp: { src: port(), dst: rng.next(4) === 0 ? 22 : port() } }, new Uint8Array(6));
    case 2: return ipv4Frame({ src, dst }, { src: ip(), dst: ip() }, { icmp: { type: 8, code: 0 } }, new Uint8Array(56));
    case 3: return arpFrame({ src, dst: 'ff:ff:ff:ff:ff:ff' }, { op: 1, sha: src, spa: ip(), tha: '00:00:00:00:00:00', tpa: ip() });
    default: return ipv6Frame({ src, dst }, { src: `fd00::${rng.next(65536).toString(16)}`, dst: `fd00::${rng.next(65536).toString(16)}` }, { tcp: { src: port(), dst: port() } });
  }
}

/** What a warm-up did: upcalls handled and bytes of answers (PUT_EXECUTEs) written. */
export interface WarmupResult { upcalls: number; bytesOut: number }

/**
 * Runs `count` synthetic misses through a private upcall handler (half with megaflows, half
 * exact-match). Resolves when all were handled. Never throws: a failure here only means a
 * colder start (the result then says how far it got).
 */
export async function warmUpUpcalls(count = WARMUP_UPCALLS): Promise<WarmupResult> {
  const st = new SwitchState();
  const br = new Bridge('warmup', 'warmup');
  for (let i = 1; i <= PORTS; i++) br.portsByOfport.set(i, new BridgePort(br, `w${i}`, 'internal', `w${i}`, i, i, TRUNK_ALL));
  br.reindex();
  for (const r of RULES) br.tables.apply(parseFlow(r));
  st.bridges.set(br.name, br);
  st.reindexPorts();
  st.ready = true;
  const u = udpifOf(st);
  let bytesOut = 0;
  const sink = new Duplex({
    read() { /* frames are pushed */ },
    write(chunk: Buffer, _enc, done) {
      bytesOut += chunk.length;
      done();
    },
  });
  const client = DpifClient.over(sink, '(warm-up)');
  const handler = new UpcallHandler(st, () => undefined);
  handler.attach(client);
  const rng = new Rng();
  const w = new FrameWriter();
  const key = new Uint32Array(KEY_WORDS);
  try {
    for (let i = 0; i < count;) {
      u.megaflows = i < count / 2;
      const end = Math.min(count, i + CHUNK);
      for (; i < end; i++) {
        const f = frame(rng, i);
        const inPort = 1 + rng.next(PORTS);
        extractKey(f, 0, f.length, inPort, key, 0);
        w.begin(T_UPCALL, 0, 0);
        w.words(key, 0, KEY_WORDS);
        w.u32(UPCALL_MISS);
        w.u32(f.length);
        w.bytes(f, 0, f.length);
        w.end();
      }
      sink.push(w.take());
      await new Promise<void>((r) => setImmediate(r));
    }
    await new Promise<void>((r) => setImmediate(r));
  } catch {
    // a colder start, nothing worse
  } finally {
    handler.detach();
    sink.destroy();
  }
  return { upcalls: st.counters.upcalls, bytesOut };
}
