/*
 * One flow protocol connection over a stream socket (Unix or TCP), either end: the hello
 * exchange and version negotiation, request/reply matching by xid (multipart replies
 * collected), echo answered automatically, barrier, error replies, and in-order processing of
 * the peer's requests. Used by ofctl and controllers (client side, FlowConnection.connect) and
 * by vswitchd through FlowServer (switch side). Control path.
 *
 * Ordering: messages from the peer are handed to the handler one at a time, in arrival order,
 * each finished (its promise settled) before the next starts; a BarrierRequest is answered once
 * everything received before it is finished, so its reply follows every reply and error those
 * messages caused (OpenFlow 1.3 §6.2; this is stronger than required). Outgoing messages are
 * written in order, coalesced into one socket write per turn of the event loop.
 *
 * Broken input never throws out of the socket handlers: an undecodable message is answered
 * BAD_REQUEST/BAD_LEN and the connection goes on (framing is intact); an oversize or malformed
 * length prefix is answered the same way and the connection is closed.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { ConnectError } from '../errors.js';
import type { Logger } from '../log.js';
import { decodeMessage, encodeMessage, SUPPORTED_VERSIONS } from './codec.js';
import {
  OFPBRC_BAD_LEN, OFPBRC_BAD_TYPE, OFPBRC_BAD_VERSION, OFPBRC_EPERM, OFPET_BAD_REQUEST, OFPET_HELLO_FAILED,
  OFPHFC_EPERM, OFPHFC_INCOMPATIBLE,
} from './error-codes.js';
import { FlowProtoError, FlowRemoteError } from './errors.js';
import { DEFAULT_MAX_MESSAGE_BYTES, encodeFrame, FrameDecoder } from './framing.js';
import { REPLY_BODIES, type BodyInput, type BodyKey, type FlowMessage, type MultipartReply } from './messages.js';

/** Most bytes of an offending message echoed back in an Error. */
export const ERROR_DATA_MAX = 2048;
export const DEFAULT_REQUEST_TIMEOUT_MS = 30000;

/** Handles a message from the peer that is not a reply to one of our requests. */
export type MessageHandler = (msg: FlowMessage, conn: FlowConnection) => void | Promise<void>;

export interface FlowConnectionOptions {
  /** For messages and logs ("unix:/run/vswitch/br0.mgmt", "tcp:10.0.0.1:6653"). */
  name?: string;
  /** Hello.agent. */
  agent?: string;
  versions?: readonly number[];
  maxMessageBytes?: number;
  /** Default time limit of request() (0: none). */
  requestTimeoutMs?: number;
  log?: Logger;
  /**
   * The message handler, set before anything is read. A peer may send requests right after its
   * hello (a controller sends features_request at once), and they can be dispatched before the
   * promise of connect() resolves, so a client that answers requests passes its handler here
   * rather than calling onMessage() afterwards.
   */
  onMessage?: MessageHandler;
  /**
   * Our Hello and the requests with xids 1..sentRequests are already written on the socket
   * (ofctl writes a whole-table dump before loading this code: tools/ofctl/early.ts); the
   * connection sends no Hello and numbers its requests from sentRequests + 1.
   */
  sentRequests?: number;
}

interface Pending {
  resolve: (m: FlowMessage) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout | null;
  /** Multipart replies collected so far (null: not a multipart request). */
  parts: MultipartReply[] | null;
}

/** An error a handler throws to answer with a specific OpenFlow error (OfpError has this shape). */
interface OfpLike {
  ofType: number;
  ofCode: number;
  message: string;
}
function isOfpLike(e: unknown): e is OfpLike {
  return typeof e === 'object' && e !== null && typeof (e as OfpLike).ofType === 'number' && (e as OfpLike).ofType >= 0
    && typeof (e as OfpLike).ofCode === 'number';
}

function bodyKey(body: BodyInput): BodyKey {
  const keys = Object.keys(body).filter((k) => (body as Record<string, unknown>)[k] !== undefined);
  if (keys.length !== 1) throw new TypeError(`a message body has exactly one member (got ${keys.join(', ') || 'none'})`);
  return keys[0] as BodyKey;
}

export class FlowConnection extends EventEmitter {
  readonly name: string;
  /** The negotiated version; 0 until both hellos were exchanged. */
  version = 0;
  /** The peer's Hello.agent. */
  peerAgent = '';
  /** Settles when the hellos are done: the negotiated version, or the reason it failed. */
  readonly ready: Promise<number>;
  private readyResolve!: (v: number) => void;
  private readyReject!: (e: Error) => void;
  private readonly sock: net.Socket;
  private readonly decoder: FrameDecoder;
  private readonly versions: readonly number[];
  private readonly log: Logger | undefined;
  private readonly requestTimeoutMs: number;
  private handler: MessageHandler | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextXid = 1;
  private queue: Promise<void> = Promise.resolve();
  private out: Buffer[] = [];
  private flushScheduled = false;
  private isClosed = false;
  /** Raw bytes of received messages, for the data of Error replies. */
  private readonly raw = new WeakMap<FlowMessage, Buffer>();

  constructor(sock: net.Socket, opts: FlowConnectionOptions = {}) {
    super();
    this.sock = sock;
    this.name = opts.name ?? 'flow connection';
    this.versions = opts.versions ?? SUPPORTED_VERSIONS;
    this.log = opts.log;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.handler = opts.onMessage ?? null;
    this.ready = new Promise<number>((res, rej) => {
      this.readyResolve = res;
      this.readyReject = rej;
    });
    this.ready.catch(() => undefined); // observed through `ready` by those who care
    this.decoder = new FrameDecoder((payload) => this.onFrame(payload), opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES);
    sock.on('data', (chunk: Buffer) => this.onData(chunk));
    sock.on('error', (err) => {
      this.log?.debug({ conn: this.name, err: err.message }, 'flow connection error');
      this.teardown(err);
    });
    sock.on('close', () => this.teardown(null));
    if (opts.sentRequests === undefined) this.sendRaw(Math.max(...this.versions), 0, { hello: { versions: [...this.versions], agent: opts.agent ?? '' } });
    else this.nextXid = opts.sentRequests + 1;
  }

  /**
   * Connects to "unix:PATH", "tcp:HOST:PORT" or a path, and waits for the hellos. With
   * `socket`, uses that socket (connecting or connected to `target`) instead of opening one.
   */
  static connect(target: string, opts: FlowConnectionOptions & { timeoutMs?: number; socket?: net.Socket } = {}): Promise<FlowConnection> {
    const timeoutMs = opts.timeoutMs ?? 5000;
    let addr: net.NetConnectOpts;
    if (target.startsWith('tcp:')) {
      const rest = target.slice(4);
      const colon = rest.lastIndexOf(':');
      addr = { host: rest.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(rest.slice(colon + 1)) };
    } else {
      addr = { path: target.startsWith('unix:') ? target.slice(5) : target };
    }
    return new Promise((resolve, reject) => {
      const sock = opts.socket ?? net.createConnection(addr);
      const timer = timeoutMs > 0 ? setTimeout(() => {
        sock.destroy();
        reject(new ConnectError(target, new FlowProtoError('TIMEOUT', `no answer within ${timeoutMs} ms`)));
      }, timeoutMs) : null;
      sock.once('error', (err) => {
        if (timer) clearTimeout(timer);
        reject(new ConnectError(target, err));
      });
      const connected = (): void => {
        const conn = new FlowConnection(sock, { name: target, ...opts });
        conn.ready.then(() => {
          if (timer) clearTimeout(timer);
          resolve(conn);
        }, (err: Error) => {
          if (timer) clearTimeout(timer);
          conn.close();
          reject(err);
        });
      };
      if (sock.connecting || opts.socket === undefined) sock.once('connect', connected);
      else if (sock.destroyed) {
        if (timer) clearTimeout(timer);
        reject(new ConnectError(target, new FlowProtoError('CLOSED', 'the connection was closed before the hellos')));
      } else connected();
    });
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Sets the handler of messages from the peer that are not replies to our requests. */
  onMessage(fn: MessageHandler): void {
    this.handler = fn;
  }

  /** Sends a message; returns its xid (a fresh one unless given). */
  send(body: BodyInput, xid?: number): number {
    const x = xid ?? this.allocXid();
    this.sendRaw(this.version || Math.max(...this.versions), x, body);
    return x;
  }

  /** Sends `body` with the xid of `to` (a reply). */
  reply(to: FlowMessage, body: BodyInput): void {
    this.send(body, to.xid);
  }

  /** Sends multipart replies to `to`, all but the last marked `more`. */
  replyMultipart(to: FlowMessage, parts: BodyInput['multipartReply'][]): void {
    parts.forEach((p, i) => this.send({ multipartReply: { ...p, more: i < parts.length - 1 } }, to.xid));
  }

  /** Answers `to` with an Error (its raw bytes, up to ERROR_DATA_MAX, as the data). */
  replyError(to: FlowMessage | null, type: number, code: number, detail: string): void {
    const raw = to ? this.raw.get(to) : undefined;
    this.send({ error: { type, code, detail, data: raw ? raw.subarray(0, ERROR_DATA_MAX) : new Uint8Array(0) } }, to?.xid ?? 0);
  }

  /**
   * Sends a request and resolves with its reply (for a multipart request: with the last part,
   * after `parts` were collected: use multipart()). An Error reply rejects with FlowRemoteError.
   */
  request(body: BodyInput, timeoutMs = this.requestTimeoutMs): Promise<FlowMessage> {
    return this.doRequest(body, timeoutMs, false).then((r) => r.msg);
  }

  /** Sends a multipart request and resolves with every reply part, in order. */
  async multipart(body: BodyInput['multipartRequest'], timeoutMs = this.requestTimeoutMs): Promise<MultipartReply[]> {
    return (await this.doRequest({ multipartRequest: body ?? {} }, timeoutMs, true)).parts;
  }

  private doRequest(body: BodyInput, timeoutMs: number, multi: boolean): Promise<{ msg: FlowMessage; parts: MultipartReply[] }> {
    if (this.isClosed) return Promise.reject(new FlowProtoError('CLOSED', `${this.name}: connection closed`));
    return new Promise((resolve, reject) => {
      const xid = this.allocXid();
      const p: Pending = {
        resolve: (m) => resolve({ msg: m, parts: p.parts ?? [] }),
        reject,
        timer: null,
        parts: multi ? [] : null,
      };
      if (timeoutMs > 0) {
        p.timer = setTimeout(() => {
          this.pending.delete(xid);
          reject(new FlowProtoError('TIMEOUT', `${this.name}: no reply within ${timeoutMs} ms`));
        }, timeoutMs);
      }
      this.pending.set(xid, p);
      try {
        this.send(body, xid);
      } catch (e) {
        this.pending.delete(xid);
        if (p.timer) clearTimeout(p.timer);
        reject(e);
      }
    });
  }

  /** Resolves once the peer has processed everything sent before (barrier request/reply). */
  async barrier(timeoutMs = this.requestTimeoutMs): Promise<void> {
    await this.request({ barrierRequest: {} }, timeoutMs);
  }

  /** Round trip time of an echo, in ms. */
  async echo(data: Uint8Array = new Uint8Array(0), timeoutMs = this.requestTimeoutMs): Promise<number> {
    const t0 = performance.now();
    await this.request({ echoRequest: { data } }, timeoutMs);
    return performance.now() - t0;
  }

  /**
   * Sends messages that get no reply when they succeed (flow mods, packet outs), then a
   * barrier; resolves after the barrier reply with the errors they caused, by index.
   */
  async transact(bodies: BodyInput[], timeoutMs = this.requestTimeoutMs): Promise<{ index: number; error: FlowRemoteError }[]> {
    const errors: { index: number; error: FlowRemoteError }[] = [];
    const byXid = new Map<number, number>();
    const catcher = (xid: number, err: FlowRemoteError): boolean => {
      const i = byXid.get(xid);
      if (i === undefined) return false;
      errors.push({ index: i, error: err });
      return true;
    };
    this.errorCatchers.add(catcher);
    try {
      for (let i = 0; i < bodies.length; i++) byXid.set(this.send(bodies[i]), i);
      await this.barrier(timeoutMs);
    } finally {
      this.errorCatchers.delete(catcher);
    }
    return errors;
  }

  private readonly errorCatchers = new Set<(xid: number, err: FlowRemoteError) => boolean>();

  close(): void {
    if (this.isClosed) return;
    this.flush();
    this.sock.end();
    this.teardown(null);
    setTimeout(() => this.sock.destroy(), 1000).unref();
  }

  // ---- Internals ------------------------------------------------------------------------------

  private allocXid(): number {
    const x = this.nextXid;
    this.nextXid = this.nextXid >= 0xffffffff ? 1 : this.nextXid + 1;
    return x;
  }

  private sendRaw(version: number, xid: number, body: BodyInput): void {
    if (this.isClosed) return;
    bodyKey(body);
    this.out.push(encodeFrame(encodeMessage(version, xid, body)));
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.out.length === 0 || this.sock.destroyed) return;
    const data = this.out.length === 1 ? this.out[0] : Buffer.concat(this.out);
    this.out = [];
    this.sock.write(data);
  }

  private onData(chunk: Buffer): void {
    let ok: boolean;
    try {
      ok = this.decoder.push(chunk);
    } catch (e) {
      this.log?.warn({ conn: this.name, err: (e as Error).message }, 'flow connection: message handling failed');
      ok = true;
    }
    if (!ok && this.decoder.error) {
      const err = this.decoder.error;
      this.log?.info({ conn: this.name, err: err.message }, 'flow connection: broken stream, closing');
      this.replyError(null, OFPET_BAD_REQUEST, OFPBRC_BAD_LEN, err.message);
      this.readyReject(err);
      this.close();
    }
  }

  private onFrame(payload: Buffer): void {
    let msg: FlowMessage;
    try {
      msg = decodeMessage(payload);
    } catch (e) {
      const data = Buffer.from(payload.subarray(0, ERROR_DATA_MAX));
      const detail = (e as Error).message;
      this.later(() => {
        this.send({ error: { type: OFPET_BAD_REQUEST, code: OFPBRC_BAD_LEN, detail, data } }, 0);
      });
      return;
    }
    this.raw.set(msg, Buffer.from(payload.subarray(0, ERROR_DATA_MAX)));
    if (this.version === 0) {
      this.onHello(msg);
      return;
    }
    if (msg.body === 'hello') return; // a second hello changes nothing
    if (msg.version !== this.version) {
      this.later(() => this.replyError(msg, OFPET_BAD_REQUEST, OFPBRC_BAD_VERSION, `version ${msg.version} differs from the negotiated version ${this.version}`));
      return;
    }
    if (msg.body === 'echoRequest') {
      this.reply(msg, { echoReply: { data: msg.echoRequest?.data ?? new Uint8Array(0) } });
      return;
    }
    if (msg.body !== undefined && REPLY_BODIES.has(msg.body) && this.onReply(msg)) return;
    this.enqueue(msg);
  }

  private onHello(msg: FlowMessage): void {
    if (msg.body !== 'hello' || !msg.hello) {
      this.replyError(msg, OFPET_HELLO_FAILED, OFPHFC_EPERM, 'the first message must be a hello');
      this.readyReject(new FlowProtoError('HELLO_FAILED', `${this.name}: the peer did not start with a hello`));
      this.close();
      return;
    }
    const theirs = msg.hello.versions?.length ? msg.hello.versions : [msg.version];
    const common = this.versions.filter((v) => theirs.includes(v));
    if (common.length === 0) {
      const detail = `no common protocol version (we speak ${this.versions.join(', ')}, the peer ${theirs.join(', ')})`;
      this.replyError(msg, OFPET_HELLO_FAILED, OFPHFC_INCOMPATIBLE, detail);
      this.readyReject(new FlowProtoError('HELLO_FAILED', `${this.name}: ${detail}`));
      this.close();
      return;
    }
    this.version = Math.max(...common);
    this.peerAgent = msg.hello.agent ?? '';
    this.readyResolve(this.version);
  }

  /** Delivers a reply to its pending request; false when no request waits for it. */
  private onReply(msg: FlowMessage): boolean {
    if (msg.body === 'error' && msg.error) {
      const e = msg.error;
      const err = new FlowRemoteError(e.type ?? 0, e.code ?? 0, e.detail ?? '', e.data ?? new Uint8Array(0));
      for (const c of this.errorCatchers) if (c(msg.xid, err)) return true;
      const p = this.pending.get(msg.xid);
      if (p === undefined) return false;
      this.finish(msg.xid, p);
      p.reject(err);
      return true;
    }
    const p = this.pending.get(msg.xid);
    if (p === undefined) return false;
    if (p.parts !== null) {
      if (msg.body !== 'multipartReply' || !msg.multipartReply) return false;
      p.parts.push(msg.multipartReply);
      if (msg.multipartReply.more) return true;
    }
    this.finish(msg.xid, p);
    p.resolve(msg);
    return true;
  }

  private finish(xid: number, p: Pending): void {
    this.pending.delete(xid);
    if (p.timer) clearTimeout(p.timer);
  }

  /** Runs the handler on `msg` after everything received before it. */
  private enqueue(msg: FlowMessage): void {
    this.later(() => this.dispatch(msg));
  }

  /** Runs `fn` once everything received before has been handled (keeps replies in order). */
  private later(fn: () => void | Promise<void>): void {
    this.queue = this.queue.then(fn).catch((e: unknown) => {
      this.log?.warn({ conn: this.name, err: (e as Error).message }, 'flow connection: dispatch failed');
    });
  }

  private async dispatch(msg: FlowMessage): Promise<void> {
    if (this.isClosed) return;
    if (msg.body === 'barrierRequest') {
      this.reply(msg, { barrierReply: {} });
      return;
    }
    if (msg.body === undefined) {
      this.replyError(msg, OFPET_BAD_REQUEST, OFPBRC_BAD_TYPE, 'message with no body, or a body this side does not know');
      return;
    }
    if (this.handler === null) {
      if (!REPLY_BODIES.has(msg.body)) this.replyError(msg, OFPET_BAD_REQUEST, OFPBRC_BAD_TYPE, `${msg.body} is not handled here`);
      return;
    }
    try {
      await this.handler(msg, this);
    } catch (e) {
      if (isOfpLike(e)) {
        this.replyError(msg, e.ofType, e.ofCode, e.message);
      } else {
        this.log?.warn({ conn: this.name, body: msg.body, err: (e as Error).message }, 'flow connection: handler failed');
        this.replyError(msg, OFPET_BAD_REQUEST, OFPBRC_EPERM, (e as Error).message);
      }
    }
  }

  private teardown(err: Error | null): void {
    if (this.isClosed) return;
    this.isClosed = true;
    const closedErr = new FlowProtoError('CLOSED', `${this.name}: connection closed${err ? ` (${err.message})` : ''}`);
    this.readyReject(closedErr);
    for (const [xid, p] of this.pending) {
      this.finish(xid, p);
      p.reject(closedErr);
    }
    this.emit('close', err);
  }
}
