/*
 * Client of the datapath's socket (datapath.sock, protocol in dpif-proto.ts), used by vswitchd
 * (role 'vswitchd': it receives the upcalls) and by dpctl (role 'tool'). Owns the connection, the
 * request/reply matching by xid and the outgoing frame buffer. Not per packet, but per upcall:
 * the answer to a miss (one PUT_EXECUTE), flow puts, executes and deletes are appended to one
 * FrameWriter and written with one socket.write at the end of the tick, so a burst of upcalls answered in one pass goes out as
 * one write. JSON requests go through the same buffer, so a request sent after some puts is seen
 * by the datapath after them. Flow dumps are paged (dumpFlows): one DUMP request per page, the
 * next asked for only once the caller has handled the page, so neither side holds a whole
 * 200k-flow table in one message and the datapath keeps forwarding in between.
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import {
  DPIF_VERSION,
  FrameReader,
  FrameWriter,
  KEY_BYTES,
  KEY_WORDS,
  T_DUMP,
  T_DUMP_REPLY,
  T_EXECUTE,
  T_FLOW_DEL,
  T_FLOW_PUT,
  T_HELLO,
  T_REPLY,
  T_REQUEST,
  T_PUT_EXECUTE,
  T_UPCALL,
  UPCALL_ACTION,
  PE_EXECUTE,
  PE_PUT,
  parseJsonBody,
  readKeyInto,
} from './dpif-proto.js';
import { ConnectError, TimeoutError, VswitchError } from './errors.js';
import { FlowDumpPage, type DumpedFlow } from './flow-dump.js';

export type DpifRole = 'vswitchd' | 'tool';
/**
 * An upcall: its key, reason (UPCALL_MISS, UPCALL_ACTION), the packet and, for UPCALL_ACTION,
 * the action's userdata words and the packet's length before max_len cut it (else null, -1).
 * Every argument is only valid during the call.
 */
export type UpcallCallback = (key: Uint32Array, reason: number, packet: Buffer, userdata: Int32Array | null, totalLen: number) => void;

/** Default time a control request may take (a flow_dump of a full table is the slowest). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30000;

/** Flows per dump page unless the caller asks otherwise. */
export const DEFAULT_DUMP_PAGE = 1024;

/** Called with each page of a dump; the page's arrays are reused for the next one. */
export type DumpPageCallback = (page: FlowDumpPage) => void | Promise<void>;

interface Pending {
  method: string;
  /** For DUMP: where the reply is decoded. */
  page: FlowDumpPage | null;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout | null;
}

export class DpifClient {
  readonly path: string;
  private readonly sock: Duplex;
  private readonly writer = new FrameWriter();
  private readonly reader: FrameReader;
  private readonly pending = new Map<number, Pending>();
  private nextXid = 1;
  private flushQueued = false;
  private closed = false;
  private upcallCb: UpcallCallback | null = null;
  private readonly closeCbs: ((why: string) => void)[] = [];
  /** Scratch key handed to the upcall callback: valid only during the call. */
  private readonly upKey = new Uint32Array(KEY_WORDS);
  private readonly upKeyBytes = new Uint8Array(this.upKey.buffer);
  /** Time a request may take before it is rejected with TimeoutError. */
  requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS;
  /** Server's HELLO reply ({version, name}). */
  hello: { version?: number; name?: string } = {};
  /** Frames the client could not make sense of (unknown type, short body). */
  badFrames = 0;

  private constructor(path: string, sock: Duplex) {
    this.path = path;
    this.sock = sock;
    this.reader = new FrameReader((type, _flags, xid, buf, off, len) => this.onFrame(type, xid, buf, off, len));
    sock.on('data', (chunk: Buffer) => {
      if (!this.reader.push(chunk)) this.shutdown(`protocol error from datapath: ${this.reader.error}`);
    });
    sock.on('error', (err) => this.shutdown(err.message));
    sock.on('close', () => this.shutdown('connection closed by the datapath'));
  }

  /**
   * Connects to the datapath at `path` and says HELLO as `role`. Rejects with ConnectError
   * (nobody listening), TimeoutError, or VswitchError 'DPIF_BUSY' when another vswitchd holds
   * the upcall channel.
   */
  static connect(path: string, role: DpifRole, timeoutMs = 5000): Promise<DpifClient> {
    return new Promise((resolve, reject) => {
      const sock = net.createConnection({ path });
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new ConnectError(path, new TimeoutError('connect', timeoutMs)));
      }, timeoutMs);
      sock.once('error', (err) => {
        clearTimeout(timer);
        reject(new ConnectError(path, err));
      });
      sock.once('connect', () => {
        sock.removeAllListeners('error');
        const c = new DpifClient(path, sock);
        c.call(T_HELLO, 'HELLO', { role, version: DPIF_VERSION }, timeoutMs).then(
          (r) => {
            clearTimeout(timer);
            c.hello = (r ?? {}) as DpifClient['hello'];
            resolve(c);
          },
          (e: unknown) => {
            clearTimeout(timer);
            c.close();
            if (e instanceof VswitchError && e.code === 'BUSY') {
              reject(new VswitchError('DPIF_BUSY', `${path}: another vswitchd is connected to the datapath (${e.message})`));
            } else reject(e);
          },
        );
      });
    });
  }

  /** A client over an already open stream that speaks the protocol (no HELLO is sent): the
   *  upcall JIT warm-up (src/vswitchd/warmup.ts) feeds it frames and discards its writes. */
  static over(stream: Duplex, path = '(stream)'): DpifClient {
    return new DpifClient(path, stream);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Sends a control request; resolves with its result, rejects with VswitchError(code). */
  request(method: string, params?: unknown): Promise<any> {
    return this.call(T_REQUEST, method, { method, params: params ?? {} }, this.requestTimeoutMs);
  }

  /** Sets the receiver of upcalls: `key` and `packet` are only valid during the call. */
  onUpcall(cb: UpcallCallback): void {
    this.upcallCb = cb;
  }

  /** Called once when the connection ends (not after close()). */
  onClose(cb: (why: string) => void): void {
    this.closeCbs.push(cb);
  }

  /**
   * Installs or replaces the flow (key & mask) -> actions[0..n). A null mask is exact match
   * (every bit of the key). The datapath masks the key itself.
   */
  flowPut(key: Uint32Array, mask: Uint32Array | null, actions: ArrayLike<number>, n = actions.length): void {
    if (this.closed) return;
    const w = this.writer;
    w.begin(T_FLOW_PUT, 0, 0);
    w.words(key, 0, KEY_WORDS);
    writeMask(w, mask);
    w.u32(n);
    for (let i = 0; i < n; i++) w.i32(actions[i]);
    w.end();
    this.queueFlush();
  }

  /** Runs actions[0..n) once on `packet` as if it had arrived on `inPort`. */
  execute(inPort: number, actions: ArrayLike<number>, packet: Uint8Array, n = actions.length): void {
    if (this.closed) return;
    const w = this.writer;
    w.begin(T_EXECUTE, 0, 0);
    w.u32(inPort);
    w.u32(n);
    for (let i = 0; i < n; i++) w.i32(actions[i]);
    w.u32(packet.length);
    w.bytes(packet, 0, packet.length);
    w.end();
    this.queueFlush();
  }

  /**
   * The answer to a miss in one message (T_PUT_EXECUTE): installs (key & mask) -> actions[0..n)
   * when `put`, and runs the actions on `packet` (as from the key's in_port) when `execute`.
   * A null mask is exact match. Per upcall.
   */
  putExecute(key: Uint32Array, mask: Uint32Array | null, actions: Int32Array, n: number, packet: Uint8Array, put: boolean, execute: boolean): void {
    if (this.closed || (!put && !execute)) return;
    const w = this.writer;
    w.begin(T_PUT_EXECUTE, (put ? PE_PUT : 0) | (execute ? PE_EXECUTE : 0), 0);
    w.words(key, 0, KEY_WORDS);
    writeMask(w, mask);
    w.u32(n);
    w.words(actions, 0, n);
    const len = execute ? packet.length : 0;
    w.u32(len);
    if (len > 0) w.bytes(packet, 0, len);
    w.end();
    this.queueFlush();
  }

  /** Deletes the flow whose masked key and mask are (key & mask, mask); null mask = exact. */
  flowDel(key: Uint32Array, mask: Uint32Array | null): void {
    if (this.closed) return;
    const w = this.writer;
    w.begin(T_FLOW_DEL, 0, 0);
    w.words(key, 0, KEY_WORDS);
    writeMask(w, mask);
    w.end();
    this.queueFlush();
  }

  /**
   * Dumps every flow, a page of at most `pageSize` flows at a time: `onPage` is awaited before
   * the next page is asked for (its arrays are then overwritten). Resolves with the number of
   * flows seen. Rejects with VswitchError (DPIF_CLOSED, TIMEOUT, NO_SUCH_DUMP, DPIF_PROTOCOL).
   */
  async dumpFlows(onPage: DumpPageCallback, pageSize = DEFAULT_DUMP_PAGE): Promise<number> {
    const page = new FlowDumpPage();
    let id = 0;
    let total = 0;
    for (;;) {
      await this.dumpPage(page, id, pageSize);
      total += page.n;
      await onPage(page);
      if (page.done) return total;
      id = page.dumpId;
    }
  }

  /** Every flow as plain objects (tools; the revalidator streams pages instead). */
  async dumpAll(pageSize = DEFAULT_DUMP_PAGE): Promise<DumpedFlow[]> {
    const out: DumpedFlow[] = [];
    await this.dumpFlows((pg) => {
      for (const f of pg.toFlows()) out.push(f);
    }, pageSize);
    return out;
  }

  private dumpPage(page: FlowDumpPage, id: number, max: number): Promise<void> {
    if (this.closed) return Promise.reject(new VswitchError('DPIF_CLOSED', `${this.path}: connection to the datapath is closed`));
    const xid = this.takeXid();
    return new Promise((resolve, reject) => {
      const p: Pending = { method: 'flow dump', page, resolve: () => resolve(), reject, timer: null };
      this.arm(xid, p, this.requestTimeoutMs);
      const w = this.writer;
      w.begin(T_DUMP, 0, xid);
      w.u32(id);
      w.u32(max);
      w.end();
      this.queueFlush();
    });
  }

  /** Writes what is buffered now instead of at the end of the tick. */
  flush(): void {
    this.flushQueued = false;
    if (this.closed || this.writer.pos === 0) return;
    this.sock.write(this.writer.take());
  }

  /** Closes the connection; pending requests are rejected. onClose callbacks are not called. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closeCbs.length = 0;
    this.shutdown('connection closed locally', false);
    this.sock.end();
    setTimeout(() => this.sock.destroy(), 1000).unref();
  }

  private call(type: number, method: string, body: unknown, timeoutMs: number): Promise<any> {
    if (this.closed) return Promise.reject(new VswitchError('DPIF_CLOSED', `${this.path}: connection to the datapath is closed`));
    const xid = this.takeXid();
    return new Promise((resolve, reject) => {
      this.arm(xid, { method, page: null, resolve, reject, timer: null }, timeoutMs);
      this.writer.json(type, xid, body);
      this.queueFlush();
    });
  }

  private takeXid(): number {
    const xid = this.nextXid++;
    if (this.nextXid > 0xffffffff) this.nextXid = 1;
    return xid;
  }

  private arm(xid: number, p: Pending, timeoutMs: number): void {
    if (timeoutMs > 0) {
      p.timer = setTimeout(() => {
        this.pending.delete(xid);
        p.reject(new TimeoutError(`datapath ${p.method}`, timeoutMs));
      }, timeoutMs);
    }
    this.pending.set(xid, p);
  }

  private queueFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    process.nextTick(flushClient, this);
  }

  private onFrame(type: number, xid: number, buf: Buffer, off: number, len: number): void {
    if (type === T_UPCALL) {
      if (len < KEY_BYTES + 8 || this.upcallCb === null) {
        if (this.upcallCb !== null) this.badFrames++;
        return;
      }
      readKeyInto(buf, off, this.upKeyBytes, this.upKey);
      const reason = buf.readUInt32LE(off + KEY_BYTES);
      const pktLen = buf.readUInt32LE(off + KEY_BYTES + 4);
      const start = off + KEY_BYTES + 8;
      if (start + pktLen > off + len) {
        this.badFrames++;
        return;
      }
      let user: Int32Array | null = null;
      let totalLen = -1;
      if (reason === UPCALL_ACTION) {
        const p = start + pktLen;
        const nUser = p + 8 <= off + len ? buf.readUInt32LE(p + 4) : -1;
        if (nUser < 0 || p + 8 + 4 * nUser !== off + len) {
          this.badFrames++;
          return;
        }
        totalLen = buf.readUInt32LE(p);
        user = new Int32Array(nUser);
        for (let i = 0; i < nUser; i++) user[i] = buf.readInt32LE(p + 8 + 4 * i);
      }
      this.upcallCb(this.upKey, reason, buf.subarray(start, start + pktLen), user, totalLen);
      return;
    }
    if (type === T_DUMP_REPLY) {
      const p = this.pending.get(xid);
      if (p === undefined) return;
      this.pending.delete(xid);
      if (p.timer) clearTimeout(p.timer);
      if (p.page === null || !p.page.decode(buf, off, len)) {
        this.badFrames++;
        p.reject(new VswitchError('DPIF_PROTOCOL', `datapath sent an unreadable ${p.method} page`));
      } else p.resolve(undefined);
      return;
    }
    if (type === T_REPLY) {
      const p = this.pending.get(xid);
      if (p === undefined) return;
      this.pending.delete(xid);
      if (p.timer) clearTimeout(p.timer);
      const body = parseJsonBody(buf, off, len) as { result?: unknown; error?: { code?: string; message?: string } } | undefined;
      if (body === undefined || typeof body !== 'object' || body === null) {
        p.reject(new VswitchError('DPIF_PROTOCOL', `datapath sent an unreadable reply to ${p.method}`));
      } else if (body.error) {
        const code = typeof body.error.code === 'string' ? body.error.code : 'DPIF_ERROR';
        p.reject(new VswitchError(code, body.error.message ?? `${p.method} failed`));
      } else p.resolve(body.result);
      return;
    }
    this.badFrames++;
  }

  private shutdown(why: string, destroy = true): void {
    if (this.closed) return;
    this.closed = true;
    for (const [xid, p] of this.pending) {
      this.pending.delete(xid);
      if (p.timer) clearTimeout(p.timer);
      p.reject(new VswitchError('DPIF_CLOSED', `${this.path}: ${why} while waiting for ${p.method}`));
    }
    if (destroy) this.sock.destroy();
    const cbs = this.closeCbs.splice(0);
    for (const cb of cbs) cb(why);
  }
}

/** Appends a mask (all ones for null: exact match). */
const EXACT_MASK = new Uint32Array(KEY_WORDS).fill(0xffffffff);

function writeMask(w: FrameWriter, mask: Uint32Array | null): void {
  if (mask === null) {
    w.words(EXACT_MASK, 0, KEY_WORDS);
  } else {
    w.words(mask, 0, KEY_WORDS);
  }
}

function flushClient(c: DpifClient): void {
  c.flush();
}
