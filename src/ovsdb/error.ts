/*
 * OvsdbError: a failure inside a database operation, carrying the RFC 7047 error tag
 * ("syntax error", "constraint violation", "referential integrity violation", ...) and details.
 * Thrown by schema/datum/transaction code, turned into {error, details} per op by transaction.ts.
 */
import { VswitchError } from '../lib/errors.js';

export type OvsdbErrorTag =
  | 'syntax error'
  | 'unknown database'
  | 'constraint violation'
  | 'referential integrity violation'
  | 'duplicate uuid-name'
  | 'domain error'
  | 'range error'
  | 'timed out'
  | 'not supported'
  | 'aborted'
  | 'I/O error'
  | 'resources exhausted'
  | 'not owner'
  | 'duplicate uuid';

export class OvsdbError extends VswitchError {
  readonly tag: OvsdbErrorTag;
  readonly details: string;
  constructor(tag: OvsdbErrorTag, details: string) {
    super('OVSDB', `${tag}: ${details}`);
    this.name = 'OvsdbError';
    this.tag = tag;
    this.details = details;
  }
  toJson(): { error: string; details: string } {
    return { error: this.tag, details: this.details };
  }
}

export function syntaxError(details: string): OvsdbError {
  return new OvsdbError('syntax error', details);
}
