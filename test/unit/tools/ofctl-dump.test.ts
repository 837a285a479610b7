/*
 * ofctl dump-flows (tools/ofctl/dump.ts) without a switch: its constant whole-table request is
 * what the flow syntax makes of an empty filter; parts that arrive before the printer is loaded
 * are queued (copied) and printed in order; FlowStatsPrinter.printBytes gives print()'s text.
 */
import { describe, expect, it } from 'vitest';
import type { BodyInput, MultipartReply } from '../../../src/lib/flowproto/messages.js';
import { RawMessage } from '../../../src/lib/flowproto/plain-codec.js';
import { newFlowMod, parseFlow } from '../../../src/vswitchd/ofp/flow-syntax.js';
import { OfTables } from '../../../src/vswitchd/ofp/tables.js';
import { FlowStatsEncoder } from '../../../src/vswitchd/ofp/wire-flow-stats.js';
import { FlowStatsPrinter } from '../../../src/vswitchd/ofp/wire-flow-text.js';
import { allFlowsRequest, dumpFlows } from '../../../tools/ofctl/dump.js';
import { statsRequestOf } from '../../../tools/ofctl/flows.js';
import { OfSession, type OfctlContext } from '../../../tools/ofctl/session.js';
import { capture } from './helpers.js';

const T0 = 1_700_000_000_000;

function encodedParts(flows: string[], perPart: number): Uint8Array[] {
  const t = new OfTables(false, T0);
  flows.forEach((f, i) => t.apply(parseFlow(f), T0 + i));
  const entries = t.select({ table: 255 });
  const enc = new FlowStatsEncoder();
  const parts: Uint8Array[] = [];
  for (let i = 0; i < entries.length;) {
    i = enc.part(entries, i, T0 + 5000, perPart, 1 << 20);
    parts.push(Uint8Array.from(enc.bytes()));
  }
  return parts;
}

/** A session that answers the flow stats request with `parts`, the first ones synchronously (before dumpFlows has loaded its printer). */
function fakeSession(parts: Uint8Array[], sent: BodyInput[]): OfSession {
  return Object.assign(Object.create(OfSession.prototype) as OfSession, {
    multipartStream(body: NonNullable<BodyInput['multipartRequest']>, onPart: (p: MultipartReply, xid: number) => void): Promise<number> {
      sent.push({ multipartRequest: body });
      const scratch = new Uint8Array(1 << 16);
      const deliver = (i: number): void => {
        // Each part in a buffer that is overwritten afterwards, as a socket's view would be.
        scratch.set(parts[i]);
        onPart({ more: i < parts.length - 1, flow: new RawMessage(scratch.subarray(0, parts[i].length)) as unknown as MultipartReply['flow'] }, 7);
        scratch.fill(0);
      };
      deliver(0);
      deliver(1);
      return new Promise((resolve) => setTimeout(() => {
        for (let i = 2; i < parts.length; i++) deliver(i);
        resolve(7);
      }, 20));
    },
    namer: () => Promise.resolve({ name: () => undefined, number: () => undefined }),
  });
}

function context(): OfctlContext & { io: ReturnType<typeof capture> } {
  return {
    io: capture(), env: {}, style: 10, strict: false, names: false, noStats: false, readd: false, timeoutMs: 0,
    readStdin: () => Promise.resolve(''), open: () => Promise.reject(new Error('no switch')),
  };
}

describe('ofctl dump-flows', () => {
  it('sends for every flow what an empty filter makes', () => {
    expect(allFlowsRequest()).toEqual(statsRequestOf(newFlowMod('delete'), false));
  });

  it('prints parts that came before the printer loaded, then the rest, in order', async () => {
    const flows = Array.from({ length: 10 }, (_, i) => `priority=${100 + i},tcp,nw_src=10.0.0.${i},tp_dst=${80 + i},actions=output:${1 + (i % 2)}`);
    const parts = encodedParts(flows, 3);
    expect(parts.length).toBe(4);
    const sent: BodyInput[] = [];
    const ctx = context();
    await dumpFlows(ctx, fakeSession(parts, sent), undefined);
    expect(sent).toEqual([{ multipartRequest: { flow: allFlowsRequest() } }]);
    const printer = new FlowStatsPrinter({ names: undefined, noStats: false, ages: true });
    const expected = `NXST_FLOW reply (xid=0x7):\n${parts.map((p) => printer.print(p)).join('')}`;
    expect(ctx.io.stdout).toBe(expected);
    expect(ctx.io.stdout.split('\n').filter((l) => l.startsWith(' cookie=')).length).toBe(10);
    expect(ctx.io.stdout).toContain('priority=109,tcp,nw_src=10.0.0.9,tp_dst=89 actions=output:2\n');
  });

  it('printBytes gives the same text as print, as bytes', () => {
    const parts = encodedParts(['priority=5,ip,nw_dst=10.1.0.0/16,actions=drop', 'cookie=0x5,priority=6,udp,actions=output:3'], 10);
    const a = new FlowStatsPrinter({ ages: true });
    const b = new FlowStatsPrinter({ ages: true });
    const bytes = b.printBytes(parts[0]);
    expect(Buffer.isBuffer(bytes)).toBe(true);
    expect((bytes as Buffer).toString('latin1')).toBe(a.print(parts[0]));
    // A non-ASCII port name comes back as a string.
    const names = { name: (p: number) => (p === 3 ? 'pört' : undefined), number: () => undefined };
    const wide = new FlowStatsPrinter({ names }).printBytes(parts[0]);
    expect(typeof wide).toBe('string');
    expect(wide).toBe(new FlowStatsPrinter({ names }).print(parts[0]));
    expect(wide).toContain('pört');
  });
});

describe('ofctl dump-flows early request', () => {
  it('writes the frames the codec makes of our Hello and the whole-table request (xid 1)', async () => {
    const { EARLY_DUMP_BYTES } = await import('../../../tools/ofctl/early.js');
    const { encodeMessage, FLOW_PROTO_VERSION } = await import('../../../src/lib/flowproto/codec.js');
    const { encodeFrame } = await import('../../../src/lib/flowproto/framing.js');
    const expected = Buffer.concat([
      encodeFrame(encodeMessage(FLOW_PROTO_VERSION, 0, { hello: { versions: [FLOW_PROTO_VERSION], agent: 'ofctl' } })),
      encodeFrame(encodeMessage(FLOW_PROTO_VERSION, 1, { multipartRequest: { flow: allFlowsRequest() } })),
    ]);
    expect(Buffer.from(EARLY_DUMP_BYTES)).toEqual(expected);
  });
});
