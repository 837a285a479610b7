/*
 * Errors of the flow protocol layer. FlowProtoError: the stream or a message is broken
 * (oversize frame, bad length prefix, undecodable message, failed hello, closed connection,
 * no answer in time). FlowRemoteError: the peer answered a request with an Error message; its
 * `code` is the OpenFlow name ("OFPFMFC_OVERLAP") and it carries type, code and detail.
 * Thrown or rejected by framing.ts, codec.ts and connection.ts. Control path.
 */
import { VswitchError } from '../errors.js';
import { ofpErrorName } from './error-codes.js';

export type FlowProtoErrorCode =
  | 'FRAME_TOO_LARGE' // a length prefix above the maximum message size
  | 'BAD_LENGTH'      // a length prefix that is not a valid 32-bit varint
  | 'BAD_MESSAGE'     // a frame that does not decode as a Message
  | 'HELLO_FAILED'    // no common version, or the peer did not start with Hello
  | 'CLOSED'          // the connection closed with the request pending
  | 'TIMEOUT';        // no reply in time

/** Thrown when the stream or a message is broken; `code` says how. */
export class FlowProtoError extends VswitchError {
  declare readonly code: FlowProtoErrorCode;
  constructor(code: FlowProtoErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'FlowProtoError';
  }
}

/** Rejected when the peer answered with an Error message. */
export class FlowRemoteError extends VswitchError {
  readonly type: number;
  readonly errCode: number;
  readonly detail: string;
  readonly data: Uint8Array;
  constructor(type: number, code: number, detail: string, data: Uint8Array = new Uint8Array(0)) {
    const name = ofpErrorName(type, code);
    super(name, detail ? `${detail} (${name})` : name);
    this.name = 'FlowRemoteError';
    this.type = type;
    this.errCode = code;
    this.detail = detail;
    this.data = data;
  }
}
