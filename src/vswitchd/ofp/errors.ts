/*
 * Errors of the OpenFlow model. OfpError carries an OpenFlow 1.3 error type and code (what the
 * switch answers a bad flow mod with over the flow protocol) and a message a user can act on;
 * FlowSyntaxError is a flow or action string that does not parse, and points at the offending
 * token. Thrown by match.ts, the flow syntax, actions.ts and the flow tables. Control path.
 */
import { VswitchError } from '../../lib/errors.js';
import { ofpErrorName } from '../../lib/flowproto/error-codes.js';

/** Thrown when a flow mod, match or action list is invalid; `code` is e.g. "OFPFMFC_OVERLAP". */
export class OfpError extends VswitchError {
  readonly ofType: number;
  readonly ofCode: number;
  /** For an action list: the index of the offending action (-1: the list as a whole). */
  index: number;
  constructor(ofType: number, ofCode: number, message: string, index = -1) {
    super(ofpErrorName(ofType, ofCode), message);
    this.name = 'OfpError';
    this.ofType = ofType;
    this.ofCode = ofCode;
    this.index = index;
  }
}

/**
 * Thrown when a flow, match or action string does not parse. `offset`/`length` locate the
 * offending token in `input`; `pointer()` draws it:
 *
 *     unknown keyword foo
 *       in_port=1,foo=1,actions=drop
 *                 ^~~
 */
export class FlowSyntaxError extends VswitchError {
  readonly input: string;
  readonly offset: number;
  readonly length: number;
  /** The OpenFlow error a switch would answer with when this came from the protocol. */
  readonly ofType: number;
  readonly ofCode: number;
  constructor(message: string, input: string, offset: number, length: number, ofType = -1, ofCode = -1) {
    super('FLOW_SYNTAX', message);
    this.name = 'FlowSyntaxError';
    this.input = input;
    this.offset = Math.max(0, Math.min(offset, input.length));
    this.length = Math.max(1, length);
    this.ofType = ofType;
    this.ofCode = ofCode;
  }

  /** Two lines: the input and a caret under the offending token (indented by `indent`). */
  pointer(indent = '  '): string {
    const n = Math.min(this.length, Math.max(1, this.input.length - this.offset));
    return `${indent}${this.input}\n${indent}${' '.repeat(this.offset)}^${'~'.repeat(n - 1)}`;
  }

  /** The message followed by the pointer: what ofctl prints. */
  describe(indent = '  '): string {
    return `${this.message}\n${this.pointer(indent)}`;
  }
}
