import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DpifClient } from '../../../src/lib/dpif-client.js';
import {
  DPIF_VERSION,
  DUMP_DONE,
  FrameReader,
  FrameWriter,
  HEADER_BYTES,
  KEY_BYTES,
  KEY_WORDS,
  T_DUMP,
  T_DUMP_REPLY,
  T_EXECUTE,
  T_FLOW_DEL,
  T_FLOW_PUT,
  T_HELLO,
  T_PUT_EXECUTE,
  T_REPLY,
  T_REQUEST,
  T_UPCALL,
  parseJsonBody,
  readKey,
  PE_EXECUTE,
  PE_PUT,
} from '../../../src/lib/dpif-proto.js';
import { VswitchError } from '../../../src/lib/errors.js';
import { writeFlowRecord } from '../../../src/lib/flow-dump.js';

interface Seen {
  type: number;
  xid: number;
  flags?: number;
  len?: number;
  json?: any;
  key?: number[];
  mask?: number[];
  actions?: number[];
  inPort?: number;
  packet?: number[];
}

/** A fake datapath: records frames, answers HELLO and requests through `answer`. */
class FakeDp {
  server!: net.Server;
  seen: Seen[] = [];
  chunks = 0;
  socks: net.Socket[] = [];
  answer: (m: string, p: any) => { result?: unknown; error?: { code: string; message: string } } = () => ({ result: {} });
  helloAnswer: () => { result?: unknown; error?: { code: string; message: string } } = () => ({ result: { version: DPIF_VERSION, name: 'fake' } });
  /** Flows served by DUMP, `pageSize` per page (key, mask, actions, packets). */
  flows: { key: Uint32Array; mask: Uint32Array; actions: number[]; packets: number }[] = [];
  dumpRequests: { id: number; max: number }[] = [];
  async listen(path: string): Promise<void> {
    this.server = net.createServer((s) => {
      this.socks.push(s);
      const w = new FrameWriter();
      const r = new FrameReader((type, flags, xid, buf, off, len) => {
        const e: Seen = { type, xid };
        if (type === T_HELLO || type === T_REQUEST) {
          e.json = parseJsonBody(buf, off, len);
          const ans = type === T_HELLO ? this.helloAnswer() : this.answer(e.json.method, e.json.params);
          w.json(T_REPLY, xid, ans);
          s.write(w.take());
        } else if (type === T_FLOW_PUT || type === T_FLOW_DEL) {
          const k = new Uint32Array(KEY_WORDS);
          readKey(buf, off, k);
          e.key = [...k];
          readKey(buf, off + KEY_BYTES, k);
          e.mask = [...k];
          if (type === T_FLOW_PUT) {
            const n = buf.readUInt32LE(off + 2 * KEY_BYTES);
            e.actions = [];
            for (let i = 0; i < n; i++) e.actions.push(buf.readInt32LE(off + 2 * KEY_BYTES + 4 + i * 4));
          }
        } else if (type === T_DUMP) {
          const id = buf.readUInt32LE(off);
          const max = buf.readUInt32LE(off + 4);
          this.dumpRequests.push({ id, max });
          const start = id === 0 ? 0 : id - 1000;
          const page = this.flows.slice(start, start + max);
          const done = start + max >= this.flows.length;
          w.begin(T_DUMP_REPLY, 0, xid);
          w.u32(1000 + start + page.length);
          w.u32(done ? DUMP_DONE : 0);
          w.u32(page.length);
          for (const f of page) writeFlowRecord(w, f.key, 0, f.mask, 0, Int32Array.from(f.actions), f.packets, f.packets * 60, 0, 1);
          w.end();
          s.write(w.take());
        } else if (type === T_PUT_EXECUTE) {
          const k = new Uint32Array(KEY_WORDS);
          readKey(buf, off, k);
          e.key = [...k];
          readKey(buf, off + KEY_BYTES, k);
          e.mask = [...k];
          const n = buf.readUInt32LE(off + 2 * KEY_BYTES);
          e.actions = [];
          for (let i = 0; i < n; i++) e.actions.push(buf.readInt32LE(off + 2 * KEY_BYTES + 4 + i * 4));
          const p = off + 2 * KEY_BYTES + 4 + n * 4;
          const plen = buf.readUInt32LE(p);
          e.packet = [...buf.subarray(p + 4, p + 4 + plen)];
          e.flags = flags;
          e.len = len;
        } else if (type === T_EXECUTE) {
          e.inPort = buf.readUInt32LE(off);
          const n = buf.readUInt32LE(off + 4);
          e.actions = [];
          for (let i = 0; i < n; i++) e.actions.push(buf.readInt32LE(off + 8 + i * 4));
          const plen = buf.readUInt32LE(off + 8 + n * 4);
          e.packet = [...buf.subarray(off + 12 + n * 4, off + 12 + n * 4 + plen)];
        }
        this.seen.push(e);
      });
      s.on('data', (c) => {
        this.chunks++;
        r.push(c);
      });
      s.on('error', () => undefined);
    });
    await new Promise<void>((res) => this.server.listen(path, res));
  }
  upcall(key: Uint32Array, packet: number[]): void {
    const w = new FrameWriter();
    w.begin(T_UPCALL, 0, 0);
    w.words(key, 0, KEY_WORDS);
    w.u32(0);
    w.u32(packet.length);
    w.bytes(Uint8Array.from(packet), 0, packet.length);
    w.end();
    for (const s of this.socks) s.write(w.take());
  }
  close(): Promise<void> {
    for (const s of this.socks) s.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }
}

const until = async (cond: () => boolean, ms = 2000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe('DpifClient', () => {
  let dir: string;
  let path: string;
  let dp: FakeDp;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dpif-client-'));
    path = join(dir, 'datapath.sock');
    dp = new FakeDp();
    await dp.listen(path);
  });
  afterEach(async () => {
    await dp.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('says HELLO with its role and matches replies to requests', async () => {
    dp.answer = (m, p) => (m === 'port_add' ? { result: { port_no: p.name.length } } : { result: m });
    const c = await DpifClient.connect(path, 'tool');
    expect(dp.seen[0].type).toBe(T_HELLO);
    expect(dp.seen[0].json).toEqual({ role: 'tool', version: DPIF_VERSION });
    expect(c.hello.name).toBe('fake');
    const [a, b] = await Promise.all([c.request('port_add', { name: 'abc', type: 'tap' }), c.request('dp_stats')]);
    expect(a).toEqual({ port_no: 3 });
    expect(b).toBe('dp_stats');
    c.close();
  });

  it('turns error replies into VswitchError with their code; BUSY into DPIF_BUSY', async () => {
    dp.answer = () => ({ error: { code: 'NO_SUCH_PORT', message: 'no port 9' } });
    const c = await DpifClient.connect(path, 'tool');
    const e = await c.request('port_del', { port_no: 9 }).catch((x) => x);
    expect(e).toBeInstanceOf(VswitchError);
    expect(e.code).toBe('NO_SUCH_PORT');
    expect(e.message).toBe('no port 9');
    c.close();
    dp.helloAnswer = () => ({ error: { code: 'BUSY', message: 'a vswitchd is already connected' } });
    const busy = await DpifClient.connect(path, 'vswitchd').catch((x) => x);
    expect(busy.code).toBe('DPIF_BUSY');
    expect(busy.message).toMatch(/another vswitchd is connected/);
  });

  it('encodes puts, executes and deletes, batching one tick into one write', async () => {
    const c = await DpifClient.connect(path, 'vswitchd');
    const before = dp.chunks;
    const k = new Uint32Array(KEY_WORDS);
    const m = new Uint32Array(KEY_WORDS);
    m[0] = 0xffffffff;
    m[1] = 0xff00;
    for (let i = 0; i < 20; i++) {
      k[0] = i + 1;
      c.flowPut(k, i === 0 ? null : m, [1, i + 2]);
    }
    c.execute(7, Int32Array.from([1, 2, 3, 4]), Uint8Array.from([9, 8, 7]), 2);
    c.flowDel(k, m);
    await until(() => dp.seen.length === 1 + 22);
    expect(dp.chunks - before).toBe(1);
    const puts = dp.seen.filter((s) => s.type === T_FLOW_PUT);
    expect(puts.map((p) => p.key![0])).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(puts[5].actions).toEqual([1, 7]);
    expect(puts[0].mask).toEqual(new Array(KEY_WORDS).fill(0xffffffff)); // null: exact match
    expect(puts[5].mask).toEqual([...m]);
    const ex = dp.seen.find((s) => s.type === T_EXECUTE)!;
    expect(ex).toMatchObject({ inPort: 7, actions: [1, 2], packet: [9, 8, 7] });
    expect(dp.seen.at(-1)!.type).toBe(T_FLOW_DEL);
    expect(dp.seen.at(-1)!.key![0]).toBe(20);
    expect(dp.seen.at(-1)!.mask).toEqual([...m]);
    c.close();
  });

  it('encodes the answer to a miss as one PUT_EXECUTE, flags saying which parts to do', async () => {
    const c = await DpifClient.connect(path, 'vswitchd');
    const k = new Uint32Array(KEY_WORDS);
    k[0] = 3;
    k[7] = 0xdeadbeef;
    const m = new Uint32Array(KEY_WORDS);
    m[0] = 0xffffffff;
    m[7] = 0xffff0000;
    const acts = Int32Array.from([1, 2, 1, 4, 99]);
    const pkt = Uint8Array.from({ length: 61 }, (_, i) => i);
    c.putExecute(k, m, acts, 4, pkt, true, true);
    c.putExecute(k, null, acts, 2, pkt, true, false);
    c.putExecute(k, m, acts, 2, pkt, false, true);
    c.putExecute(k, m, acts, 2, pkt, false, false); // nothing to do: nothing sent
    await until(() => dp.seen.filter((s) => s.type === T_PUT_EXECUTE).length === 3);
    const pe = dp.seen.filter((s) => s.type === T_PUT_EXECUTE);
    expect(pe[0]).toMatchObject({ flags: PE_PUT | PE_EXECUTE, key: [...k], mask: [...m], actions: [1, 2, 1, 4], packet: [...pkt] });
    expect(pe[1]).toMatchObject({ flags: PE_PUT, mask: new Array(KEY_WORDS).fill(0xffffffff), actions: [1, 2], packet: [] });
    expect(pe[2]).toMatchObject({ flags: PE_EXECUTE, actions: [1, 2], packet: [...pkt] });
    expect(pe[2].len).toBe(2 * KEY_BYTES + 4 + 8 + 4 + pkt.length);
    c.request('dp_stats').catch(() => undefined);
    await until(() => dp.seen.some((s) => s.type === T_REQUEST));
    expect(dp.seen.filter((s) => s.type === T_PUT_EXECUTE).length).toBe(3);
    c.close();
  });

  it('pages through a dump, asking for the next page only after the last was handled', async () => {
    for (let i = 0; i < 2500; i++) {
      const key = new Uint32Array(KEY_WORDS);
      const mask = new Uint32Array(KEY_WORDS);
      key[0] = i;
      key[3] = 0xdeadbeef; // wildcarded: must come back as 0
      mask[0] = 0xffffffff;
      mask[5] = 0xffff0000;
      key[5] = 0x12345678;
      dp.flows.push({ key, mask, actions: i % 3 ? [1, i] : [], packets: i });
    }
    const c = await DpifClient.connect(path, 'tool');
    const seen: number[] = [];
    let handling = false;
    const total = await c.dumpFlows(async (pg) => {
      expect(handling).toBe(false);
      handling = true;
      for (let i = 0; i < pg.n; i++) {
        const b = i * KEY_WORDS;
        const n = pg.keys[b];
        seen.push(n);
        expect(pg.keys[b + 3]).toBe(0);
        expect(pg.keys[b + 5]).toBe(0x12340000);
        expect(pg.masks[b + 5]).toBe(0xffff0000);
        expect(Array.from(pg.actionsOf(i))).toEqual(n % 3 ? [1, n] : []);
        expect(pg.packets[i]).toBe(n);
      }
      await new Promise((r) => setTimeout(r, 5));
      expect(dp.dumpRequests.length).toBe(Math.ceil(seen.length / 1000)); // no request ahead of us
      handling = false;
    }, 1000);
    expect(total).toBe(2500);
    expect(seen).toEqual(Array.from({ length: 2500 }, (_, i) => i));
    expect(dp.dumpRequests).toEqual([{ id: 0, max: 1000 }, { id: 2000, max: 1000 }, { id: 3000, max: 1000 }]);
    const all = await c.dumpAll(700);
    expect(all.length).toBe(2500);
    expect(all[4]).toMatchObject({ actions: [1, 4], packets: 4, bytes: 240, used: 0, created: 1 });
    expect(all[4].mask[5]).toBe(0xffff0000);
    c.close();
  });

  it('delivers upcalls with key, reason and packet, and reports the connection closing', async () => {
    const c = await DpifClient.connect(path, 'vswitchd');
    const got: { key: number[]; reason: number; packet: number[] }[] = [];
    c.onUpcall((key, reason, packet) => got.push({ key: [...key], reason, packet: [...packet] }));
    let closed = '';
    c.onClose((why) => (closed = why));
    const k = new Uint32Array(KEY_WORDS);
    k[0] = 3;
    k[23] = 0xfffffffe;
    dp.upcall(k, [1, 2, 3, 4]);
    await until(() => got.length === 1);
    expect(got[0].key[0]).toBe(3);
    expect(got[0].key[23]).toBe(0xfffffffe);
    expect(got[0].packet).toEqual([1, 2, 3, 4]);
    const pending = c.request('flow_dump').catch((e) => e);
    dp.answer = () => ({ result: {} });
    await dp.close();
    await until(() => closed !== '');
    expect(c.isClosed).toBe(true);
    const e = await pending;
    if (e instanceof Error) expect((e as VswitchError).code).toBe('DPIF_CLOSED');
    await expect(c.request('flow_dump')).rejects.toMatchObject({ code: 'DPIF_CLOSED' });
  });

  it('rejects with ConnectError when nobody listens', async () => {
    await expect(DpifClient.connect(join(dir, 'nope.sock'), 'tool', 500)).rejects.toMatchObject({ code: 'CONNECT' });
  });
});

describe('FrameReader', () => {
  function frame(type: number, body: Uint8Array): Buffer {
    const w = new FrameWriter();
    w.begin(type, 0, 42);
    w.bytes(body, 0, body.length);
    w.end();
    return w.take();
  }

  it('reassembles frames split at every possible byte, including inside the length field', () => {
    const a = frame(T_REQUEST, Uint8Array.from([1, 2, 3]));
    const b = frame(T_UPCALL, new Uint8Array(300).fill(7));
    const all = Buffer.concat([a, b, a]);
    for (let cut = 1; cut < all.length; cut++) {
      const got: number[] = [];
      const r = new FrameReader((type, _f, xid, _buf, _off, len) => {
        expect(xid).toBe(42);
        got.push(type, len);
      });
      expect(r.push(all.subarray(0, cut))).toBe(true);
      expect(r.push(all.subarray(cut))).toBe(true);
      expect(got).toEqual([T_REQUEST, 3, T_UPCALL, 300, T_REQUEST, 3]);
    }
  });

  it('assembles a 12 MiB frame that arrives in 1 KiB chunks in linear time', () => {
    const body = new Uint8Array(12 * 1024 * 1024);
    for (let i = 0; i < body.length; i += 4096) body[i] = i >>> 12;
    const f = frame(T_DUMP_REPLY, body);
    let got: Buffer | null = null;
    const r = new FrameReader((_t, _f, _x, buf, off, len) => {
      got = Buffer.from(buf.subarray(off, off + len));
    });
    const t0 = Date.now();
    for (let p = 0; p < f.length; p += 1024) expect(r.push(f.subarray(p, Math.min(f.length, p + 1024)))).toBe(true);
    const ms = Date.now() - t0;
    expect(got).not.toBeNull();
    expect(got!.length).toBe(body.length);
    expect(got![4096 * 100]).toBe(100);
    // Re-joining the pending bytes per chunk would copy ~75 GB here (minutes); once is ~12 MB.
    expect(ms).toBeLessThan(3000);
  });

  it('rejects a bad length even when it arrives a byte at a time', () => {
    const r = new FrameReader(() => undefined);
    const bad = Buffer.from([3, 0, 0, 0, 0, 0, 0, 0]);
    let ok = true;
    for (const byte of bad) ok = ok && r.push(Buffer.from([byte]));
    expect(ok).toBe(false);
    expect(r.error).toBe('bad frame length 3');
    expect(HEADER_BYTES).toBe(12);
  });
});
