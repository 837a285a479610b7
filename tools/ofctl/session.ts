/*
 * One ofctl connection to a switch: requests with the xid they went out with (for ovs-ofctl's
 * "(xid=0x4)" headers), flow mods sent in pipelined batches each closed by a barrier (so 100k
 * flow mods stream without waiting on each, and every error comes back tied to its flow), and
 * the switch's ports, fetched once. Used by every ofctl command. Control path.
 */
import type { Socket } from 'node:net';
import type { FlowConnection } from '../../src/lib/flowproto/connection.js';
import { FlowRemoteError } from '../../src/lib/flowproto/errors.js';
import type { BodyInput, FlowMessage, MultipartReply, Port } from '../../src/lib/flowproto/messages.js';
import type { PortNamer } from '../../src/vswitchd/ofp/values.js';
import { ToolError, type ToolIo } from '../common.js';
import { connectSwitch } from './target.js';

/** Flow mods per barrier, and barriers in flight, when sending many. */
export const BATCH = 2000;
export const WINDOW = 4;

/**
 * Hands a part of a streamed reply (or its error) to its stream, ending the stream after the
 * last part; false when `msg` belongs to none.
 */
function routeStreamed(streaming: Map<number, Streaming>, msg: FlowMessage): boolean {
  const st = streaming.get(msg.xid);
  if (st === undefined) return false;
  if (msg.body === 'multipartReply' && msg.multipartReply) {
    st.onPart(msg.multipartReply, msg.xid);
    if (!msg.multipartReply.more) {
      streaming.delete(msg.xid);
      st.resolve();
    }
    return true;
  }
  if (msg.body === 'error' && msg.error) {
    streaming.delete(msg.xid);
    const e = msg.error;
    st.reject(new FlowRemoteError(e.type ?? 0, e.code ?? 0, e.detail ?? '', e.data ?? new Uint8Array(0)));
    return true;
  }
  return false;
}

interface Streaming {
  onPart: (part: MultipartReply, xid: number) => void;
  resolve: () => void;
  reject: (e: Error) => void;
}

export class OfSession {
  /** FlowConnection numbers the requests it sends from 1; this mirrors it. */
  private nextXid = 1;
  private portsCache: Port[] | null = null;
  private namerCache: PortNamer | null = null;
  /** Multipart requests whose parts are handled as they arrive, by xid. */
  private readonly streaming = new Map<number, Streaming>();
  /** Gets the asynchronous messages (monitor). */
  onAsync: ((msg: FlowMessage) => void) | null = null;

  /** `streaming`: streams already under way (adopt()). */
  constructor(readonly sw: string, readonly conn: FlowConnection, streaming?: Map<number, Streaming>) {
    if (streaming !== undefined) for (const [xid, st] of streaming) this.streaming.set(xid, st);
    // Messages no pending request claimed: parts of streamed replies, their errors, async ones.
    conn.onMessage((msg) => this.unclaimed(msg));
    conn.once('close', () => {
      for (const st of this.streaming.values()) st.reject(new ToolError(`${sw}: connection closed`));
      this.streaming.clear();
    });
  }

  private unclaimed(msg: FlowMessage): void {
    if (!routeStreamed(this.streaming, msg)) this.onAsync?.(msg);
  }

  /**
   * A multipart request whose reply parts go to `onPart` as they arrive (a 100k-flow dump is
   * printed while the switch still sends it); resolves with its xid after the last part.
   */
  multipartStream(body: NonNullable<BodyInput['multipartRequest']>, onPart: (part: MultipartReply, xid: number) => void): Promise<number> {
    this.nextXid++;
    return new Promise((resolve, reject) => {
      const xid = this.conn.send({ multipartRequest: body });
      this.streaming.set(xid, { onPart, resolve: () => resolve(xid), reject });
    });
  }

  static async open(sw: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<OfSession> {
    return new OfSession(sw, await connectSwitch(sw, env, timeoutMs));
  }

  /**
   * A session on an early.ts socket, whose whole-table dump request (xid 1) is already sent:
   * its parts go to `onPart` from the first message on (some may come with the Hello), and
   * `done` settles as multipartStream()'s promise does.
   */
  static async adopt(sw: string, env: NodeJS.ProcessEnv, timeoutMs: number, sock: Socket, onPart: (part: MultipartReply, xid: number) => void): Promise<{ session: OfSession; done: Promise<number> }> {
    let st!: Streaming;
    const done = new Promise<number>((resolve, reject) => {
      st = { onPart, resolve: () => resolve(1), reject };
    });
    done.catch(() => undefined); // the caller awaits it once it has the session
    const streaming = new Map<number, Streaming>([[1, st]]);
    const conn = await connectSwitch(sw, env, timeoutMs, { sock, requests: 1, onMessage: (msg) => void routeStreamed(streaming, msg) });
    const session = new OfSession(sw, conn, streaming);
    session.nextXid = 2;
    return { session, done };
  }

  async request(body: BodyInput): Promise<FlowMessage> {
    this.nextXid++;
    return this.conn.request(body, 0);
  }

  /** A multipart request: its xid and every reply part. */
  async multipart(body: NonNullable<BodyInput['multipartRequest']>): Promise<{ xid: number; parts: MultipartReply[] }> {
    const xid = this.nextXid++;
    const parts = await this.conn.multipart(body, 0);
    return { xid, parts };
  }

  /** Sends messages that get no reply unless they fail, then a barrier; their errors by index. */
  async transact(bodies: BodyInput[]): Promise<{ index: number; error: FlowRemoteError }[]> {
    this.nextXid += bodies.length + 1;
    return this.conn.transact(bodies, 0);
  }

  /**
   * Sends `n` messages made by `make(i)` in batches of BATCH, each closed by a barrier, with up
   * to WINDOW batches in flight; resolves with every error, by index, in order.
   */
  async stream(n: number, make: (i: number) => BodyInput): Promise<{ index: number; error: FlowRemoteError }[]> {
    const errors: { index: number; error: FlowRemoteError }[] = [];
    const inflight: Promise<void>[] = [];
    for (let start = 0; start < n; start += BATCH) {
      const end = Math.min(n, start + BATCH);
      const bodies: BodyInput[] = [];
      for (let i = start; i < end; i++) bodies.push(make(i));
      inflight.push(this.transact(bodies).then((errs) => {
        for (const e of errs) errors.push({ index: start + e.index, error: e.error });
      }));
      if (inflight.length >= WINDOW) await inflight.shift();
    }
    await Promise.all(inflight);
    return errors.sort((a, b) => a.index - b.index);
  }

  /** The switch's ports (port_desc), fetched once. */
  async ports(): Promise<Port[]> {
    if (this.portsCache === null) this.portsCache = (await this.multipart({ portDesc: {} })).parts.flatMap((p) => p.portDesc?.ports ?? []);
    return this.portsCache;
  }

  /** Port names both ways. */
  async namer(): Promise<PortNamer> {
    if (this.namerCache === null) {
      const ports = await this.ports();
      this.namerCache = (await import('./replies.js')).portNamer(ports); // the flow model loads only for commands that use it
    }
    return this.namerCache;
  }

  close(): void {
    this.conn.close();
  }
}


/** What a command gets from the command line. */
export interface OfctlContext {
  io: ToolIo;
  env: NodeJS.ProcessEnv;
  /** OpenFlow version whose output shapes to follow (10 = 1.0, 13 = 1.3 ...). */
  style: number;
  strict: boolean;
  /** Print port names (--names; default: when stdout is a terminal). */
  names: boolean;
  noStats: boolean;
  /** replace-flows: re-add every flow, not only the changed ones. */
  readd: boolean;
  /** Connection timeout (ms; 0: the default). */
  timeoutMs: number;
  /** Reads standard input (FILE "-"). */
  readStdin(): Promise<string>;
  open(sw: string): Promise<OfSession>;
  /** Told of a session made without open() (dump-flows on an early.ts socket), so --timeout closes it too. */
  adopted?(s: OfSession): void;
}
