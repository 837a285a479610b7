import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { decodeRecords, encodeRecord, StorageError } from '../../../src/ovsdb/storage.js';
import { openDbFile } from '../../../src/ovsdb/db-file.js';
import { VsdbService } from '../../../src/ovsdb/server.js';
import { rowToJson, columnsOf, type Database } from '../../../src/ovsdb/database.js';
import { addBridgeOps, schemaJson } from './helpers.js';

function captureLogger(): { log: pino.Logger; lines: any[] } {
  const lines: any[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => lines.push(JSON.parse(s)) });
  return { log, lines };
}

/** Every row of every table as JSON, for comparing two opened databases. */
function dump(db: Database): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [name, t] of db.schema.tables) {
    out[name] = {};
    for (const [u, r] of db.rows(name)) out[name][u] = rowToJson(r, columnsOf(t, undefined, false));
  }
  return out;
}

describe('record format', () => {
  it('round-trips records and stops at damage', () => {
    const buf = Buffer.concat([encodeRecord({ a: 1 }), encodeRecord({ s: 'é\n{' }), encodeRecord({ c: 3 })]);
    expect(buf.toString().startsWith('VSDB1 7 ')).toBe(true);
    expect(decodeRecords(buf)).toEqual({ records: [{ a: 1 }, { s: 'é\n{' }, { c: 3 }], goodBytes: buf.length, error: null });
    const cut = decodeRecords(buf.subarray(0, buf.length - 3));
    expect(cut.records).toHaveLength(2);
    expect(cut.error).toMatch(/cut short/);
    const flipped = Buffer.from(buf);
    flipped[flipped.length - 3] ^= 1;
    expect(decodeRecords(flipped).error).toMatch(/checksum/);
    expect(decodeRecords(Buffer.from('garbage\n')).error).toMatch(/malformed header/);
  });
});

describe('database file', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vsdb-storage-'));
    file = join(dir, 'conf.db');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  async function withService<T>(fn: (svc: VsdbService) => Promise<T>, log = captureLogger().log): Promise<T> {
    const { db, storage } = await openDbFile(file, { schemaJson: schemaJson(), log });
    const svc = new VsdbService(db, storage, log);
    try {
      return await fn(svc);
    } finally {
      await svc.close();
    }
  }

  it('creates a new file with the schema and one Open_vSwitch row', async () => {
    const { db, storage, created } = await openDbFile(file, { schemaJson: schemaJson() });
    expect(created).toBe(true);
    expect(db.rows('Open_vSwitch').size).toBe(1);
    await storage.close();
    const recs = decodeRecords(readFileSync(file)).records;
    expect((recs[0] as any).name).toBe('Open_vSwitch');
    expect(recs).toHaveLength(2);
  });

  it('reopens with the same data after several commits', async () => {
    const before = await withService(async (svc) => {
      for (const br of ['br0', 'br1', 'br2']) await svc.transact(addBridgeOps(br));
      await svc.transact([{ op: 'update', table: 'Bridge', where: [['name', '==', 'br1']], row: { fail_mode: 'secure', external_ids: ['map', [['k', 'v']]] } }]);
      await svc.transact([{ op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['bridges', 'delete', ['uuid', [...svc.db.rows('Bridge').values()].find((r) => r.cols.get('name')!.keys[0] === 'br2')!.uuid]]] }]);
      return dump(svc.db);
    });
    const { db, storage, created } = await openDbFile(file, { schemaJson: schemaJson() });
    expect(created).toBe(false);
    expect(dump(db)).toEqual(before);
    expect(Object.keys(before.Bridge)).toHaveLength(2);
    await storage.close();
  });

  it('never writes ephemeral columns', async () => {
    await withService(async (svc) => {
      await svc.transact(addBridgeOps('br0'));
      const size = svc.storage!.size;
      const r = await svc.transact([{ op: 'update', table: 'Interface', where: [], row: { statistics: ['map', [['rx_packets', 5]]], link_state: 'up' } }]);
      expect(r).toEqual([{ count: 1 }]);
      expect(svc.storage!.size).toBe(size);
      expect(svc.db.rows('Interface').values().next().value!.cols.get('link_state')!.keys).toEqual(['up']);
    });
    const { db, storage } = await openDbFile(file);
    expect(db.rows('Interface').values().next().value!.cols.get('link_state')!.keys).toEqual([]);
    await storage.close();
  });

  async function threeBridges(): Promise<{ sizes: number[]; dumps: unknown[] }> {
    return withService(async (svc) => {
      const sizes: number[] = [];
      const dumps: unknown[] = [];
      for (const br of ['br0', 'br1', 'br2']) {
        await svc.transact(addBridgeOps(br));
        sizes.push(svc.storage!.size);
        dumps.push(dump(svc.db));
      }
      return { sizes, dumps };
    });
  }

  it('drops a last record cut short by a crash and loads the rest', async () => {
    const { sizes, dumps } = await threeBridges();
    truncateSync(file, sizes[2] - 10);
    const { log, lines } = captureLogger();
    const { db, storage } = await openDbFile(file, { log });
    expect(dump(db)).toEqual(dumps[1]);
    expect(statSync(file).size).toBe(sizes[1]);
    expect(existsSync(`${file}.bad`)).toBe(true);
    const err = lines.find((l) => l.level === 50);
    expect(err.msg).toMatch(/cut short/);
    expect(err.droppedBytes).toBe(sizes[2] - 10 - sizes[1]);
    // The file is usable again: append and reopen.
    const svc = new VsdbService(db, storage, log);
    await svc.transact(addBridgeOps('br9'));
    await svc.close();
    const again = await openDbFile(file);
    expect(Object.keys(dump(again.db).Bridge)).toHaveLength(3);
    await again.storage.close();
  });

  it('drops a last record with a bad checksum', async () => {
    const { sizes, dumps } = await threeBridges();
    const buf = readFileSync(file);
    buf[sizes[2] - 5] ^= 0x20;
    writeFileSync(file, buf);
    const { log, lines } = captureLogger();
    const { db, storage } = await openDbFile(file, { log });
    expect(dump(db)).toEqual(dumps[1]);
    expect(lines.some((l) => /checksum mismatch/.test(l.msg))).toBe(true);
    await storage.close();
  });

  it('stops at a damaged record in the middle, keeping what came before', async () => {
    const { sizes, dumps } = await threeBridges();
    const buf = readFileSync(file);
    buf[sizes[1] - 5] ^= 0x20;
    writeFileSync(file, buf);
    const { db, storage } = await openDbFile(file, { log: captureLogger().log });
    expect(dump(db)).toEqual(dumps[0]);
    expect(statSync(file).size).toBe(sizes[0]);
    await storage.close();
  });

  it('compacts to the schema plus one snapshot with the same contents', async () => {
    const before = await withService(async (svc) => {
      for (let i = 0; i < 5; i++) await svc.transact(addBridgeOps(`br${i}`));
      await svc.transact([{ op: 'update', table: 'Open_vSwitch', where: [], row: { bridges: ['set', []] } }]);
      await svc.transact(addBridgeOps('last'));
      await svc.compact();
      await svc.transact([{ op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['next_cfg', '+=', 1]] }]);
      return dump(svc.db);
    });
    expect(decodeRecords(readFileSync(file)).records).toHaveLength(3);
    const { db, storage } = await openDbFile(file);
    expect(dump(db)).toEqual(before);
    await storage.close();
  });

  it('refuses a file that is not a database', async () => {
    writeFileSync(file, 'hello\n');
    await expect(openDbFile(file)).rejects.toBeInstanceOf(StorageError);
    writeFileSync(file, '');
    await expect(openDbFile(file)).rejects.toThrow(/no valid schema/);
    rmSync(file);
    await expect(openDbFile(file)).rejects.toThrow(/does not exist/);
  });
});
