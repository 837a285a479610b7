import { readFileSync } from 'node:fs';
import { Database, applyRecord } from '../../../src/ovsdb/database.js';
import { initialRecords } from '../../../src/ovsdb/db-file.js';
import { defaultSchemaPath } from '../../../src/ovsdb/main.js';
import { parseSchema } from '../../../src/ovsdb/schema.js';
import { executeTransaction, type TxnOutcome } from '../../../src/ovsdb/transaction.js';

export const schemaJson = (): Record<string, unknown> => JSON.parse(readFileSync(defaultSchemaPath(), 'utf8'));

/** A fresh Open_vSwitch database with its one root row, as a new file would have. */
export function freshDb(): Database {
  const schema = parseSchema(schemaJson());
  const db = new Database(schema);
  for (const r of initialRecords(schema)) applyRecord(db, r);
  return db;
}

/** Executes and, on success, applies (as the server does after writing). */
export function tx(db: Database, ops: object[], elapsedMs = 0): TxnOutcome {
  const out = executeTransaction(db, ops, { elapsedMs });
  if (out.changes) db.apply(out.changes);
  return out;
}

export function rootUuid(db: Database): string {
  return [...db.rows('Open_vSwitch').keys()][0];
}

/** Ops that add bridge `br` with one internal port/interface of the same name. */
export function addBridgeOps(br: string): object[] {
  return [
    { op: 'insert', table: 'Interface', row: { name: br, type: 'internal' }, 'uuid-name': 'i' },
    { op: 'insert', table: 'Port', row: { name: br, interfaces: ['named-uuid', 'i'] }, 'uuid-name': 'p' },
    { op: 'insert', table: 'Bridge', row: { name: br, ports: ['named-uuid', 'p'] }, 'uuid-name': 'b' },
    { op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['bridges', 'insert', ['named-uuid', 'b']]] },
  ];
}

export function names(db: Database, table: string): string[] {
  return [...db.rows(table).values()].map((r) => r.cols.get('name')!.keys[0] as string).sort();
}

/** Polls `f` until it returns something truthy (or fails after `ms`). */
export function until<T>(f: () => T | undefined | false, ms = 3000): Promise<T> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const tick = () => {
      const v = f();
      if (v !== undefined && v !== false) return resolve(v);
      if (Date.now() - start > ms) return reject(new Error('condition not met in time'));
      setTimeout(tick, 5);
    };
    tick();
  });
}
