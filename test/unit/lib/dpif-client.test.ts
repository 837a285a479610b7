import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DpifClient } from '../../../src/lib/dpif-client.js';
import {
  FrameReader,
  FrameWriter,
  KEY_BYTES,
  KEY_WORDS,
  T_EXECUTE,
  T_FLOW_DEL,
  T_FLOW_PUT,
  T_HELLO,
  T_REPLY,
  T_REQUEST,
  T_UPCALL,
  parseJsonBody,
  readKey,
} from '../../../src/lib/dpif-proto.js';
import { VswitchError } from '../../../src/lib/errors.js';

interface Seen {
  type: number;
  xid: number;
  json?: any;
  key?: number[];
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
  helloAnswer: () => { result?: unknown; error?: { code: string; message: string } } = () => ({ result: { version: 1, name: 'fake' } });
  async listen(path: string): Promise<void> {
    this.server = net.createServer((s) => {
      this.socks.push(s);
      const w = new FrameWriter();
      const r = new FrameReader((type, _f, xid, buf, off, len) => {
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
          if (type === T_FLOW_PUT) {
            const n = buf.readUInt32LE(off + KEY_BYTES);
            e.actions = [];
            for (let i = 0; i < n; i++) e.actions.push(buf.readInt32LE(off + KEY_BYTES + 4 + i * 4));
          }
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
    expect(dp.seen[0].json).toEqual({ role: 'tool', version: 1 });
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
    for (let i = 0; i < 20; i++) {
      k[0] = i + 1;
      c.flowPut(k, [1, i + 2]);
    }
    c.execute(7, Int32Array.from([1, 2, 3, 4]), Uint8Array.from([9, 8, 7]), 2);
    c.flowDel(k);
    await until(() => dp.seen.length === 1 + 22);
    expect(dp.chunks - before).toBe(1);
    const puts = dp.seen.filter((s) => s.type === T_FLOW_PUT);
    expect(puts.map((p) => p.key![0])).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(puts[5].actions).toEqual([1, 7]);
    const ex = dp.seen.find((s) => s.type === T_EXECUTE)!;
    expect(ex).toMatchObject({ inPort: 7, actions: [1, 2], packet: [9, 8, 7] });
    expect(dp.seen.at(-1)!.type).toBe(T_FLOW_DEL);
    expect(dp.seen.at(-1)!.key![0]).toBe(20);
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
