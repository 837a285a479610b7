/*
 * The database file: an append-only log of checksummed records. Owned by the vsdb server
 * (main.ts opens it, server.ts appends one record per committed transaction before replying).
 *
 * Format. The file is a sequence of records, each
 *
 *     VSDB1 <length> <crc32>\n<body>\n
 *
 * where <length> is the body's size in bytes (decimal), <crc32> the CRC-32 (IEEE) of the body as
 * 8 lowercase hex digits, and <body> one UTF-8 JSON object. Record 0 is the schema (RFC 7047
 * form). Every later record is a transaction:
 *
 *     {"<table>": {"<row uuid>": null | {"<column>": <datum>, ...}, ...}, ..., "_date": <ms>, "_comment": "..."}
 *
 * null deletes the row; an object for a row not yet present inserts it (unnamed columns take their
 * defaults); an object for an existing row replaces the named columns. Ephemeral columns are never
 * written. Members starting with "_" are metadata. Compaction rewrites the file as the schema plus
 * one record holding every row ("_compacted": true), written to FILE.tmp, fsynced, then renamed.
 *
 * Recovery. Records are read in order; the first one that is cut short, has a malformed header, a
 * wrong checksum or a body that is not JSON ends the log: it and everything after it are copied to
 * FILE.bad, the file is truncated back to the last good record and the loss is logged. A write
 * that fails is rolled back by truncating to the previous size, so a failed commit leaves no debris.
 */
import { closeSync, existsSync, fsyncSync, openSync } from 'node:fs';
import { mkdir, open, readFile, rename, writeFile, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { crc32 } from 'node:zlib';
import { VswitchError } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';

const MAGIC = 'VSDB1';
const MAX_HEADER = 64;

/** Thrown when the database file cannot be read, created or written. */
export class StorageError extends VswitchError {
  constructor(path: string, what: string, cause?: unknown) {
    const why = cause instanceof Error ? `: ${cause.message}` : '';
    super('STORAGE', `${path}: ${what}${why}`, { cause });
    this.name = 'StorageError';
  }
}

export function encodeRecord(json: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(json), 'utf8');
  const header = `${MAGIC} ${body.length} ${crc32(body).toString(16).padStart(8, '0')}\n`;
  return Buffer.concat([Buffer.from(header, 'latin1'), body, Buffer.from('\n')]);
}

export interface DecodedLog {
  records: unknown[];
  /** Bytes of the file holding good records. */
  goodBytes: number;
  /** Why decoding stopped before the end of the buffer, or null. */
  error: string | null;
}

export function decodeRecords(buf: Buffer): DecodedLog {
  const records: unknown[] = [];
  let off = 0;
  const stop = (error: string): DecodedLog => ({ records, goodBytes: off, error: `record ${records.length} at offset ${off}: ${error}` });
  while (off < buf.length) {
    const nl = buf.indexOf(0x0a, off);
    if (nl < 0 || nl - off > MAX_HEADER) return stop(nl < 0 ? 'header cut short' : 'header too long');
    const m = /^VSDB1 (\d{1,12}) ([0-9a-f]{8})$/.exec(buf.toString('latin1', off, nl));
    if (!m) return stop('malformed header');
    const len = Number(m[1]);
    const start = nl + 1;
    if (start + len + 1 > buf.length) return stop(`body cut short (${buf.length - start} of ${len + 1} bytes)`);
    const body = buf.subarray(start, start + len);
    if (buf[start + len] !== 0x0a) return stop('missing newline after body');
    if (crc32(body) !== parseInt(m[2], 16)) return stop('checksum mismatch');
    let json: unknown;
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch (e) {
      return stop(`body is not JSON (${(e as Error).message})`);
    }
    records.push(json);
    off = start + len + 1;
  }
  return { records, goodBytes: off, error: null };
}

export interface StorageOptions {
  /** fsync (fdatasync) after every record; default true. */
  fsync?: boolean;
  log?: Logger;
}

export interface OpenedStorage {
  storage: Storage;
  schema: unknown;
  /** Transaction records after the schema, in order. */
  records: unknown[];
}

function fsyncDir(path: string): void {
  try {
    const fd = openSync(dirname(path), 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    /* some filesystems refuse to fsync directories; the rename is still ordered */
  }
}

export class Storage {
  private tail: Promise<void> = Promise.resolve();
  private baseBytes: number;

  private constructor(
    readonly path: string,
    private fh: FileHandle,
    private bytes: number,
    private records: number,
    private readonly fsync: boolean,
  ) {
    this.baseBytes = bytes;
  }

  /** File size in bytes. */
  get size(): number {
    return this.bytes;
  }

  /** Records in the file, the schema included. */
  get recordCount(): number {
    return this.records;
  }

  static exists(path: string): boolean {
    return existsSync(path);
  }

  /** Opens an existing file, dropping a torn or corrupt tail; throws StorageError. */
  static async open(path: string, opts: StorageOptions = {}): Promise<OpenedStorage> {
    let buf: Buffer;
    try {
      buf = await readFile(path);
    } catch (e) {
      throw new StorageError(path, 'cannot read database file', e);
    }
    const log = decodeRecords(buf);
    if (log.records.length === 0) {
      throw new StorageError(path, `no valid schema record (${log.error ?? 'file is empty'}); not a vsdb database file?`);
    }
    if (log.error) {
      const lost = buf.length - log.goodBytes;
      await writeFile(`${path}.bad`, buf.subarray(log.goodBytes)).catch(() => undefined);
      opts.log?.error(
        { file: path, droppedBytes: lost, keptRecords: log.records.length },
        `database log damaged, ${log.error}; truncated ${lost} bytes (saved to ${path}.bad)`,
      );
    }
    let fh: FileHandle;
    try {
      fh = await open(path, 'r+');
      if (log.error) {
        await fh.truncate(log.goodBytes);
        await fh.datasync();
      }
    } catch (e) {
      throw new StorageError(path, 'cannot open database file for writing', e);
    }
    const storage = new Storage(path, fh, log.goodBytes, log.records.length, opts.fsync ?? true);
    return { storage, schema: log.records[0], records: log.records.slice(1) };
  }

  /** Creates a new file holding the schema and `records` (atomically, via rename). */
  static async create(path: string, schema: unknown, records: unknown[], opts: StorageOptions = {}): Promise<Storage> {
    const bytes = await Storage.writeWhole(path, schema, records);
    const fh = await open(path, 'r+').catch((e) => {
      throw new StorageError(path, 'cannot open database file', e);
    });
    return new Storage(path, fh, bytes, 1 + records.length, opts.fsync ?? true);
  }

  private static async writeWhole(path: string, schema: unknown, records: unknown[]): Promise<number> {
    const data = Buffer.concat([encodeRecord(schema), ...records.map((r) => encodeRecord(r))]);
    const tmp = `${path}.tmp`;
    try {
      await mkdir(dirname(path), { recursive: true });
      const fh = await open(tmp, 'w');
      try {
        await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, path);
      fsyncDir(path);
    } catch (e) {
      throw new StorageError(path, 'cannot write database file', e);
    }
    return data.length;
  }

  /** Appends one record; resolves once it is written (and synced, if enabled). */
  append(record: unknown): Promise<void> {
    const data = encodeRecord(record);
    const run = async (): Promise<void> => {
      try {
        await this.fh.write(data, 0, data.length, this.bytes);
        if (this.fsync) await this.fh.datasync();
      } catch (e) {
        await this.fh.truncate(this.bytes).catch(() => undefined);
        throw new StorageError(this.path, 'cannot append to database file', e);
      }
      this.bytes += data.length;
      this.records++;
    };
    const p = this.tail.then(run);
    this.tail = p.catch(() => undefined);
    return p;
  }

  /** True when the log has grown well past its last compacted size. */
  needsCompaction(): boolean {
    return this.bytes > 8 * 1024 * 1024 && this.bytes > 4 * this.baseBytes;
  }

  /** Rewrites the file as the schema plus one snapshot record. */
  compact(schema: unknown, snapshot: Record<string, unknown>): Promise<void> {
    const run = async (): Promise<void> => {
      const bytes = await Storage.writeWhole(this.path, schema, [{ ...snapshot, _date: Date.now(), _compacted: true }]);
      const fh = await open(this.path, 'r+');
      await this.fh.close().catch(() => undefined);
      this.fh = fh;
      this.bytes = bytes;
      this.baseBytes = bytes;
      this.records = 2;
    };
    const p = this.tail.then(run);
    this.tail = p.catch(() => undefined);
    return p;
  }

  async close(): Promise<void> {
    await this.tail;
    await this.fh.close().catch(() => undefined);
  }
}
