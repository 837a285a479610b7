/*
 * Opens (or creates) a database file and replays it into a Database. Called by main.ts at
 * startup and by tests and tools that read a file offline. A new Open_vSwitch database starts
 * with one Open_vSwitch row at its defaults (next_cfg 0, cur_cfg 0), as `ovs-vsctl init` leaves it.
 */
import type { Logger } from '../lib/log.js';
import { applyRecord, Database, newUuid } from './database.js';
import { parseSchema, type DbSchema } from './schema.js';
import { Storage, StorageError } from './storage.js';

export interface OpenDbOptions {
  /** Schema to create the file with if it does not exist. */
  schemaJson?: unknown;
  fsync?: boolean;
  /** Take the database's lock file (default true; read-only tools pass false). */
  lock?: boolean;
  log?: Logger;
}

export interface OpenedDb {
  db: Database;
  storage: Storage;
  created: boolean;
}

/** The records a freshly created database starts with. */
export function initialRecords(schema: DbSchema): Record<string, unknown>[] {
  const root = schema.tables.get(schema.name);
  if (!root || !root.isRoot || root.maxRows !== 1) return [];
  return [{ [root.name]: { [newUuid()]: {} }, _date: Date.now(), _comment: 'initial database' }];
}

export async function openDbFile(path: string, opts: OpenDbOptions = {}): Promise<OpenedDb> {
  if (!Storage.exists(path)) {
    if (opts.schemaJson === undefined) throw new StorageError(path, 'database file does not exist and no schema was given');
    const schema = parseSchema(opts.schemaJson);
    const records = initialRecords(schema);
    const storage = await Storage.create(path, schema.json, records, opts);
    const db = new Database(schema);
    for (const r of records) applyRecord(db, r);
    opts.log?.info({ file: path, schema: schema.name, version: schema.version }, 'created new database');
    return { db, storage, created: true };
  }
  const opened = await Storage.open(path, opts);
  let schema: DbSchema;
  try {
    schema = parseSchema(opened.schema);
  } catch (e) {
    await opened.storage.close();
    throw new StorageError(path, 'the schema stored in the file is invalid', e);
  }
  const db = new Database(schema);
  for (let i = 0; i < opened.records.length; i++) {
    try {
      applyRecord(db, opened.records[i]);
    } catch (e) {
      await opened.storage.close();
      throw new StorageError(path, `record ${i + 1} cannot be applied (checksum is good, so the file was written by something else)`, e);
    }
  }
  if (opts.schemaJson !== undefined) {
    const given = opts.schemaJson as { version?: unknown };
    if (given.version !== schema.version) {
      opts.log?.warn({ file: path, stored: schema.version, given: given.version }, 'database schema differs from the given schema; using the stored one (conversion is not implemented yet)');
    }
  }
  opts.log?.info({ file: path, records: opened.records.length, rows: db.rowCount() }, 'opened database');
  return { db, storage: opened.storage, created: false };
}
