/*
 * vsdb-tool check: verifies a database file without changing it: every record's framing and
 * checksum, the schema, that every transaction record replays, and the integrity of the
 * result (strong and weak references resolve, every non-root row is reachable from a root row,
 * indexes are unique, maxRows holds). A torn last record (a crash mid-write) is reported
 * but is not a failure: the server drops it on open. Control path.
 */
import { decodeRecords, RECORD_MAGIC } from '../../src/ovsdb/log-record.js';
import { applyRecord, Database, rowGet } from '../../src/ovsdb/database.js';
import { parseSchema, type DbSchema } from '../../src/ovsdb/schema.js';

export interface CheckResult {
  records: number;
  rows: number;
  tornBytes: number;
  problems: string[];
}

function refColumns(schema: DbSchema, table: string) {
  const out: { col: string; keyRef: string | null; valueRef: string | null; weak: boolean }[] = [];
  for (const c of schema.tables.get(table)!.columns.values()) {
    for (const weak of [false, true]) {
      const kind = weak ? 'weak' : 'strong';
      const keyRef = c.type.key.refTable && c.type.key.refType === kind ? c.type.key.refTable : null;
      const valueRef = c.type.value?.refTable && c.type.value.refType === kind ? c.type.value.refTable : null;
      if (keyRef || valueRef) out.push({ col: c.name, keyRef, valueRef, weak });
    }
  }
  return out;
}

export function checkFile(buf: Buffer): CheckResult {
  const problems: string[] = [];
  const log = decodeRecords(buf);
  const res: CheckResult = { records: log.records.length, rows: 0, tornBytes: 0, problems };
  if (log.error) {
    // Damage followed by more records is corruption; damage at the very end is a torn write.
    const later = buf.indexOf(`\n${RECORD_MAGIC} `, log.goodBytes);
    if (later >= 0) problems.push(`${log.error}, and records follow it: the file is corrupt in the middle`);
    else res.tornBytes = buf.length - log.goodBytes;
  }
  if (!log.records.length) {
    problems.push('no schema record: not a vsdb database file');
    return res;
  }
  let db: Database;
  try {
    db = new Database(parseSchema(log.records[0]));
  } catch (e) {
    problems.push(`record 0: invalid schema: ${(e as Error).message}`);
    return res;
  }
  for (let i = 1; i < log.records.length; i++) {
    try {
      applyRecord(db, log.records[i]);
    } catch (e) {
      problems.push(`record ${i}: cannot be applied: ${(e as Error).message}`);
      return res;
    }
  }
  res.rows = db.rowCount();
  const schema = db.schema;
  const reachable = new Set<string>();
  const work: [string, string][] = [];
  for (const t of schema.tables.values()) {
    if (!t.isRoot) continue;
    for (const u of db.rows(t.name).keys()) {
      reachable.add(u);
      work.push([t.name, u]);
    }
  }
  for (const t of schema.tables.values()) {
    for (const row of db.rows(t.name).values()) {
      for (const rc of refColumns(schema, t.name)) {
        const d = row.cols.get(rc.col)!;
        const check = (atoms: unknown[] | null, ref: string | null) => {
          if (!atoms || !ref) return;
          for (const a of atoms) {
            if (!db.rows(ref).has(a as string)) {
              problems.push(`${t.name} row ${row.uuid} column ${rc.col} refers to missing ${ref} row ${a}${rc.weak ? ' (weak reference)' : ''}`);
            }
          }
        };
        check(d.keys, rc.keyRef);
        check(d.values, rc.valueRef);
      }
    }
  }
  while (work.length) {
    const [tname, uuid] = work.pop()!;
    const row = db.rows(tname).get(uuid)!;
    for (const rc of refColumns(schema, tname)) {
      if (rc.weak) continue;
      const d = row.cols.get(rc.col)!;
      for (const [atoms, ref] of [[d.keys, rc.keyRef], [d.values, rc.valueRef]] as const) {
        if (!atoms || !ref) continue;
        for (const a of atoms) {
          const u = a as string;
          if (reachable.has(u) || !db.rows(ref).has(u)) continue;
          reachable.add(u);
          work.push([ref, u]);
        }
      }
    }
  }
  for (const t of schema.tables.values()) {
    if (!t.isRoot) for (const u of db.rows(t.name).keys()) if (!reachable.has(u)) problems.push(`${t.name} row ${u} is not reachable from any root row (should have been garbage collected)`);
    if (db.rows(t.name).size > t.maxRows) problems.push(`table ${t.name} has ${db.rows(t.name).size} rows, more than its maxRows ${t.maxRows}`);
    for (const index of t.indexes) {
      const seen = new Map<string, string>();
      for (const row of db.rows(t.name).values()) {
        const key = JSON.stringify(index.map((c) => rowGet(row, c)));
        const other = seen.get(key);
        if (other) problems.push(`${t.name} rows ${other} and ${row.uuid} have the same value for index (${index.join(', ')})`);
        seen.set(key, row.uuid);
      }
    }
  }
  return res;
}
