import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Datapath } from '../../../src/datapath/datapath.js';
import { extractKey } from '../../../src/datapath/extract.js';
import { DummyNetdev } from '../../../src/datapath/netdev-dummy.js';
import {
  ACT_OUTPUT, ACT_PUSH_VLAN, DPIF_VERSION, FrameReader, FrameWriter, KEY_WORDS, parseJsonBody, T_DUMP, T_DUMP_REPLY,
  T_EXECUTE, T_FLOW_DEL, T_FLOW_PUT, T_HELLO, T_PUT_EXECUTE, T_REPLY, T_REQUEST, T_UPCALL, UPCALL_MISS, PE_EXECUTE, PE_PUT,
} from '../../../src/lib/dpif-proto.js';
import { FlowDumpPage, type DumpedFlow } from '../../../src/lib/flow-dump.js';
import { exactMask } from '../../../src/lib/flow-mask.js';
import { ipv4Frame } from '../../../src/lib/packet.js';

interface Frame { type: number; xid: number; body: Buffer }

/** A minimal dpif peer: raw frames in and out, so tests can also send garbage. */
class RawClient {
  readonly frames: Frame[] = [];
  closed = false;
  private readonly w = new FrameWriter();
  private readonly reader = new FrameReader((type, _f, xid, buf, off, len) => {
    this.frames.push({ type, xid, body: Buffer.from(buf.subarray(off, off + len)) });
  });
  private xid = 100;
  private constructor(readonly sock: net.Socket) {
    sock.on('data', (c: Buffer) => this.reader.push(c));
    sock.on('close', () => { this.closed = true; });
    sock.on('error', () => undefined);
  }
  static connect(path: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.createConnection(path, () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }
  private send(): void {
    this.sock.write(this.w.take());
  }
  async json(type: number, body: unknown): Promise<{ result?: unknown; error?: { code: string; message: string } }> {
    const xid = ++this.xid;
    this.w.json(type, xid, body);
    this.send();
    const f = await waitFor(() => this.frames.find((x) => x.type === T_REPLY && x.xid === xid));
    this.frames.splice(this.frames.indexOf(f), 1);
    return parseJsonBody(f.body, 0, f.body.length) as { result?: unknown; error?: { code: string; message: string } };
  }
  hello(role: string): Promise<{ result?: unknown; error?: { code: string; message: string } }> {
    return this.json(T_HELLO, { role, version: DPIF_VERSION });
  }
  async call(method: string, params: unknown = {}): Promise<unknown> {
    const r = await this.json(T_REQUEST, { method, params });
    if (r.error) throw Object.assign(new Error(r.error.message), { code: r.error.code });
    return r.result;
  }
  flowPut(key: Uint32Array, acts: number[], mask = exactMask()): void {
    this.w.begin(T_FLOW_PUT, 0, 0);
    this.w.words(key, 0, KEY_WORDS);
    this.w.words(mask, 0, KEY_WORDS);
    this.w.u32(acts.length);
    for (const a of acts) this.w.i32(a);
    this.w.end();
    this.send();
  }
  flowDel(key: Uint32Array, mask = exactMask()): void {
    this.w.begin(T_FLOW_DEL, 0, 0);
    this.w.words(key, 0, KEY_WORDS);
    this.w.words(mask, 0, KEY_WORDS);
    this.w.end();
    this.send();
  }
  /** Every flow, through DUMP pages of `max` flows. */
  async dump(max = 100): Promise<DumpedFlow[]> {
    const out: DumpedFlow[] = [];
    const pg = new FlowDumpPage();
    let id = 0;
    for (;;) {
      const xid = ++this.xid;
      this.w.begin(T_DUMP, 0, xid);
      this.w.u32(id);
      this.w.u32(max);
      this.w.end();
      this.send();
      const f = await waitFor(() => this.frames.find((x) => (x.type === T_DUMP_REPLY || x.type === T_REPLY) && x.xid === xid));
      this.frames.splice(this.frames.indexOf(f), 1);
      if (f.type === T_REPLY) throw new Error(JSON.stringify(parseJsonBody(f.body, 0, f.body.length)));
      expect(pg.decode(f.body, 0, f.body.length)).toBe(true);
      out.push(...pg.toFlows());
      if (pg.done) return out;
      id = pg.dumpId;
    }
  }
  execute(inPort: number, acts: number[], pkt: Uint8Array): void {
    this.w.begin(T_EXECUTE, 0, 0);
    this.w.u32(inPort);
    this.w.u32(acts.length);
    for (const a of acts) this.w.i32(a);
    this.w.u32(pkt.length);
    this.w.bytes(pkt, 0, pkt.length);
    this.w.end();
    this.send();
  }
  /** PUT_EXECUTE with header flags `flags` (PE_PUT, PE_EXECUTE); pkt null sends length 0. */
  putExecute(flags: number, key: Uint32Array, acts: number[], pkt: Uint8Array | null, mask = exactMask()): void {
    this.w.begin(T_PUT_EXECUTE, flags, 0);
    this.w.words(key, 0, KEY_WORDS);
    this.w.words(mask, 0, KEY_WORDS);
    this.w.u32(acts.length);
    for (const a of acts) this.w.i32(a);
    this.w.u32(pkt === null ? 0 : pkt.length);
    if (pkt !== null) this.w.bytes(pkt, 0, pkt.length);
    this.w.end();
    this.send();
  }
  raw(bytes: Uint8Array): void {
    this.sock.write(bytes);
  }
  upcalls(): { key: Uint32Array; reason: number; pkt: Buffer }[] {
    const ups = this.frames.filter((f) => f.type === T_UPCALL);
    for (const u of ups) this.frames.splice(this.frames.indexOf(u), 1);
    return ups.map((u) => {
      const key = new Uint32Array(KEY_WORDS);
      for (let i = 0; i < KEY_WORDS; i++) key[i] = u.body.readUInt32LE(i * 4);
      const reason = u.body.readUInt32LE(KEY_WORDS * 4);
      const len = u.body.readUInt32LE(KEY_WORDS * 4 + 4);
      return { key, reason, pkt: u.body.subarray(KEY_WORDS * 4 + 8, KEY_WORDS * 4 + 8 + len) };
    });
  }
  close(): void {
    this.sock.destroy();
  }
}

async function waitFor<T>(fn: () => T | undefined | false, ms = 3000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 2));
  }
}
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 30));

const frame1 = ipv4Frame({ src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' }, { src: '10.0.0.1', dst: '10.0.0.2' }, { icmp: { type: 8, code: 0 } }, new Uint8Array(56));
const frame2 = ipv4Frame({ src: '02:00:00:00:00:02', dst: '02:00:00:00:00:01' }, { src: '10.0.0.2', dst: '10.0.0.1' }, { udp: { src: 5, dst: 6 } }, new Uint8Array(30));

function keyFor(frame: Uint8Array, port: number): Uint32Array {
  const k = new Uint32Array(KEY_WORDS);
  extractKey(frame, 0, frame.length, port, k, 0);
  return k;
}

let dir: string;
let dp: Datapath;
let devs: Map<string, DummyNetdev>;
const clients: RawClient[] = [];

async function client(role?: string): Promise<RawClient> {
  const c = await RawClient.connect(join(dir, 'datapath.sock'));
  clients.push(c);
  if (role) expect((await c.hello(role)).result).toEqual({ version: DPIF_VERSION, name: 'testdp' });
  return c;
}

async function withPorts(c: RawClient, n = 3): Promise<void> {
  for (let i = 1; i <= n; i++) expect(await c.call('port_add', { name: `p${i}`, type: 'dummy' })).toEqual({ port_no: i });
}

function dev(name: string): DummyNetdev {
  return devs.get(name) as DummyNetdev;
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vswitch-dp-'));
  devs = new Map();
  dp = new Datapath({
    socketPath: join(dir, 'datapath.sock'),
    name: 'testdp',
    openNetdev: (name) => {
      const d = new DummyNetdev(name, { mac: '02:aa:00:00:00:01' });
      devs.set(name, d);
      return d;
    },
  });
  await dp.start();
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await dp.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('Datapath over datapath.sock', () => {
  it('manages ports: add (idempotent), list, del', async () => {
    const c = await client('tool');
    await withPorts(c, 2);
    expect(await c.call('port_add', { name: 'p1', type: 'dummy' })).toEqual({ port_no: 1 });
    expect(devs.size).toBe(2); // no new device for the idempotent add
    await expect(c.call('port_add', { name: 'p1', type: 'tap' })).rejects.toMatchObject({ code: 'PORT_EXISTS' });
    await expect(c.call('port_add', { name: 'p9', type: 'dummy', port_no: 2 })).rejects.toMatchObject({ code: 'PORT_EXISTS' });
    expect(await c.call('port_add', { name: 'p7', type: 'dummy', port_no: 7 })).toEqual({ port_no: 7 });
    await expect(c.call('port_add', { name: 'x', type: 'bogus' })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    const list = (await c.call('port_list')) as { port_no: number; name: string; type: string; mac: string; stats: Record<string, number> }[];
    expect(list.map((p) => [p.port_no, p.name, p.type])).toEqual([[1, 'p1', 'dummy'], [2, 'p2', 'dummy'], [7, 'p7', 'dummy']]);
    expect(list[0].mac).toBe('02:aa:00:00:00:01');
    expect(Object.keys(list[0].stats).sort()).toEqual(['rx_bytes', 'rx_dropped', 'rx_errors', 'rx_packets', 'tx_bytes', 'tx_dropped', 'tx_errors', 'tx_packets']);
    expect(await c.call('port_del', { port_no: 7 })).toEqual({});
    await expect(c.call('port_del', { port_no: 7 })).rejects.toMatchObject({ code: 'NO_SUCH_PORT' });
    expect(dev('p7').inject(frame1)).toBe(false); // its device was closed
    expect(dp.show()).toBe(
      'netdev@testdp:\n  lookups: hit:0 missed:0 lost:0\n  flows: 0\n  masks: hit:0 total:0 hit/pkt:0.00\n' +
        '  caches: emc:off emc-hit:0 megaflow-hit:0 emc-entries:0/8192 emc-inserted:0 emc-insert-inv-prob:100\n' +
        '  port 1: p1 (dummy)\n  port 2: p2 (dummy)\n',
    );
  });

  it('miss → upcall; FLOW_PUT + EXECUTE; then hits forward without upcalls', async () => {
    const vsd = await client('vswitchd');
    await withPorts(vsd);
    dev('p1').inject(frame1);
    const [up] = await waitFor(() => { const u = vsd.upcalls(); return u.length ? u : undefined; });
    expect(up.reason).toBe(UPCALL_MISS);
    expect(Array.from(up.key)).toEqual(Array.from(keyFor(frame1, 1)));
    expect(Array.from(up.pkt)).toEqual(Array.from(frame1));
    expect(dev('p2').sent.length).toBe(0);

    const acts = [ACT_OUTPUT, 2, ACT_OUTPUT, 3];
    vsd.flowPut(up.key, acts);
    vsd.execute(1, acts, up.pkt);
    await waitFor(() => dev('p3').sent.length === 1);
    expect(Array.from(dev('p2').takeSent()[0])).toEqual(Array.from(frame1));
    dev('p3').takeSent();

    for (let i = 0; i < 5; i++) dev('p1').inject(frame1);
    await waitFor(() => dev('p2').sent.length === 5 && dev('p3').sent.length === 5);
    expect(dev('p1').sent.length).toBe(0);
    await settle();
    expect(vsd.upcalls().length).toBe(0);

    const stats = (await vsd.call('dp_stats')) as { name: string; hit: number; missed: number; lost: number; flows: number; masks: { hit: number; total: number }; counters: Record<string, number> };
    expect(stats).toMatchObject({ name: 'testdp', hit: 5, missed: 1, lost: 0, flows: 1, masks: { total: 1 } });
    expect(stats.counters).toMatchObject({ hit: 5, missed: 1, upcall_sent: 1, executed: 1, flow_put: 1 });
    expect(stats.counters.emc_hit + stats.counters.megaflow_hit).toBe(5);
    // one subtable searched per hit the EMC did not catch (the first miss found no subtable)
    expect(stats.masks.hit).toBe(stats.counters.megaflow_hit);
    await expect(vsd.call('flow_dump')).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    const dump = await vsd.dump();
    expect(dump.length).toBe(1);
    expect(dump[0].key).toEqual(Array.from(up.key));
    expect(dump[0].mask).toEqual(Array.from(exactMask()));
    expect(dump[0].actions).toEqual(acts);
    expect(dump[0].packets).toBe(5);
    expect(dump[0].bytes).toBe(5 * frame1.length);
    expect(dump[0].used).toBeGreaterThanOrEqual(dump[0].created);
    expect(dump[0].created).toBeGreaterThan(Date.now() - 10000);
    const ports = (await vsd.call('port_list')) as { name: string; stats: { rx_packets: number; tx_packets: number } }[];
    expect(ports.find((p) => p.name === 'p1')?.stats.rx_packets).toBe(6);
    expect(ports.find((p) => p.name === 'p2')?.stats.tx_packets).toBe(6);

    // Replacing the actions keeps the counters; FLOW_DEL removes the flow.
    vsd.flowPut(up.key, [ACT_PUSH_VLAN, 0x1000 | 10, ACT_OUTPUT, 3]);
    dev('p1').inject(frame1);
    await waitFor(() => dev('p3').sent.length === 6);
    const tagged = dev('p3').sent[5];
    expect(tagged.length).toBe(frame1.length + 4);
    expect([tagged[12], tagged[13], tagged[14], tagged[15]]).toEqual([0x81, 0x00, 0x00, 10]);
    expect((await vsd.dump())[0].packets).toBe(6);
    expect(dp.counters.get('flow_modify')).toBe(1);
    vsd.flowDel(up.key);
    expect(await vsd.call('dp_stats')).toMatchObject({ flows: 0 });
    dev('p1').inject(frame1);
    await waitFor(() => vsd.upcalls().length === 1);
  });

  it('only one vswitchd at a time: a second gets BUSY; tools are welcome; misses with none are lost', async () => {
    const v1 = await client('vswitchd');
    await withPorts(v1, 2);
    const v2 = await client();
    const r = await v2.hello('vswitchd');
    expect(r.error?.code).toBe('BUSY');
    await waitFor(() => v2.closed);
    const tool = await client('tool');
    expect(await tool.call('dp_stats')).toMatchObject({ flows: 0 });

    v1.close();
    await waitFor(() => !dp.server.vswitchdConnected);
    dev('p1').inject(frame1);
    await waitFor(() => dp.counters.get('upcall_lost') === 1);
    expect(await tool.call('dp_stats')).toMatchObject({ missed: 1, lost: 1 });

    const v3 = await client('vswitchd'); // the seat is free again
    dev('p1').inject(frame2);
    await waitFor(() => v3.upcalls().length === 1);
  });

  it('cached flows keep forwarding while vswitchd is away', async () => {
    const v1 = await client('vswitchd');
    await withPorts(v1, 2);
    v1.flowPut(keyFor(frame1, 1), [ACT_OUTPUT, 2]);
    await v1.call('dp_stats'); // ordered after the put
    v1.close();
    await waitFor(() => !dp.server.vswitchdConnected);
    for (let i = 0; i < 40; i++) dev('p1').inject(frame1);
    await waitFor(() => dev('p2').sent.length === 40);
    expect(dp.counters.get('upcall_lost')).toBe(0);
  });

  it('a reply queued while a small burst was written is read in the same wakeup (rx_pickup)', async () => {
    const vsd = await client('vswitchd');
    await withPorts(vsd, 2);
    vsd.flowPut(keyFor(frame1, 1), [ACT_OUTPUT, 2]);
    vsd.flowPut(keyFor(frame2, 2), [ACT_OUTPUT, 1]);
    await vsd.call('dp_stats'); // ordered after the puts
    // p2 answers every frame inside its txBurst, as the kernel does behind a tap or veth.
    const d2 = dev('p2');
    const send = d2.txBurst.bind(d2);
    d2.txBurst = (buf, offs, lens, count, vnet) => {
      const n = send(buf, offs, lens, count, vnet);
      for (let i = 0; i < n; i++) d2.inject(frame2);
      return n;
    };

    dev('p1').inject(frame1);
    await waitFor(() => dev('p1').sent.length === 1);
    expect(Array.from(dev('p1').sent[0])).toEqual(Array.from(frame2));
    expect(dp.counters.get('rx_pickup')).toBe(1);
    expect(dp.counters.get('rx_pickup_tries')).toBe(1);
    expect(d2.stats.rxPackets).toBe(1);

    // A larger burst is not followed by a look at p2: its replies come on p2's own wakeup.
    for (let i = 0; i < 8; i++) dev('p1').inject(frame1);
    await waitFor(() => dev('p1').sent.length === 9);
    expect(d2.stats.rxPackets).toBe(9);
    expect(dp.counters.get('rx_pickup')).toBe(1);
    expect(dp.counters.get('rx_pickup_tries')).toBe(1);
  });

  it('bad messages are answered or counted, a broken stream is closed, and the datapath keeps working', async () => {
    const vsd = await client('vswitchd');
    await withPorts(vsd, 2);
    const before = dp.counters.get('bad_dpif_message');

    // Not JSON, no method, unknown method, request before HELLO.
    const w = new FrameWriter();
    w.begin(T_REQUEST, 0, 7);
    w.bytes(Buffer.from('{nope'), 0, 5);
    w.end();
    vsd.raw(w.take());
    const bad = await waitFor(() => vsd.frames.find((f) => f.type === T_REPLY && f.xid === 7));
    expect((parseJsonBody(bad.body, 0, bad.body.length) as { error: { code: string } }).error.code).toBe('BAD_REQUEST');
    expect((await vsd.json(T_REQUEST, { params: {} })).error?.code).toBe('BAD_REQUEST');
    await expect(vsd.call('frobnicate')).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    const early = await client();
    expect((await early.json(T_REQUEST, { method: 'dp_stats' })).error?.code).toBe('BAD_REQUEST');
    expect((await early.json(T_HELLO, { role: 'tool', version: 999 })).error?.code).toBe('BAD_REQUEST');
    expect((await early.json(T_HELLO, { role: 'king', version: DPIF_VERSION })).error?.code).toBe('BAD_REQUEST');

    // Binary messages with wrong lengths, unknown type, bad actions: counted, no reply.
    w.begin(T_FLOW_PUT, 0, 0); w.u32(1); w.end(); // too short
    w.begin(T_FLOW_PUT, 0, 0); w.words(new Uint32Array(KEY_WORDS), 0, KEY_WORDS); w.u32(5); w.i32(1); w.end(); // n too big
    w.begin(T_FLOW_PUT, 0, 0); w.words(new Uint32Array(KEY_WORDS), 0, KEY_WORDS); w.words(exactMask(), 0, KEY_WORDS); w.u32(1); w.i32(77); w.end(); // unknown action
    w.begin(T_FLOW_DEL, 0, 0); w.u32(0); w.end();
    w.begin(T_EXECUTE, 0, 0); w.u32(1); w.u32(0xffffffff); w.end();
    w.begin(T_EXECUTE, 0, 0); w.u32(1); w.u32(0); w.u32(3); w.bytes(Buffer.from([1, 2, 3]), 0, 3); w.end(); // runt packet
    w.begin(999, 0, 0); w.end();
    vsd.raw(w.take());
    vsd.execute(1, [ACT_OUTPUT], frame1); // truncated action list
    expect(await vsd.call('dp_stats')).toMatchObject({ flows: 0 });
    expect(dp.counters.get('bad_dpif_message') - before).toBe(3 + 3 + 7);
    expect(dp.counters.get('exec_bad_actions')).toBe(1);

    // A frame length the reader cannot accept: that connection is closed, others carry on.
    const junk = await client('tool');
    junk.raw(Uint8Array.from([1, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef]));
    await waitFor(() => junk.closed);
    const junk2 = await client();
    junk2.raw(Buffer.from([0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4, 5, 6, 7, 8]));
    await waitFor(() => junk2.closed);

    vsd.flowPut(keyFor(frame1, 1), [ACT_OUTPUT, 2]);
    dev('p1').inject(frame1);
    await waitFor(() => dev('p2').sent.length === 1);
    expect(vsd.closed).toBe(false);
  });

  it('random garbage on many connections never crashes the datapath', async () => {
    const vsd = await client('vswitchd');
    await withPorts(vsd, 2);
    let seed = 7;
    const rnd = (n: number): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) % n;
    for (let c = 0; c < 20; c++) {
      const g = await client(c % 2 ? 'tool' : undefined);
      const w = new FrameWriter();
      for (let m = 0; m < 20; m++) {
        const type = [T_HELLO, T_REQUEST, T_FLOW_PUT, T_EXECUTE, T_FLOW_DEL, rnd(65536)][rnd(6)];
        w.begin(type, rnd(65536), rnd(1 << 30));
        const n = rnd(200);
        for (let i = 0; i < n; i++) w.buf[w.pos++] = rnd(256);
        if (w.buf.length - w.pos < 256) break;
        w.end();
      }
      const bytes = w.take();
      if (c % 3 === 0) bytes[rnd(bytes.length)] = 0xff; // sometimes corrupt the framing too
      g.raw(bytes);
    }
    await settle();
    vsd.flowPut(keyFor(frame2, 1), [ACT_OUTPUT, 2]);
    dev('p1').inject(frame2);
    await waitFor(() => dev('p2').sent.length === 1);
    expect(await vsd.call('dp_stats')).toMatchObject({ hit: 1 });
  });

  it('PUT_EXECUTE installs and executes in one message, each part on its own flag', async () => {
    const vsd = await client('vswitchd');
    await withPorts(vsd);
    dev('p1').inject(frame1);
    const [up] = await waitFor(() => { const u = vsd.upcalls(); return u.length ? u : undefined; });
    // Both: the packet goes out and the flow forwards the next one without an upcall.
    vsd.putExecute(PE_PUT | PE_EXECUTE, up.key, [ACT_OUTPUT, 2], up.pkt);
    await waitFor(() => dev('p2').sent.length === 1);
    expect(Array.from(dev('p2').takeSent()[0])).toEqual(Array.from(frame1));
    dev('p1').inject(frame1);
    await waitFor(() => dev('p2').sent.length === 1);
    expect(vsd.upcalls().length).toBe(0);
    expect(dp.counters.get('executed')).toBe(1);
    expect(dp.counters.get('flow_put')).toBe(1);

    // Execute only: sent, nothing installed.
    const k2 = keyFor(frame2, 1);
    vsd.putExecute(PE_EXECUTE, k2, [ACT_OUTPUT, 3], frame2);
    await waitFor(() => dev('p3').sent.length === 1);
    expect((await vsd.dump()).length).toBe(1);
    // Put only (no packet): installed, nothing sent.
    vsd.putExecute(PE_PUT, k2, [ACT_OUTPUT, 3], null);
    expect((await vsd.dump()).length).toBe(2);
    expect(dev('p3').sent.length).toBe(1);
    expect(dp.counters.get('executed')).toBe(2);

    // Flows put with equal actions share one array; other actions get their own, and
    // replacing one flow's actions leaves the other's alone.
    const f1 = dp.table.find(up.key, exactMask());
    const f2 = dp.table.find(k2, exactMask());
    const k3 = keyFor(frame2, 2);
    vsd.putExecute(PE_PUT, k3, [ACT_OUTPUT, 3], null);
    await settle();
    const f3 = dp.table.find(k3, exactMask());
    expect(f3).toBeGreaterThanOrEqual(0);
    expect(dp.table.actions[f3]).toBe(dp.table.actions[f2]);
    expect(dp.table.actions[f1]).not.toBe(dp.table.actions[f2]);
    vsd.putExecute(PE_PUT, k3, [ACT_OUTPUT, 1], null);
    await settle();
    expect(Array.from(dp.table.actions[f3] as Int32Array)).toEqual([ACT_OUTPUT, 1]);
    expect(Array.from(dp.table.actions[f2] as Int32Array)).toEqual([ACT_OUTPUT, 3]);

    // At the datapath's flow limit the put is refused and counted; the execute still happens.
    expect(await vsd.call('set_config', { flow_limit: 3 })).toEqual({});
    const k4 = keyFor(frame2, 3);
    vsd.putExecute(PE_PUT | PE_EXECUTE, k4, [ACT_OUTPUT, 1], frame2);
    await waitFor(() => dev('p1').sent.length === 1);
    expect(dp.counters.get('flow_limit')).toBe(1);
    expect(dp.table.find(k4, exactMask())).toBe(-1);

    // Malformed: a length that disagrees, a runt to execute, bad actions to execute.
    const bad0 = dp.counters.get('bad_dpif_message');
    vsd.putExecute(PE_EXECUTE, k2, [ACT_OUTPUT, 3], new Uint8Array(5));
    vsd.putExecute(PE_PUT | PE_EXECUTE, k2, [ACT_OUTPUT], frame2);
    const w = new FrameWriter();
    w.begin(T_PUT_EXECUTE, PE_EXECUTE, 0); w.words(k2, 0, KEY_WORDS); w.words(exactMask(), 0, KEY_WORDS); w.u32(0); w.u32(99); w.end();
    vsd.raw(w.take());
    await settle();
    expect(dp.counters.get('bad_dpif_message')).toBe(bad0 + 2);
    expect(dp.counters.get('exec_bad_actions')).toBe(1);
    expect(dev('p3').sent.length).toBe(1);
    expect(dp.counters.get('executed')).toBe(3);
  });

  it('flow_flush, set_config flow_limit and the flow_limit counter', async () => {
    const vsd = await client('vswitchd');
    await withPorts(vsd, 2);
    expect(await vsd.call('set_config', { flow_limit: 2 })).toEqual({});
    await expect(vsd.call('set_config', { flow_limit: -1 })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    for (let i = 0; i < 3; i++) {
      const k = keyFor(frame1, 1);
      k[5] = i;
      vsd.flowPut(k, [ACT_OUTPUT, 2]);
    }
    expect(await vsd.call('dp_stats')).toMatchObject({ flows: 2 });
    expect(dp.counters.get('flow_limit')).toBe(1);
    expect(await vsd.call('flow_flush')).toEqual({ deleted: 2 });
    expect(await vsd.dump()).toEqual([]);
    expect(await vsd.call('set_config', { emc_insert_inv_prob: 1 })).toEqual({});
    expect(dp.emc.insertInvProb).toBe(1);
    await expect(vsd.call('set_config', { emc_insert_inv_prob: 0.5 })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('consults the EMC only while megaflow lookups search several subtables; hits then skip the search', async () => {
    const vsd = await client('vswitchd');
    await withPorts(vsd, 2);
    await vsd.call('set_config', { emc_insert_inv_prob: 1 });
    // Four masks; frame1's flow is in the last subtable created, so a lookup searches four.
    for (let w = 20; w < 23; w++) {
      const m = new Uint32Array(KEY_WORDS);
      m[0] = 0xffffffff;
      m[w] = 0xffffffff;
      const k = keyFor(frame2, 2);
      vsd.flowPut(k, [ACT_OUTPUT, 1], m);
    }
    const mask = new Uint32Array(KEY_WORDS);
    mask[0] = 0xffffffff;
    mask[23] = 0xffffffff;
    vsd.flowPut(keyFor(frame1, 1), [ACT_OUTPUT, 2], mask);
    expect(await vsd.call('dp_stats')).toMatchObject({ flows: 4, masks: { total: 4 }, emc: { active: false } });
    for (let i = 0; i < 4; i++) dev('p1').inject(frame1);
    await waitFor(() => dev('p2').sent.length === 4);
    expect(dp.counters.get('mask_lookups')).toBe(16);
    expect(dp.counters.get('emc_hit')).toBe(0);
    dp.tick(); // 4 probes per lookup >= 3: EMC on
    expect(dp.pipeline.emcActive).toBe(true);
    for (let i = 0; i < 4; i++) dev('p1').inject(frame1);
    await waitFor(() => dev('p2').sent.length === 8);
    expect(dp.counters.get('emc_hit')).toBe(3); // the first inserts, the rest hit
    expect(dp.counters.get('mask_lookups')).toBe(17); // the tick also ranked frame1's subtable first
    expect(dp.stats().emc).toMatchObject({ active: true, inserted: 1, entries: 1 });
    // Deleting the flow invalidates the EMC entry: the next frame misses and goes up.
    vsd.flowDel(keyFor(frame1, 1), mask);
    await vsd.call('dp_stats');
    dev('p1').inject(frame1);
    await waitFor(() => vsd.upcalls().length === 1);
    // One mask only: the EMC goes off at the next tick.
    await vsd.call('flow_flush');
    vsd.flowPut(keyFor(frame1, 1), [ACT_OUTPUT, 2]);
    await vsd.call('dp_stats');
    dp.tick();
    for (let i = 0; i < 3; i++) dev('p1').inject(frame1);
    await waitFor(() => dev('p2').sent.length === 11);
    dp.tick();
    expect(dp.pipeline.emcActive).toBe(false);
    expect(await vsd.call('set_config', { emc_min_probes: 0 })).toEqual({});
    expect(dp.pipeline.emcActive).toBe(true);
    await expect(vsd.call('set_config', { emc_min_probes: -1 })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('outputs to a missing port and runts are counted', async () => {
    const vsd = await client('vswitchd');
    await withPorts(vsd, 2);
    vsd.flowPut(keyFor(frame1, 1), [ACT_OUTPUT, 2, ACT_OUTPUT, 42]);
    await vsd.call('dp_stats');
    dev('p1').inject(frame1);
    dev('p1').inject(new Uint8Array(20).subarray(0, 14)); // 14 bytes: a valid minimal frame (miss)
    await waitFor(() => dev('p2').sent.length === 1);
    await waitFor(() => vsd.upcalls().length === 1);
    expect(dp.counters.get('tx_no_port')).toBe(1);
    // runts never reach the pipeline through the dummy netdev, so feed one straight in
    dp.batch.lens[0] = 5;
    dp.pipeline.processBatch(1, 1);
    expect(dp.counters.get('rx_runt')).toBe(1);
  });

  it('bounds the upcall queue (upcall_queue_full)', async () => {
    await dp.stop();
    dp = new Datapath({ socketPath: join(dir, 'datapath.sock'), name: 'testdp', upcallMaxBytes: 1500, openNetdev: (name) => { const d = new DummyNetdev(name); devs.set(name, d); return d; } });
    await dp.start();
    const vsd = await client('vswitchd');
    await withPorts(vsd, 1);
    for (let i = 0; i < 20; i++) dev('p1').inject(frame1);
    await waitFor(() => dp.counters.get('missed') === 20);
    const sent = dp.counters.get('upcall_sent');
    const full = dp.counters.get('upcall_queue_full') + dp.counters.get('upcall_limit');
    expect(sent).toBeGreaterThan(0);
    expect(full).toBeGreaterThan(0);
    expect(sent + full).toBe(20);
    expect(dp.stats().lost).toBe(full);
    await waitFor(() => vsd.upcalls().length === sent || undefined);
  });

  it('refuses to take over a socket a live datapath serves, and removes its socket on stop', async () => {
    const other = new Datapath({ socketPath: join(dir, 'datapath.sock'), openNetdev: (n) => new DummyNetdev(n) });
    await expect(other.start()).rejects.toMatchObject({ code: 'ADDRESS_IN_USE' });
    await dp.stop();
    await expect(RawClient.connect(join(dir, 'datapath.sock'))).rejects.toThrow();
    dp = new Datapath({ socketPath: join(dir, 'datapath.sock'), openNetdev: (n) => new DummyNetdev(n) });
    await dp.start();
  });
});
