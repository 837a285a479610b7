/*
 * The record framing of the database file (see storage.ts for the file as a whole): encode one
 * JSON record, decode a buffer of records and say exactly where and why decoding stopped. Used
 * by storage.ts (open, append, compact) and vsdb-tool (show-log, check). Control path.
 *
 *     VSDB1 <length> <crc32>\n<body>\n
 *
 * <length> is the body's size in bytes (decimal), <crc32> the CRC-32 (IEEE) of the body as 8
 * lowercase hex digits, <body> one UTF-8 JSON object.
 */
import { crc32 } from 'node:zlib';
import { VswitchError } from '../lib/errors.js';

export const RECORD_MAGIC = 'VSDB1';
const MAX_HEADER = 64;

/** Thrown when the database file cannot be read, created, locked or written. */
export class StorageError extends VswitchError {
  constructor(path: string, what: string, cause?: unknown, code = 'STORAGE') {
    const why = cause instanceof Error ? `: ${cause.message}` : '';
    super(code, `${path}: ${what}${why}`, { cause });
    this.name = 'StorageError';
  }
}

export function encodeRecord(json: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(json), 'utf8');
  const header = `${RECORD_MAGIC} ${body.length} ${crc32(body).toString(16).padStart(8, '0')}\n`;
  return Buffer.concat([Buffer.from(header, 'latin1'), body, Buffer.from('\n')]);
}

export interface DecodedLog {
  records: unknown[];
  /** Byte offset where each record starts (parallel to records). */
  offsets?: number[];
  /** Bytes of the file holding good records. */
  goodBytes: number;
  /** Why decoding stopped before the end of the buffer, or null. */
  error: string | null;
}

/** Decodes records from the start of `buf` until the end or the first damaged record. */
export function decodeRecords(buf: Buffer, withOffsets = false): DecodedLog {
  const records: unknown[] = [];
  const offsets: number[] = [];
  let off = 0;
  const done = (error: string | null): DecodedLog => {
    const out: DecodedLog = { records, goodBytes: off, error: error && `record ${records.length} at offset ${off}: ${error}` };
    if (withOffsets) out.offsets = offsets;
    return out;
  };
  while (off < buf.length) {
    const nl = buf.indexOf(0x0a, off);
    if (nl < 0 || nl - off > MAX_HEADER) return done(nl < 0 ? 'header cut short' : 'header too long');
    const m = /^VSDB1 (\d{1,12}) ([0-9a-f]{8})$/.exec(buf.toString('latin1', off, nl));
    if (!m) return done('malformed header');
    const len = Number(m[1]);
    const start = nl + 1;
    if (start + len + 1 > buf.length) return done(`body cut short (${buf.length - start} of ${len + 1} bytes)`);
    const body = buf.subarray(start, start + len);
    if (buf[start + len] !== 0x0a) return done('missing newline after body');
    if (crc32(body) !== parseInt(m[2], 16)) return done('checksum mismatch');
    let json: unknown;
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch (e) {
      return done(`body is not JSON (${(e as Error).message})`);
    }
    records.push(json);
    offsets.push(off);
    off = start + len + 1;
  }
  return done(null);
}
