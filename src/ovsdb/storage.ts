/*
 * The database file: an append-only log of checksummed records (framing in log-record.ts).
 * Owned by the vsdb server (main.ts opens it; server.ts appends one record per committed
 * transaction) and by vsdb-tool when the server is stopped. Control path.
 *
 * Contents. Record 0 is the schema (RFC 7047 form). Every later record is a transaction:
 *
 *     {"<table>": {"<row uuid>": null | {"<column>": <datum>, ...}, ...}, ..., "_date": <ms>, "_comment": "..."}
 *
 * null deletes the row; an object for a row not yet present inserts it (unnamed columns take their
 * defaults); an object for an existing row replaces the named columns. Ephemeral columns are never
 * written. Members starting with "_" are metadata.
 *
 * Writing and durability. appendSync() writes a record with one write(2) before the caller makes
 * the change visible, so what anyone can see is in the file (the kernel's page cache at least).
 * sync(seq) resolves once an fdatasync(2) that started after record `seq` was written has
 * finished: group commit, one fdatasync for every record written while the previous one ran.
 * Records not waited on are synced by a background fdatasync within LAZY_SYNC_MS. A failed write
 * truncates the file back and throws (nothing was committed); a failed fdatasync makes the
 * storage refuse every later write (the page cache can no longer be trusted).
 *
 * Compaction is online: compact() captures the schema and a snapshot of every row (the caller
 * builds it between two commits), writes them to FILE.tmp in the background while commits go on
 * appending to FILE (and are remembered), then appends the remembered records to FILE.tmp,
 * fdatasyncs it and renames it over FILE. A crash at any point leaves either the old or the new
 * file whole; a left-over FILE.tmp is removed on open.
 *
 * Recovery. Records are read in order; the first one that is cut short, has a malformed header, a
 * wrong checksum or a body that is not JSON ends the log: it and everything after it are copied to
 * FILE.bad, the file is truncated back to the last good record and the loss is logged.
 */
import { closeSync, existsSync, fdatasync, fdatasyncSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, write, writeFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from '../lib/log.js';
import { acquireLock } from './file-lock.js';
import { decodeRecords, encodeRecord, StorageError } from './log-record.js';

export { decodeRecords, encodeRecord, StorageError, type DecodedLog } from './log-record.js';

/** A record not waited on by any commit is still fdatasynced within this many ms. */
export const LAZY_SYNC_MS = 1000;
/** Automatic compaction: the file is over this size and 4 times its last compacted size. */
export const COMPACT_MIN_BYTES = 8 * 1024 * 1024;

export interface StorageOptions {
  /** false: never fdatasync (tests, throwaway databases). Default true. */
  fsync?: boolean;
  /** Take the lock file (default true; read-only tools pass false). */
  lock?: boolean;
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

function writeAll(fd: number, data: Buffer, pos: number): void {
  let off = 0;
  while (off < data.length) off += writeSync(fd, data, off, data.length - off, pos + off);
}

interface Waiter {
  seq: number;
  resolve: () => void;
  reject: (e: Error) => void;
}

interface Compaction {
  tmp: string;
  fd: number;
  /** Records appended to the old file since the snapshot was taken. */
  tail: Buffer[];
}

export class Storage {
  private baseBytes: number;
  /** Sequence number of the last record written, and of the last one known synced. */
  private writtenSeq = 0;
  private syncedSeq = 0;
  private syncing = false;
  private readonly waiters: Waiter[] = [];
  private lazyTimer: NodeJS.Timeout | null = null;
  private failed: Error | null = null;
  private compaction: Compaction | null = null;
  /** File descriptors replaced by compaction, closed once no fdatasync uses them. */
  private retired: number[] = [];
  private closed = false;
  /** fdatasync calls made (for stats and tests). */
  syncCount = 0;

  private constructor(
    readonly path: string,
    private fd: number,
    private bytes: number,
    private records: number,
    private readonly fsync: boolean,
    private readonly unlock: () => void,
    private readonly log: Logger | undefined,
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

  /** True while an online compaction is running. */
  get compacting(): boolean {
    return this.compaction !== null;
  }

  static exists(path: string): boolean {
    return existsSync(path);
  }

  /** Opens an existing file, dropping a torn or corrupt tail; throws StorageError. */
  static async open(path: string, opts: StorageOptions = {}): Promise<OpenedStorage> {
    const unlock = opts.lock === false ? () => undefined : acquireLock(path);
    try {
      if (existsSync(`${path}.tmp`)) unlinkSync(`${path}.tmp`); // an interrupted compaction
      let buf: Buffer;
      try {
        buf = readFileSync(path);
      } catch (e) {
        throw new StorageError(path, 'cannot read database file', e);
      }
      const log = decodeRecords(buf);
      if (log.records.length === 0) {
        throw new StorageError(path, `no valid schema record (${log.error ?? 'file is empty'}); not a vsdb database file?`);
      }
      let fd: number;
      try {
        fd = openSync(path, 'r+');
        if (log.error) {
          const lost = buf.length - log.goodBytes;
          try {
            writeFileSync(`${path}.bad`, buf.subarray(log.goodBytes));
          } catch {
            /* keeping the damaged bytes is a courtesy */
          }
          opts.log?.error(
            { file: path, droppedBytes: lost, keptRecords: log.records.length },
            `database log damaged, ${log.error}; truncated ${lost} bytes (saved to ${path}.bad)`,
          );
          ftruncateSync(fd, log.goodBytes);
          fdatasyncSync(fd);
        }
      } catch (e) {
        throw new StorageError(path, 'cannot open database file for writing', e);
      }
      const storage = new Storage(path, fd, log.goodBytes, log.records.length, opts.fsync ?? true, unlock, opts.log);
      return { storage, schema: log.records[0], records: log.records.slice(1) };
    } catch (e) {
      unlock();
      throw e;
    }
  }

  /** Creates a new file holding the schema and `records` (atomically, via rename). */
  static async create(path: string, schema: unknown, records: unknown[], opts: StorageOptions = {}): Promise<Storage> {
    mkdirSync(dirname(path), { recursive: true });
    const unlock = opts.lock === false ? () => undefined : acquireLock(path);
    try {
      const bytes = Storage.writeWhole(path, Buffer.concat([encodeRecord(schema), ...records.map((r) => encodeRecord(r))]));
      let fd: number;
      try {
        fd = openSync(path, 'r+');
      } catch (e) {
        throw new StorageError(path, 'cannot open database file', e);
      }
      return new Storage(path, fd, bytes, 1 + records.length, opts.fsync ?? true, unlock, opts.log);
    } catch (e) {
      unlock();
      throw e;
    }
  }

  /** Writes `data` as the whole file: FILE.tmp, fsync, rename, fsync the directory. */
  static writeWhole(path: string, data: Buffer): number {
    const tmp = `${path}.tmp`;
    try {
      const fd = openSync(tmp, 'w');
      try {
        writeAll(fd, data, 0);
        fdatasyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, path);
      fsyncDir(path);
    } catch (e) {
      throw new StorageError(path, 'cannot write database file', e);
    }
    return data.length;
  }

  /** Writes one record now (one write(2)); returns its sequence number for sync(). Throws
   * StorageError if it could not be written, after truncating the file back. */
  appendSync(record: unknown): number {
    if (this.closed) throw new StorageError(this.path, 'storage is closed');
    if (this.failed) throw new StorageError(this.path, 'an earlier fdatasync failed; refusing further writes', this.failed);
    const data = encodeRecord(record);
    try {
      writeAll(this.fd, data, this.bytes);
    } catch (e) {
      try {
        ftruncateSync(this.fd, this.bytes);
      } catch {
        /* the next open drops a torn tail anyway */
      }
      throw new StorageError(this.path, 'cannot append to database file', e);
    }
    this.bytes += data.length;
    this.records++;
    this.compaction?.tail.push(data);
    const seq = ++this.writtenSeq;
    if (!this.fsync) this.syncedSeq = seq;
    else if (!this.lazyTimer) {
      this.lazyTimer = setTimeout(() => {
        this.lazyTimer = null;
        this.sync().catch(() => undefined);
      }, LAZY_SYNC_MS);
      this.lazyTimer.unref();
    }
    return seq;
  }

  /** True once record `seq` is known to be on stable storage. */
  isSynced(seq: number): boolean {
    return this.syncedSeq >= seq;
  }

  /** Resolves once record `seq` (default: the last written) is on stable storage. */
  sync(seq = this.writtenSeq): Promise<void> {
    if (this.syncedSeq >= seq) return Promise.resolve();
    if (this.failed) return Promise.reject(new StorageError(this.path, 'fdatasync failed', this.failed));
    return new Promise((resolve, reject) => {
      this.waiters.push({ seq, resolve, reject });
      this.kick();
    });
  }

  /** Starts one fdatasync covering every record written so far, unless one is running. */
  private kick(): void {
    if (this.syncing || this.waiters.length === 0 || this.failed) return;
    this.syncing = true;
    const target = this.writtenSeq;
    this.syncCount++;
    fdatasync(this.fd, (err) => {
      this.syncing = false;
      if (err) this.fail(err);
      else this.synced(target);
      this.closeRetired();
      this.kick();
    });
  }

  private synced(target: number): void {
    if (target > this.syncedSeq) this.syncedSeq = target;
    let keep = 0;
    for (const w of this.waiters) {
      if (w.seq <= this.syncedSeq) w.resolve();
      else this.waiters[keep++] = w;
    }
    this.waiters.length = keep;
  }

  private fail(err: Error): void {
    this.failed = err;
    this.log?.fatal({ err: err.message, file: this.path }, 'fdatasync failed; the database refuses further writes');
    const e = new StorageError(this.path, 'fdatasync failed', err);
    for (const w of this.waiters.splice(0)) w.reject(e);
  }

  private closeRetired(): void {
    if (this.syncing) return;
    for (const fd of this.retired.splice(0)) {
      try {
        closeSync(fd);
      } catch {
        /* already closed */
      }
    }
  }

  /** Appends one record and waits for it to be synced (if fsync is on). */
  async append(record: unknown): Promise<void> {
    await this.sync(this.appendSync(record));
  }

  /** True when the log has grown well past its last compacted size. */
  needsCompaction(): boolean {
    return !this.compaction && this.bytes > COMPACT_MIN_BYTES && this.bytes > 4 * this.baseBytes;
  }

  /** Rewrites the file as the schema plus `snapshot` (the rows as of now) plus whatever is
   * appended meanwhile. Resolves when the new file is in place; commits go on during it. */
  async compact(schema: unknown, snapshot: Record<string, unknown>): Promise<void> {
    if (this.compaction) throw new StorageError(this.path, 'a compaction is already running', undefined, 'BUSY');
    if (this.failed || this.closed) throw new StorageError(this.path, 'storage is not writable', this.failed ?? undefined);
    const head = Buffer.concat([encodeRecord(schema), encodeRecord({ ...snapshot, _date: Date.now(), _compacted: true })]);
    const tmp = `${this.path}.tmp`;
    let fd: number;
    try {
      fd = openSync(tmp, 'w');
    } catch (e) {
      throw new StorageError(this.path, 'cannot create compaction file', e);
    }
    const c: Compaction = { tmp, fd, tail: [] };
    this.compaction = c;
    try {
      // The bulk is written and synced off the event loop; commits keep appending meanwhile.
      await new Promise<void>((resolve, reject) => {
        write(fd, head, 0, head.length, 0, (err) => (err ? reject(err) : fdatasync(fd, (e2) => (e2 ? reject(e2) : resolve()))));
      });
      if (this.closed || this.failed) throw new Error('storage closed during compaction');
      // From here on synchronous: nothing can be appended between the tail copy and the rename.
      const tail = Buffer.concat(c.tail);
      writeAll(fd, tail, head.length);
      fdatasyncSync(fd);
      renameSync(tmp, this.path);
      fsyncDir(this.path);
      this.retired.push(this.fd);
      this.fd = fd;
      this.bytes = head.length + tail.length;
      this.baseBytes = this.bytes;
      this.records = 2 + c.tail.length;
      this.compaction = null;
      this.synced(this.writtenSeq);
      this.closeRetired();
    } catch (e) {
      this.compaction = null;
      try {
        closeSync(fd);
        unlinkSync(tmp);
      } catch {
        /* best effort */
      }
      throw new StorageError(this.path, 'compaction failed (the log is unchanged)', e);
    }
  }

  /** Syncs what was written, then closes the file and releases the lock. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.lazyTimer) clearTimeout(this.lazyTimer);
    this.lazyTimer = null;
    await this.sync().catch(() => undefined);
    while (this.compaction) await new Promise((r) => setTimeout(r, 5));
    this.closed = true;
    this.retired.push(this.fd);
    this.closeRetired();
    this.unlock();
  }
}
