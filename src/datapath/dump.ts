/*
 * Flow dump pages: encodes the megaflow table's flows, from a cursor (a flow id), as one
 * DUMP_REPLY body (src/lib/flow-dump.ts records). Called by the dpif server once per DUMP
 * request; control path. Walking flow ids in order makes the cursor stable while flows come and
 * go: a flow present for the whole dump is reported exactly once.
 */
import { DUMP_DONE, T_DUMP_REPLY, type FrameWriter } from '../lib/dpif-proto.js';
import { writeFlowRecord } from '../lib/flow-dump.js';
import { KEY_WORDS } from '../lib/flow-key.js';
import type { MegaflowTable } from './megaflow.js';

/** A page stops growing past this many bytes. */
export const PAGE_BYTES = 1024 * 1024;

/**
 * Appends a DUMP_REPLY frame (reply to `xid`, dump `id`) with the flows from id `cursor` on, at
 * most `max` of them or PAGE_BYTES. Returns the cursor of the next page, or -1 when done.
 */
export function writeDumpPage(w: FrameWriter, xid: number, id: number, t: MegaflowTable, cursor: number, max: number): number {
  w.begin(T_DUMP_REPLY, 0, xid);
  const start = w.pos;
  w.u32(id);
  w.u32(0); // flags, filled in below
  w.u32(0); // count, filled in below
  let n = 0;
  let f = t.nextFlow(cursor);
  while (f >= 0 && n < max && w.pos - start < PAGE_BYTES) {
    writeFlowRecord(w, t.keys, f * KEY_WORDS, t.maskOf(f), 0, t.actions[f] as Int32Array, t.packets[f], t.bytes[f], t.used[f], t.created[f]);
    n++;
    f = t.nextFlow(f + 1);
  }
  w.buf.writeUInt32LE(f < 0 ? DUMP_DONE : 0, start + 4); // w.buf may have grown: write through it now
  w.buf.writeUInt32LE(n, start + 8);
  w.end();
  return f;
}
