/*
 * JSON-RPC 1.0 over a byte stream, as RFC 7047 (OVSDB) and OVS's unixctl use it: messages are
 * JSON objects written back to back with no delimiter. Used by vsdb (server and clients) and by
 * the appctl control socket of every daemon. Owns framing, request ids, timeouts and replies.
 * Control path only, never per packet.
 *
 * Framing: JsonSplitter scans bytes and tracks bracket depth outside strings (with backslash
 * escapes). Every structural byte is ASCII and UTF-8 continuation bytes are >= 0x80, so scanning
 * raw bytes is safe and a multibyte character split across chunks is only decoded once its
 * message is complete. A message larger than maxMessageBytes (default 64 MiB) is refused.
 *
 * Wire shapes: request {method, params, id}, notification {method, params, id: null}, reply
 * {result, error, id} with exactly one of result/error non-null. A peer that sends bytes that
 * cannot be parsed gets an error reply with id null and its connection is closed.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { ConnectError, TimeoutError, VswitchError } from './errors.js';
import type { Logger } from './log.js';
import { SocketListener } from './listener.js';

export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** Thrown (rejected) when the peer answered a request with an error; `.error` is its value. A
 * request handler throws it to send that error value back. */
export class RpcError extends VswitchError {
  readonly error: unknown;
  constructor(error: unknown) {
    super('RPC_ERROR', describeRpcError(error));
    this.name = 'RpcError';
    this.error = error;
  }
  static unknownMethod(method: string): RpcError {
    return new RpcError({ error: 'unknown method', details: `unknown method "${method}"` });
  }
}

/** Thrown (rejected) for requests still pending when the connection closes. */
export class ConnectionClosedError extends VswitchError {
  constructor(peer: string, why = 'connection closed') {
    super('CONNECTION_CLOSED', `${peer}: ${why}`);
    this.name = 'ConnectionClosedError';
  }
}

/** Thrown by JsonRpcServer.listenUnix when a live server already owns the socket path. */
export { AddressInUseError } from './listener.js';

function describeRpcError(e: unknown): string {
  if (typeof e === 'string') return e;
  if (e && typeof e === 'object') {
    const o = e as { error?: unknown; details?: unknown };
    if (typeof o.error === 'string') return typeof o.details === 'string' ? `${o.error}: ${o.details}` : o.error;
  }
  return JSON.stringify(e);
}

/** Splits a byte stream into top-level JSON texts. Stateful across push() calls. */
export class JsonSplitter {
  private parts: Buffer[] = [];
  private partsLen = 0;
  private depth = 0;
  private inString = false;
  private escape = false;
  constructor(readonly maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES) {}

  /** Calls onMessage for each complete JSON text in `chunk`. Returns null, or a description of
   * why the stream is unusable (garbage between messages, oversized message). */
  push(chunk: Buffer, onMessage: (text: string) => void): string | null {
    let start = this.depth > 0 ? 0 : -1;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i];
      if (this.depth === 0) {
        if (b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09) continue;
        if (b !== 0x7b && b !== 0x5b) return `unexpected byte 0x${b.toString(16)} between messages`;
        this.depth = 1;
        start = i;
        continue;
      }
      if (this.inString) {
        if (this.escape) this.escape = false;
        else if (b === 0x5c) this.escape = true;
        else if (b === 0x22) this.inString = false;
        continue;
      }
      if (b === 0x22) this.inString = true;
      else if (b === 0x7b || b === 0x5b) this.depth++;
      else if (b === 0x7d || b === 0x5d) {
        if (--this.depth === 0) {
          const len = this.partsLen + i + 1 - start;
          if (len > this.maxMessageBytes) return `message of ${len} bytes exceeds limit of ${this.maxMessageBytes}`;
          const last = chunk.subarray(start, i + 1);
          const whole = this.parts.length ? Buffer.concat([...this.parts, last]) : last;
          this.parts = [];
          this.partsLen = 0;
          start = -1;
          onMessage(whole.toString('utf8'));
        }
      }
    }
    if (this.depth > 0 && start >= 0) {
      const rest = chunk.subarray(start);
      this.partsLen += rest.length;
      if (this.partsLen > this.maxMessageBytes) {
        return `message exceeds limit of ${this.maxMessageBytes} bytes`;
      }
      // Copy: the caller may reuse its chunk buffer.
      this.parts.push(Buffer.from(rest));
    }
    return null;
  }
}

/** Handles a request; returns the result (or a Promise of it), throws RpcError for an error
 * reply, or returns DEFERRED after arranging to answer later with conn.respond(id, ...). */
export type RequestHandler = (method: string, params: unknown[], id: unknown) => unknown;

/** Returned by a request handler that will answer itself through respond()/respondError(). */
export const DEFERRED: unique symbol = Symbol('jsonrpc.deferred');
export type NotificationHandler = (method: string, params: unknown[]) => void;

export interface JsonRpcOptions {
  maxMessageBytes?: number;
  /** Answer "echo" requests with their params before the request handler sees them (default true). */
  answerEcho?: boolean;
  /** Used in error messages and logs, e.g. the socket path. */
  name?: string;
  log?: Logger;
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout | null;
  method: string;
}

/** One JSON-RPC peer. Emits 'close' once when the stream ends for any reason. */
export class JsonRpcConnection extends EventEmitter {
  readonly name: string;
  private readonly splitter: JsonSplitter;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private requestHandler: RequestHandler | null = null;
  private notificationHandler: NotificationHandler | null = null;
  private closed = false;
  private readonly answerEcho: boolean;
  private readonly log: Logger | undefined;

  constructor(readonly socket: net.Socket, opts: JsonRpcOptions = {}) {
    super();
    this.name = opts.name ?? 'jsonrpc peer';
    this.splitter = new JsonSplitter(opts.maxMessageBytes);
    this.answerEcho = opts.answerEcho ?? true;
    this.log = opts.log;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.log?.debug({ err: err.message }, `${this.name}: socket error`));
    socket.on('close', () => this.finish('connection closed'));
  }

  get isClosed(): boolean {
    return this.closed;
  }

  onRequest(handler: RequestHandler): void {
    this.requestHandler = handler;
  }

  onNotification(handler: NotificationHandler): void {
    this.notificationHandler = handler;
  }

  /** Sends a request; resolves with `result`, rejects with RpcError, TimeoutError or
   * ConnectionClosedError. timeoutMs 0 or absent waits forever. */
  request(method: string, params: unknown[], timeoutMs?: number): Promise<unknown> {
    if (this.closed) return Promise.reject(new ConnectionClosedError(this.name));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const p: Pending = { resolve, reject, timer: null, method };
      if (timeoutMs && timeoutMs > 0) {
        p.timer = setTimeout(() => {
          this.pending.delete(id);
          reject(new TimeoutError(`${this.name}: ${method}`, timeoutMs));
        }, timeoutMs);
      }
      this.pending.set(id, p);
      this.send({ method, params, id });
    });
  }

  notify(method: string, params: unknown[]): void {
    this.send({ method, params, id: null });
  }

  /** Answers request `id` with a result (for handlers that returned DEFERRED). */
  respond(id: unknown, result: unknown): void {
    this.send({ id, result: result ?? null, error: null });
  }

  /** Answers request `id` with an error value (for handlers that returned DEFERRED). */
  respondError(id: unknown, error: unknown): void {
    this.replyError(id, error);
  }

  /** Bytes queued in the socket but not yet written (a slow reader's backlog). */
  get pendingBytes(): number {
    return this.socket.writableLength;
  }

  close(): void {
    if (this.closed) return;
    this.socket.end();
    // end() flushes what was written; destroy soon after in case the peer never reads.
    setTimeout(() => this.socket.destroy(), 1000).unref();
    this.finish('connection closed locally');
  }

  private send(msg: object): void {
    if (this.closed || this.socket.destroyed) return;
    this.socket.write(JSON.stringify(msg));
  }

  private finish(why: string): void {
    if (this.closed) return;
    this.closed = true;
    for (const [id, p] of this.pending) {
      if (p.timer) clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(new ConnectionClosedError(this.name, `${why} while waiting for "${p.method}"`));
    }
    this.emit('close');
  }

  /** Protocol violation: tell the peer (id null) and drop it. */
  private fail(details: string): void {
    this.log?.warn({ peer: this.name }, `closing connection: ${details}`);
    this.send({ id: null, result: null, error: { error: 'syntax error', details } });
    this.close();
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    const err = this.splitter.push(chunk, (text) => this.onText(text));
    if (err) this.fail(err);
  }

  private onText(text: string): void {
    if (this.closed) return;
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch (e) {
      this.fail(`invalid JSON: ${(e as Error).message}`);
      return;
    }
    if (!msg || typeof msg !== 'object' || Array.isArray(msg)) {
      this.fail('message is not a JSON object');
      return;
    }
    const m = msg as Record<string, unknown>;
    if (typeof m.method === 'string') {
      const params = Array.isArray(m.params) ? m.params : [];
      if (m.params !== undefined && !Array.isArray(m.params)) {
        if (m.id !== undefined && m.id !== null) this.replyError(m.id, { error: 'syntax error', details: 'params must be an array' });
        return;
      }
      if (m.id === undefined || m.id === null) this.dispatchNotification(m.method, params);
      else this.dispatchRequest(m.id, m.method, params);
      return;
    }
    if ('result' in m || 'error' in m) {
      this.onReply(m);
      return;
    }
    this.fail('message is neither a request, a notification nor a reply');
  }

  private onReply(m: Record<string, unknown>): void {
    const id = m.id;
    const p = typeof id === 'number' ? this.pending.get(id) : undefined;
    if (!p) {
      this.log?.debug({ peer: this.name, id }, 'reply to unknown request id ignored');
      return;
    }
    this.pending.delete(id as number);
    if (p.timer) clearTimeout(p.timer);
    if (m.error !== undefined && m.error !== null) p.reject(new RpcError(m.error));
    else p.resolve(m.result ?? null);
  }

  private dispatchNotification(method: string, params: unknown[]): void {
    if (!this.notificationHandler) return;
    try {
      this.notificationHandler(method, params);
    } catch (e) {
      this.log?.error({ err: (e as Error).message, method }, 'notification handler failed');
    }
  }

  private dispatchRequest(id: unknown, method: string, params: unknown[]): void {
    if (method === 'echo' && this.answerEcho) {
      this.send({ id, result: params, error: null });
      return;
    }
    if (!this.requestHandler) {
      this.replyError(id, RpcError.unknownMethod(method).error);
      return;
    }
    let out: unknown;
    try {
      out = this.requestHandler(method, params, id);
    } catch (e) {
      this.replyThrown(id, method, e);
      return;
    }
    if (out === DEFERRED) return;
    if (out instanceof Promise) {
      out.then(
        (result) => this.send({ id, result: result ?? null, error: null }),
        (e) => this.replyThrown(id, method, e),
      );
    } else {
      this.send({ id, result: out ?? null, error: null });
    }
  }

  private replyThrown(id: unknown, method: string, e: unknown): void {
    if (e instanceof RpcError) {
      this.replyError(id, e.error);
    } else if (e instanceof VswitchError) {
      this.replyError(id, { error: e.code, details: e.message });
    } else {
      this.log?.error({ err: (e as Error)?.stack ?? String(e), method }, 'request handler failed');
      this.replyError(id, { error: 'internal error', details: (e as Error)?.message ?? String(e) });
    }
  }

  private replyError(id: unknown, error: unknown): void {
    this.send({ id, result: null, error });
  }
}

function connectWith(opts: net.NetConnectOpts, target: string, timeoutMs: number, rpc: JsonRpcOptions): Promise<JsonRpcConnection> {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection(opts);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new ConnectError(target, new TimeoutError('connect', timeoutMs)));
    }, timeoutMs);
    sock.once('error', (err) => {
      clearTimeout(timer);
      reject(new ConnectError(target, err));
    });
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.removeAllListeners('error');
      resolve(new JsonRpcConnection(sock, { name: target, ...rpc }));
    });
  });
}

/** Connects to a Unix socket; rejects with ConnectError. */
export function connectUnix(path: string, timeoutMs = 5000, opts: JsonRpcOptions = {}): Promise<JsonRpcConnection> {
  return connectWith({ path }, path, timeoutMs, opts);
}

/** Connects to a TCP endpoint; rejects with ConnectError. */
export function connectTcp(host: string, port: number, timeoutMs = 5000, opts: JsonRpcOptions = {}): Promise<JsonRpcConnection> {
  return connectWith({ host, port }, `tcp:${host}:${port}`, timeoutMs, opts);
}

/** Connects to an OVS-style target: "unix:PATH", "tcp:HOST:PORT", or a bare path. */
export function connectTarget(target: string, timeoutMs = 5000, opts: JsonRpcOptions = {}): Promise<JsonRpcConnection> {
  if (target.startsWith('tcp:')) {
    const rest = target.slice(4);
    const colon = rest.lastIndexOf(':');
    return connectTcp(rest.slice(0, colon).replace(/^\[|\]$/g, ''), Number(rest.slice(colon + 1)), timeoutMs, opts);
  }
  return connectUnix(target.startsWith('unix:') ? target.slice(5) : target, timeoutMs, opts);
}

/** Accepts JSON-RPC connections on Unix sockets (and TCP) and hands each to a callback. */
/** Accepts JSON-RPC connections on Unix sockets and TCP ports (default host 0.0.0.0). */
export class JsonRpcServer extends SocketListener<JsonRpcConnection> {
  constructor(onConnection: (conn: JsonRpcConnection) => void, opts: JsonRpcOptions = {}) {
    super(
      (sock, unixPath) => new JsonRpcConnection(sock, { ...opts, name: unixPath ?? `${sock.remoteAddress}:${sock.remotePort}` }),
      onConnection,
      opts.log,
      '0.0.0.0',
    );
  }
}
