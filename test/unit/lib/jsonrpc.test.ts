import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { spawn } from 'node:child_process';
import {
  AddressInUseError,
  ConnectionClosedError,
  JsonRpcServer,
  JsonSplitter,
  RpcError,
  connectUnix,
  type JsonRpcConnection,
} from '../../../src/lib/jsonrpc.js';
import { ConnectError, TimeoutError } from '../../../src/lib/errors.js';

function split(chunks: (string | Buffer)[], max?: number): { msgs: string[]; err: string | null } {
  const s = new JsonSplitter(max);
  const msgs: string[] = [];
  let err: string | null = null;
  for (const c of chunks) {
    err = s.push(Buffer.isBuffer(c) ? c : Buffer.from(c), (m) => msgs.push(m));
    if (err) break;
  }
  return { msgs, err };
}

describe('JsonSplitter', () => {
  it('reassembles a message fed one byte at a time', () => {
    const text = '{"method":"echo","params":[1,[2,{"a":3}]],"id":7}';
    const { msgs, err } = split([...Buffer.from(text)].map((b) => Buffer.from([b])));
    expect(err).toBeNull();
    expect(msgs).toEqual([text]);
  });

  it('splits several messages in one chunk, with whitespace between', () => {
    const { msgs } = split(['{"a":1}{"b":2}\n  {"c":[3]} [4]']);
    expect(msgs.map((m) => JSON.parse(m))).toEqual([{ a: 1 }, { b: 2 }, { c: [3] }, [4]]);
  });

  it('ignores braces and escaped quotes inside strings', () => {
    const obj = { s: 'a}b{c"d\\"}', t: '\\', u: ']]]' };
    const text = JSON.stringify(obj);
    const { msgs } = split([text.slice(0, 9), text.slice(9), JSON.stringify({ n: 1 })]);
    expect(msgs.map((m) => JSON.parse(m))).toEqual([obj, { n: 1 }]);
  });

  it('keeps a multibyte UTF-8 character that is split across chunks', () => {
    const buf = Buffer.from(JSON.stringify({ s: 'héllo 🐧 {' }));
    const cut = buf.indexOf(0xf0) + 2; // inside the 4-byte penguin
    const { msgs } = split([buf.subarray(0, cut), buf.subarray(cut)]);
    expect(JSON.parse(msgs[0])).toEqual({ s: 'héllo 🐧 {' });
  });

  it('reports garbage between messages', () => {
    const { msgs, err } = split(['{"a":1} x{"b":2}']);
    expect(msgs).toHaveLength(1);
    expect(err).toMatch(/unexpected byte/);
  });

  it('refuses a message over the size limit, within a chunk or across chunks', () => {
    expect(split(['{"a":"' + 'x'.repeat(100) + '"}'], 50).err).toMatch(/exceeds/);
    expect(split(['{"a":"', 'x'.repeat(40), 'x'.repeat(40)], 50).err).toMatch(/exceeds/);
    expect(split(['{"a":"' + 'x'.repeat(30) + '"}'], 50).err).toBeNull();
  });
});

describe('JsonRpcConnection over a Unix socket', () => {
  let dir: string;
  let sock: string;
  let server: JsonRpcServer;
  let serverConns: JsonRpcConnection[];
  const clients: JsonRpcConnection[] = [];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'jsonrpc-'));
    sock = join(dir, 'test.sock');
    serverConns = [];
    server = new JsonRpcServer((conn) => {
      serverConns.push(conn);
      conn.onRequest(async (method, params) => {
        if (method === 'add') return (params[0] as number) + (params[1] as number);
        if (method === 'fail') throw new RpcError({ error: 'constraint violation', details: 'nope' });
        if (method === 'boom') throw new Error('kaboom');
        if (method === 'slow') return new Promise((r) => setTimeout(() => r('late'), 200));
        if (method === 'poke') {
          conn.notify('poked', [params[0]]);
          return 'ok';
        }
        throw RpcError.unknownMethod(method);
      });
    });
    await server.listenUnix(sock);
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function client(): Promise<JsonRpcConnection> {
    const c = await connectUnix(sock, 1000);
    clients.push(c);
    return c;
  }

  it('answers requests and echo', async () => {
    const c = await client();
    expect(await c.request('add', [2, 3])).toBe(5);
    expect(await c.request('echo', ['hi', 1])).toEqual(['hi', 1]);
  });

  it('rejects error replies with RpcError carrying the error value', async () => {
    const c = await client();
    const e = await c.request('fail', []).catch((x) => x);
    expect(e).toBeInstanceOf(RpcError);
    expect(e.code).toBe('RPC_ERROR');
    expect(e.error).toEqual({ error: 'constraint violation', details: 'nope' });
    expect(e.message).toBe('constraint violation: nope');
    const u = await c.request('nosuch', []).catch((x) => x);
    expect(u.error.error).toBe('unknown method');
    const b = await c.request('boom', []).catch((x) => x);
    expect(b.error).toEqual({ error: 'internal error', details: 'kaboom' });
  });

  it('delivers notifications in order before the reply', async () => {
    const c = await client();
    const seen: unknown[] = [];
    c.onNotification((m, p) => seen.push([m, p]));
    expect(await c.request('poke', [42])).toBe('ok');
    expect(seen).toEqual([['poked', [42]]]);
  });

  it('server side can call the client', async () => {
    const c = await client();
    c.onRequest((m, p) => (m === 'mul' ? (p[0] as number) * (p[1] as number) : undefined));
    await c.request('echo', []);
    expect(await serverConns[0].request('mul', [6, 7])).toBe(42);
  });

  it('times out', async () => {
    const c = await client();
    const e = await c.request('slow', [], 30).catch((x) => x);
    expect(e).toBeInstanceOf(TimeoutError);
  });

  it('rejects pending requests when the connection closes', async () => {
    const c = await client();
    const p = c.request('slow', []);
    const closed = new Promise((r) => c.once('close', r));
    serverConns[0].socket.destroy();
    await closed;
    const e = await p.catch((x) => x);
    expect(e).toBeInstanceOf(ConnectionClosedError);
    expect(await c.request('add', [1, 1]).catch((x) => x)).toBeInstanceOf(ConnectionClosedError);
  });

  it('answers malformed JSON with an id-null error, closes that peer, keeps serving others', async () => {
    const raw = net.createConnection(sock);
    const got: Buffer[] = [];
    raw.on('data', (d) => got.push(d));
    const ended = new Promise((r) => raw.on('close', r));
    raw.write('{"method":"add","params":[1,2],"id":1}');
    await new Promise((r) => raw.once('data', r));
    raw.write('{"method": nonsense}');
    await ended;
    const text = Buffer.concat(got).toString();
    expect(text).toContain('"result":3');
    const last = JSON.parse(text.slice(text.lastIndexOf('{"id":null')));
    expect(last.id).toBeNull();
    expect(last.error.error).toBe('syntax error');
    const c = await client();
    expect(await c.request('add', [1, 1])).toBe(2);
  });

  it('drops a peer that sends an oversized message', async () => {
    const small = new JsonRpcServer((conn) => conn.onRequest(() => 1), { maxMessageBytes: 100 });
    const p2 = join(dir, 'small.sock');
    await small.listenUnix(p2);
    const c = await connectUnix(p2);
    const e = await c.request('x', ['y'.repeat(200)]).catch((x) => x);
    expect(e).toBeInstanceOf(ConnectionClosedError);
    await small.close();
  });

  it('connectUnix fails with ConnectError when nobody listens', async () => {
    const e = await connectUnix(join(dir, 'none.sock'), 200).catch((x) => x);
    expect(e).toBeInstanceOf(ConnectError);
    expect(e.code).toBe('CONNECT');
  });

  it('replaces a stale socket file but refuses a live one', async () => {
    await expect(new JsonRpcServer(() => undefined).listenUnix(sock)).rejects.toBeInstanceOf(AddressInUseError);
    const stalePath = join(dir, 'stale.sock');
    // A crashed owner: killed with SIGKILL, its socket file stays behind.
    const owner = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stalePath)}, () => console.log('up'))`]);
    await new Promise((r) => owner.stdout.once('data', r));
    owner.kill('SIGKILL');
    await new Promise((r) => owner.once('exit', r));
    expect(existsSync(stalePath)).toBe(true);
    const s2 = new JsonRpcServer((conn) => conn.onRequest(() => 'fresh'));
    await s2.listenUnix(stalePath);
    const c = await connectUnix(stalePath);
    expect(await c.request('x', [])).toBe('fresh');
    c.close();
    await s2.close();
    expect(existsSync(stalePath)).toBe(false);
    writeFileSync(join(dir, 'plain'), 'x');
    await expect(new JsonRpcServer(() => undefined).listenUnix(join(dir, 'plain'))).rejects.toBeInstanceOf(AddressInUseError);
  });
});
