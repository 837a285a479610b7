// Online compaction: commits keep being served while the snapshot is written; the file that
// replaces the log holds the snapshot plus every commit made meanwhile, and reopens identical.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { decodeRecords, Storage, StorageError } from '../../../src/ovsdb/storage.js';
import { openDbFile } from '../../../src/ovsdb/db-file.js';
import { VsdbService } from '../../../src/ovsdb/server.js';
import { lockOwner } from '../../../src/ovsdb/file-lock.js';
import { columnsOf, rowToJson, type Database } from '../../../src/ovsdb/database.js';
import { addBridgeOps, schemaJson } from './helpers.js';

const log = pino({ level: 'silent' });
function dump(db: Database): unknown {
  const out: Record<string, unknown> = {};
  for (const [name, t] of db.schema.tables) out[name] = [...db.rows(name)].map(([u, r]) => [u, rowToJson(r, columnsOf(t, undefined, false))]);
  return out;
}

describe('online compaction and the lock file', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vsdb-compact-'));
    file = join(dir, 'conf.db');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps committing during compaction and loses nothing', async () => {
    const { db, storage } = await openDbFile(file, { schemaJson: schemaJson(), log });
    const svc = new VsdbService(db, storage, log);
    for (let i = 0; i < 50; i++) await svc.transact(addBridgeOps(`br${i}`));
    const compaction = svc.compact();
    expect(storage.compacting).toBe(true);
    // These commit while the snapshot is being written.
    const during = [];
    for (let i = 0; i < 20; i++) during.push(svc.transact([{ op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['next_cfg', '+=', 1]] }]));
    await Promise.all(during);
    await compaction;
    expect(storage.compacting).toBe(false);
    await svc.transact(addBridgeOps('after'));
    const before = dump(db);
    await svc.close();
    const recs = decodeRecords(readFileSync(file)).records as any[];
    expect(recs[1]._compacted).toBe(true);
    expect(recs.length).toBeLessThan(50);
    expect(existsSync(`${file}.tmp`)).toBe(false);
    const again = await openDbFile(file, { log });
    expect(dump(again.db)).toEqual(before);
    await again.storage.close();
  });

  it('holds a lock file while open, refuses a second opener, and takes over a stale lock', async () => {
    const { storage } = await openDbFile(file, { schemaJson: schemaJson(), log });
    expect(lockOwner(file)).toBe(process.pid);
    // The same process is the owner, so simulate another live owner with our parent's pid.
    const lockFile = join(dir, '.conf.db.~lock~');
    await storage.close();
    expect(existsSync(lockFile)).toBe(false);
    const { writeFileSync } = await import('node:fs');
    writeFileSync(lockFile, `${process.ppid}\n`);
    await expect(Storage.open(file)).rejects.toMatchObject({ code: 'DB_LOCKED' });
    await expect(Storage.open(file)).rejects.toBeInstanceOf(StorageError);
    writeFileSync(lockFile, '999999999\n'); // no such process: stale
    const again = await Storage.open(file);
    expect(lockOwner(file)).toBe(process.pid);
    await again.storage.close();
  });
});

describe('lock file owner identity', () => {
  it('does not take a reused pid (same pid, other start time) for the owner', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vsdb-lock-'));
    try {
      const file = join(dir, 'conf.db');
      const { writeFileSync } = await import('node:fs');
      writeFileSync(join(dir, '.conf.db.~lock~'), `${process.ppid} 1\n`); // alive pid, wrong start time
      expect(lockOwner(file)).toBeNull();
      const { storage } = await openDbFile(file, { schemaJson: schemaJson(), log });
      expect(lockOwner(file)).toBe(process.pid);
      await storage.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
