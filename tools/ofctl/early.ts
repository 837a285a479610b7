/*
 * The first bytes of `ofctl dump-flows SWITCH`, written before the protocol code loads: the
 * socket is opened and our Hello and the whole-table flow stats request (xid 1) go out at
 * start, so the switch selects, orders and encodes the first part while ofctl loads protobufjs
 * and its printer (tens of ms either side); FlowConnection.connect({ socket, sentRequests: 1 })
 * then takes the socket over. Used by tools/ofctl.ts. Control path; imports nothing heavy.
 */
import net from 'node:net';

/**
 * Frames (length-prefixed) of Hello { versions: [1], agent: "ofctl" } (xid 0) and of
 * MultipartRequest { flow: allFlowsRequest() } (xid 1), as encodeFrame(encodeMessage(...))
 * makes them: test/unit/tools/ofctl-dump.test.ts checks they stay equal.
 */
export const EARLY_DUMP_BYTES: readonly number[] = [
  0x0e, 0x52, 0x0a, 0x0a, 0x01, 0x01, 0x12, 0x05, 0x6f, 0x66, 0x63, 0x74, 0x6c, 0x08, 0x01,
  0x0b, 0xca, 0x01, 0x04, 0x5a, 0x02, 0x2a, 0x00, 0x08, 0x01, 0x10, 0x01,
];

/** A socket to a switch with a dump of every flow already on its way. */
export interface EarlyDump {
  readonly sock: net.Socket;
  /** Set when the socket failed before anyone took it over (connect normally then: its error is reported). */
  failed: boolean;
}

/** Connects to the Unix socket `path` and writes the Hello and the dump request at once. */
export function startEarlyDump(path: string): EarlyDump {
  const sock = net.createConnection({ path });
  const early: EarlyDump = { sock, failed: false };
  // Until FlowConnection listens, an error only marks the attempt failed (no unhandled 'error').
  sock.on('error', () => {
    early.failed = true;
  });
  sock.write(Buffer.from(EARLY_DUMP_BYTES));
  return early;
}
