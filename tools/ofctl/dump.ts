/*
 * ofctl dump-flows. A dump of every flow sends its request the moment the connection is up (or
 * before: early.ts wrote it at start), with a constant body, and loads the flow model and printer (tens of ms of modules) while the
 * switch selects, orders and encodes the first part; each part is then printed from its bytes as
 * it arrives (parts that came first wait in a queue). A filter, --strict or --names needs the
 * model (and the port names) before the request. Called by tools/ofctl.ts. Control path, hot
 * for 100k flows.
 */
import { PROTO_PACKAGE } from '../../src/lib/flowproto/codec.js';
import type { FlowStatsRequest, Input, MultipartReply } from '../../src/lib/flowproto/messages.js';
import { RawMessage, setRawDecode } from '../../src/lib/flowproto/plain-codec.js';
import { stdio } from '../common.js';
import type { EarlyDump } from './early.js';
import { OfSession, type OfctlContext } from './session.js';

const FLOW_STATS_REPLY = `.${PROTO_PACKAGE}.FlowStatsReply`;

/**
 * The request of a dump of every flow in every table: what flows.ts statsRequestOf() makes of
 * an empty filter without --strict (test/unit/tools/ofctl-dump.test.ts keeps the two equal).
 */
export function allFlowsRequest(): Input<FlowStatsRequest> {
  return { cookie: 0n, cookieMask: 0n, match: { fields: [] }, strict: false };
}

type OnPart = (part: MultipartReply, xid: number) => void;

/**
 * Bytes per write to standard output: half a pipe's buffer, so a reader (a script, less, the
 * benchmark) takes one piece while the next is printed.
 */
const STDOUT_PIECE = 32 * 1024;

function toStdout(piece: Buffer | string): void {
  process.stdout.write(piece);
}

/** What dump-flows dumps from: a session, or an early.ts socket with the request already sent. */
export type DumpSource = OfSession | { early: EarlyDump; sw: string };

export async function dumpFlows(ctx: OfctlContext, from: DumpSource, filter: string | undefined): Promise<void> {
  setRawDecode(FLOW_STATS_REPLY, true);
  let adopted: OfSession | null = null;
  try {
    // Parts that arrive before the printer is loaded wait here (copied: a part's bytes are a
    // view valid only during the callback).
    const early: [MultipartReply, number][] = [];
    let print: OnPart | null = null;
    const onPart: OnPart = (p, xid) => {
      if (print !== null) print(p, xid);
      else early.push([p.flow instanceof RawMessage ? { ...p, flow: new RawMessage(p.flow.bytes.slice()) as unknown as MultipartReply['flow'] } : p, xid]);
    };
    let done: Promise<number>;
    let namer;
    if (!(from instanceof OfSession)) {
      const a = await OfSession.adopt(from.sw, ctx.env, ctx.timeoutMs, from.early.sock, onPart);
      adopted = a.session;
      ctx.adopted?.(a.session);
      done = a.done;
    } else {
      const s = from;
      let request: Input<FlowStatsRequest>;
      if (filter === undefined && !ctx.names && !ctx.strict) {
        request = allFlowsRequest();
      } else {
        const { newFlowMod } = await import('../../src/vswitchd/ofp/flow-syntax.js');
        const { parseOrFail, statsRequestOf } = await import('./flows.js');
        namer = await s.namer();
        request = statsRequestOf(filter === undefined ? newFlowMod('delete') : parseOrFail(filter, 'dump', namer), ctx.strict);
      }
      done = s.multipartStream({ flow: request }, onPart);
      done.catch(() => undefined); // awaited below, once the printer is loaded
    }
    const [{ FlowStatsPrinter }, { formatFlowStats }, { flowStatsFromWire }, { header }] = await Promise.all([
      import('../../src/vswitchd/ofp/wire-flow-text.js'), import('../../src/vswitchd/ofp/flow-syntax.js'),
      import('../../src/vswitchd/ofp/wire.js'), import('./print.js'),
    ]);
    // As ovs-ofctl: the reply as it came (header, ages) unless names or --no-stats reshape it.
    const raw = !ctx.names && !ctx.noStats;
    const opts = { names: ctx.names ? namer : undefined, noStats: ctx.noStats, ages: raw && ctx.style === 10 };
    const printer = new FlowStatsPrinter(opts);
    let first = true;
    const printPart: OnPart = (p, xid) => {
      let out = '';
      if (first && raw) out = `${header(ctx.style === 10 ? 'NXST_FLOW reply' : 'OFPST_FLOW reply', ctx.style, xid)}\n`;
      first = false;
      const body = p.flow as unknown;
      if (body instanceof RawMessage && ctx.io === stdio) {
        // Straight to standard output as bytes: no 100k-line strings made and encoded again.
        if (out) process.stdout.write(out);
        printer.printTo(body.bytes, toStdout, STDOUT_PIECE);
        return;
      }
      if (body instanceof RawMessage) out += printer.print(body.bytes);
      else for (const st of p.flow?.stats ?? []) out += `${formatFlowStats(flowStatsFromWire(st), opts)}\n`;
      if (out) ctx.io.out(out);
    };
    for (const [p, xid] of early) printPart(p, xid);
    early.length = 0;
    print = printPart;
    await done;
  } finally {
    setRawDecode(FLOW_STATS_REPLY, false);
    adopted?.close();
  }
}

/**
 * Whether `early`'s socket got connected (false: it failed, and dump-flows connects anew to
 * report why as any command would).
 */
export function earlyConnected(early: EarlyDump): Promise<boolean> {
  const sock = early.sock;
  if (early.failed || sock.destroyed) return Promise.resolve(false);
  if (!sock.connecting) return Promise.resolve(true);
  return new Promise((resolve) => {
    sock.once('connect', () => resolve(true));
    sock.once('error', () => resolve(false));
  });
}
