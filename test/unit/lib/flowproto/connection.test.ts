// FlowConnection and FlowServer over real Unix and TCP sockets: hello and version
// negotiation, echo, request/reply by xid, multipart collection, barrier ordering, errors,
// and a switch side that survives garbage, truncation and oversize frames.
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage } from '../../../../src/lib/flowproto/codec.js';
import { FlowConnection } from '../../../../src/lib/flowproto/connection.js';
import { FlowProtoError, FlowRemoteError } from '../../../../src/lib/flowproto/errors.js';
import { encodeFrame, FrameDecoder } from '../../../../src/lib/flowproto/framing.js';
import type { FlowMessage } from '../../../../src/lib/flowproto/messages.js';
import { FlowServer } from '../../../../src/lib/flowproto/server.js';
import { rng } from '../../vswitchd/ofp/helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'flowproto-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const servers: FlowServer[] = [];
const clients: FlowConnection[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) await s.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A switch side that answers features, flow mods (slowly, failing when priority is 13) and flow stats. */
async function startSwitch(opts: { versions?: number[]; maxMessageBytes?: number } = {}): Promise<{ path: string; server: FlowServer; seen: string[] }> {
  const path = join(dir, `s${n++}.mgmt`);
  const seen: string[] = [];
  const server = new FlowServer((conn) => {
    conn.onMessage(async (msg: FlowMessage) => {
      seen.push(msg.body ?? '?');
      if (msg.body === 'featuresRequest') conn.reply(msg, { featuresReply: { datapathId: 0x1234n, nTables: 255 } });
      else if (msg.body === 'flowMod') {
        await sleep(Math.random() * 5);
        if (msg.flowMod!.priority === 13) throw Object.assign(new Error('unlucky priority'), { ofType: 5, ofCode: 3 });
        if (msg.flowMod!.priority === 66) throw new Error('handler bug');
      } else if (msg.body === 'multipartRequest' && msg.multipartRequest?.body === 'flow') {
        conn.replyMultipart(msg, [1, 2, 3].map((i) => ({ flow: { stats: [{ priority: i, cookie: BigInt(i) }] } })));
      } else {
        conn.replyError(msg, 1, 1, `${msg.body} not supported`);
      }
    });
  }, { agent: 'test switch', ...opts });
  await server.listenUnix(path);
  servers.push(server);
  return { path, server, seen };
}

async function client(path: string, opts = {}): Promise<FlowConnection> {
  const c = await FlowConnection.connect(path, { agent: 'test client', ...opts });
  clients.push(c);
  return c;
}

/** A raw socket speaking frames by hand. */
function raw(path: string): Promise<{ sock: net.Socket; msgs: FlowMessage[]; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection({ path });
    const msgs: FlowMessage[] = [];
    const d = new FrameDecoder((p) => msgs.push(decodeMessage(p)));
    sock.on('data', (c) => d.push(c));
    const closed = new Promise<void>((r) => sock.on('close', () => r()));
    sock.once('error', reject);
    sock.once('connect', () => resolve({ sock, msgs, closed }));
  });
}

const frame = (xid: number, body: object, version = 1) => encodeFrame(encodeMessage(version, xid, body));

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out waiting');
    await sleep(5);
  }
}

describe('FlowConnection', () => {
  it('negotiates the version in the hellos and exchanges agents', async () => {
    const { path } = await startSwitch({ versions: [1, 2] });
    const c = await client(path, { versions: [1] });
    expect(c.version).toBe(1);
    expect(c.peerAgent).toBe('test switch');
    const reply = await c.request({ featuresRequest: {} });
    expect(reply.featuresReply?.datapathId).toBe(0x1234n);
  });

  it('fails the hello when there is no common version', async () => {
    const { path } = await startSwitch({ versions: [2] });
    const err = await FlowConnection.connect(path, { versions: [1] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FlowProtoError);
    expect((err as FlowProtoError).code).toMatch(/HELLO_FAILED|CLOSED/);
  });

  it('answers a message sent before the hello with HELLO_FAILED/EPERM and closes', async () => {
    const { path } = await startSwitch();
    const r = await raw(path);
    r.sock.write(frame(5, { echoRequest: { data: Buffer.from('x') } }));
    await r.closed;
    const err = r.msgs.find((m) => m.body === 'error');
    expect(err?.xid).toBe(5);
    expect([err?.error?.type ?? 0, err?.error?.code]).toEqual([0, 1]);
    expect(Buffer.from(decodeMessage(err!.error!.data!).echoRequest!.data!).toString()).toBe('x');
  });

  it('answers echo (both ways), with the data', async () => {
    const { path, server } = await startSwitch();
    const c = await client(path);
    expect(await c.echo(Buffer.from('ping'))).toBeGreaterThanOrEqual(0);
    const sw = [...server.connections][0];
    expect(await sw.echo()).toBeGreaterThanOrEqual(0);
    const r = await c.request({ echoRequest: { data: Buffer.from('abc') } });
    expect(Buffer.from(r.echoReply!.data!).toString()).toBe('abc');
  });

  it('collects multipart replies in order', async () => {
    const { path } = await startSwitch();
    const c = await client(path);
    const parts = await c.multipart({ flow: { tableId: 255 } });
    expect(parts.map((p) => [p.more ?? false, p.flow?.stats?.[0].priority, p.flow?.stats?.[0].cookie])).toEqual([[true, 1, 1n], [true, 2, 2n], [false, 3, 3n]]);
  });

  it('barrier: the reply comes after every earlier message was processed, errors included', async () => {
    const { path, seen } = await startSwitch();
    const c = await client(path);
    const bodies = Array.from({ length: 50 }, (_, i) => ({ flowMod: { priority: i % 20 === 13 ? 13 : i, command: 0 } }));
    const errors = await c.transact(bodies);
    expect(seen.filter((s) => s === 'flowMod').length).toBe(50);
    expect(errors.map((e) => e.index)).toEqual([13, 33]);
    expect(errors[0].error).toBeInstanceOf(FlowRemoteError);
    expect(errors[0].error.code).toBe('OFPFMFC_OVERLAP');
    expect(errors[0].error.message).toBe('unlucky priority (OFPFMFC_OVERLAP)');
    // A handler that throws a plain error gets BAD_REQUEST/EPERM, and the connection goes on.
    const e2 = await c.transact([{ flowMod: { priority: 66 } }]);
    expect(e2[0].error.code).toBe('OFPBRC_EPERM');
    await c.barrier();
  });

  it('rejects a request answered with an error, and one nobody answers in time', async () => {
    const { path } = await startSwitch();
    const c = await client(path);
    await expect(c.request({ roleRequest: { role: 2 } })).rejects.toThrow(/roleRequest not supported \(OFPBRC_BAD_TYPE\)/);
    await expect(c.request({ flowMod: { priority: 1 } }, 100)).rejects.toThrow(/no reply within 100 ms/);
  });

  it('answers an unknown or empty body with BAD_REQUEST/BAD_TYPE and a wrong version with BAD_VERSION', async () => {
    const { path } = await startSwitch();
    const r = await raw(path);
    r.sock.write(frame(0, { hello: { versions: [1] } }));
    r.sock.write(encodeFrame(Buffer.from([0x08, 0x01, 0x10, 0x07]))); // version 1, xid 7, no body
    r.sock.write(encodeFrame(Buffer.from([0x08, 0x01, 0x10, 0x08, 0xfa, 0x3e, 0x00]))); // field 999: unknown
    r.sock.write(frame(9, { featuresRequest: {} }, 3));
    await until(() => r.msgs.filter((m) => m.body === 'error').length === 3);
    const errs = r.msgs.filter((m) => m.body === 'error').map((m) => [m.xid, m.error!.type ?? 0, m.error!.code ?? 0]);
    expect(errs).toEqual([[7, 1, 1], [8, 1, 1], [9, 1, 0]]);
    r.sock.destroy();
  });

  it('survives garbage inside a frame (BAD_LEN, connection kept) and closes on an oversize frame', async () => {
    const { path } = await startSwitch({ maxMessageBytes: 1000 });
    const r = await raw(path);
    r.sock.write(frame(0, { hello: { versions: [1] } }));
    r.sock.write(encodeFrame(Buffer.from([0x0a, 0xff, 0xff]))); // truncated field inside a whole frame
    r.sock.write(frame(3, { echoRequest: { data: Buffer.from('still here') } }));
    await until(() => r.msgs.some((m) => m.body === 'echoReply'));
    const bad = r.msgs.find((m) => m.body === 'error')!;
    expect([bad.error!.type, bad.error!.code]).toEqual([1, 6]);
    expect(Buffer.from(r.msgs.find((m) => m.body === 'echoReply')!.echoReply!.data!).toString()).toBe('still here');
    r.sock.write(encodeFrame(Buffer.alloc(1001)));
    await r.closed;
    expect(r.msgs.filter((m) => m.body === 'error').at(-1)?.error?.detail).toMatch(/larger than the maximum of 1000/);
  });

  it('keeps serving other connections while fed random bytes and truncated messages', async () => {
    const { path, server } = await startSwitch();
    const good = await client(path);
    const r = rng(3);
    for (let i = 0; i < 30; i++) {
      const peer = await raw(path);
      peer.sock.on('error', () => undefined);
      if (i % 3 === 0) peer.sock.write(frame(0, { hello: { versions: [1] } }));
      const len = Math.floor(r() * 3000);
      const b = Buffer.alloc(len);
      for (let j = 0; j < len; j++) b[j] = Math.floor(r() * 256);
      peer.sock.write(b);
      if (i % 5 === 0) peer.sock.write(frame(4, { flowMod: { priority: 5 } }).subarray(0, 5)); // truncated
      peer.sock.end();
      await Promise.race([peer.closed, sleep(200)]);
      peer.sock.destroy();
    }
    expect(await good.echo()).toBeGreaterThanOrEqual(0);
    expect((await good.request({ featuresRequest: {} })).featuresReply?.nTables).toBe(255);
    await until(() => server.connections.size === 1);
  });

  it('rejects pending requests when the connection closes, and works over TCP', async () => {
    const server = new FlowServer((conn) => conn.onMessage(() => undefined));
    servers.push(server);
    const port = await server.listenTcp(0);
    const c = await client(`tcp:127.0.0.1:${port}`);
    const p = c.request({ featuresRequest: {} }, 0);
    await sleep(20);
    for (const sc of server.connections) sc.close();
    await expect(p).rejects.toThrow(/connection closed/);
    expect(c.closed).toBe(true);
    await expect(c.request({ featuresRequest: {} })).rejects.toBeInstanceOf(FlowProtoError);
  });

  it('refuses to listen where a live server is, and replaces a stale socket file', async () => {
    const { path } = await startSwitch();
    const second = new FlowServer(() => undefined);
    await expect(second.listenUnix(path)).rejects.toThrow(/already listening/);
    const stalePath = join(dir, 'stale.mgmt');
    const s = net.createServer();
    await new Promise<void>((res) => s.listen(stalePath, () => res()));
    // Leave the socket file behind as a crashed process would.
    (s as unknown as { _handle: { close(): void } | null })._handle?.close();
    const third = new FlowServer(() => undefined);
    servers.push(third);
    await third.listenUnix(stalePath);
    const c = await client(stalePath);
    expect(c.version).toBe(1);
  });
});
