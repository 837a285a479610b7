/*
 * Commit-time checks for a transaction (called by transaction.ts after its last op):
 *   1. garbage collection: mark every row reachable from root-table rows through strong
 *      references, delete unmarked rows of non-root tables; while marking, a strong reference
 *      to a missing row is a "referential integrity violation";
 *   2. weak references to missing rows are removed (a column left below its minimum size is a
 *      "constraint violation");
 *   3. index uniqueness (tables where a row was inserted or an indexed column changed) and
 *      maxRows ("constraint violation").
 * Steps 1-2 walk the whole database, O(rows); they run only when the transaction deleted rows,
 * inserted non-root rows or rows holding references, or changed a reference column (see
 * needsRefWalk), which status-only updates and plain root-row inserts never do.
 */
import { canonical, ZERO_UUID, type Atom, type Datum } from './datum.js';
import { OvsdbError } from './error.js';
import { rowGet, type Row } from './database.js';
import type { ColumnSchema, DbSchema, TableSchema } from './schema.js';
import type { Txn } from './transaction.js';

interface RefColumn {
  column: ColumnSchema;
  keyRef: string | null;
  valueRef: string | null;
}

const refCache = new WeakMap<DbSchema, Map<string, { strong: RefColumn[]; weak: RefColumn[] }>>();

/** Per table: its strong and weak reference columns (cached per schema). */
function refColumns(schema: DbSchema): Map<string, { strong: RefColumn[]; weak: RefColumn[] }> {
  let m = refCache.get(schema);
  if (m) return m;
  m = new Map();
  for (const t of schema.tables.values()) {
    const strong: RefColumn[] = [];
    const weak: RefColumn[] = [];
    for (const column of t.columns.values()) {
      const { key, value } = column.type;
      const ref = (kind: 'strong' | 'weak') => ({
        column,
        keyRef: key.refTable && key.refType === kind ? key.refTable : null,
        valueRef: value?.refTable && value.refType === kind ? value.refTable : null,
      });
      const s = ref('strong');
      if (s.keyRef || s.valueRef) strong.push(s);
      const w = ref('weak');
      if (w.keyRef || w.valueRef) weak.push(w);
    }
    m.set(t.name, { strong, weak });
  }
  refCache.set(schema, m);
  return m;
}

/** Whether the transaction can have made a row unreachable or a reference dangling: a delete,
 * an insert into a non-root table, a new row holding references, or a changed reference
 * column. Inserts of plain root rows (the common bulk case) skip the O(rows) walk. */
function needsRefWalk(txn: Txn): boolean {
  const refs = refColumns(txn.schema);
  for (const [table, rows] of txn.changes) {
    const { strong, weak } = refs.get(table)!;
    const isRoot = txn.schema.tables.get(table)!.isRoot;
    for (const ch of rows.values()) {
      if (!ch.new) {
        if (ch.old) return true;
        continue;
      }
      if (!ch.old) {
        if (!isRoot) return true;
        for (const rc of strong.concat(weak)) if (ch.new.cols.get(rc.column.name)!.keys.length) return true;
        continue;
      }
      for (const rc of strong.concat(weak)) {
        if (ch.old.cols.get(rc.column.name) !== ch.new.cols.get(rc.column.name)) return true;
      }
    }
  }
  return false;
}

function danglingError(txn: Txn, from: Row, fromTable: string, rc: RefColumn, target: string, toTable: string): OvsdbError {
  const wasDeleted = txn.changes.get(toTable)?.get(target)?.old;
  if (wasDeleted) {
    return new OvsdbError(
      'referential integrity violation',
      `cannot delete ${toTable} row ${target} because ${fromTable} row ${from.uuid} still refers to it in column "${rc.column.name}"`,
    );
  }
  const hint = target === ZERO_UUID ? ' (a required reference column was left at its default)' : '';
  return new OvsdbError(
    'referential integrity violation',
    `${fromTable} column "${rc.column.name}" row ${from.uuid} references nonexistent row ${target} in table ${toTable}${hint}`,
  );
}

function collectGarbage(txn: Txn): void {
  const refs = refColumns(txn.schema);
  const marked = new Set<string>();
  const work: { table: string; row: Row }[] = [];
  for (const t of txn.schema.tables.values()) {
    if (!t.isRoot) continue;
    for (const row of txn.scan(t.name)) {
      marked.add(row.uuid);
      work.push({ table: t.name, row });
    }
  }
  while (work.length) {
    const { table, row } = work.pop()!;
    for (const rc of refs.get(table)!.strong) {
      const d = row.cols.get(rc.column.name)!;
      const visit = (atoms: Atom[] | null, toTable: string | null) => {
        if (!atoms || !toTable) return;
        for (const a of atoms) {
          const u = a as string;
          if (marked.has(u)) continue;
          const target = txn.get(toTable, u);
          if (!target) throw danglingError(txn, row, table, rc, u, toTable);
          marked.add(u);
          work.push({ table: toTable, row: target });
        }
      };
      visit(d.keys, rc.keyRef);
      visit(d.values, rc.valueRef);
    }
  }
  for (const t of txn.schema.tables.values()) {
    if (t.isRoot) continue;
    const dead: string[] = [];
    for (const row of txn.scan(t.name)) if (!marked.has(row.uuid)) dead.push(row.uuid);
    for (const u of dead) txn.remove(t.name, u);
  }
}

function dropDanglingWeakRefs(txn: Txn): void {
  const refs = refColumns(txn.schema);
  for (const [table, { weak }] of refs) {
    if (!weak.length) continue;
    const fixed: Row[] = [];
    for (const row of txn.scan(table)) {
      let cols: Map<string, Datum> | null = null;
      for (const rc of weak) {
        const d = row.cols.get(rc.column.name)!;
        const keep: number[] = [];
        for (let i = 0; i < d.keys.length; i++) {
          const keyOk = !rc.keyRef || txn.get(rc.keyRef, d.keys[i] as string);
          const valOk = !rc.valueRef || txn.get(rc.valueRef, d.values![i] as string);
          if (keyOk && valOk) keep.push(i);
        }
        if (keep.length === d.keys.length) continue;
        if (keep.length < rc.column.type.min) {
          throw new OvsdbError(
            'constraint violation',
            `removing weak references to deleted rows leaves ${table} row ${row.uuid} column "${rc.column.name}" empty, which its type does not allow`,
          );
        }
        cols ??= new Map(row.cols);
        cols.set(rc.column.name, canonical(keep.map((i) => d.keys[i]), d.values ? keep.map((i) => d.values![i]) : null));
      }
      if (cols) fixed.push({ uuid: row.uuid, version: row.version, cols });
    }
    for (const r of fixed) txn.put(table, r);
  }
}

function checkIndexes(txn: Txn, t: TableSchema): void {
  for (const index of t.indexes) {
    const seen = new Map<string, string>();
    for (const row of txn.scan(t.name)) {
      const key = JSON.stringify(index.map((c) => rowGet(row, c)));
      const other = seen.get(key);
      if (other) {
        const vals = index
          .map((c) => {
            const k = rowGet(row, c).keys;
            return JSON.stringify(k.length === 1 ? k[0] : k);
          })
          .join(', ');
        throw new OvsdbError(
          'constraint violation',
          `transaction causes multiple rows in "${t.name}" table to have identical values (${vals}) for index on ${index.join(', ')}: rows ${other} and ${row.uuid}`,
        );
      }
      seen.set(key, row.uuid);
    }
  }
}

/** Runs every commit check on `txn`, adding GC deletions and weak-ref fixes to it; throws OvsdbError. */
export function checkCommit(txn: Txn): void {
  if (needsRefWalk(txn)) {
    collectGarbage(txn);
    dropDanglingWeakRefs(txn);
  }
  for (const [table, rows] of txn.changes) {
    const t = txn.schema.tables.get(table)!;
    let inserted = false;
    let indexTouched = false;
    for (const ch of rows.values()) {
      if (!ch.new) continue;
      if (!ch.old) inserted = indexTouched = true;
      else if (!indexTouched) {
        for (const idx of t.indexes) for (const c of idx) if (ch.old.cols.get(c) !== ch.new.cols.get(c)) indexTouched = true;
      }
    }
    if (indexTouched) checkIndexes(txn, t);
    if (inserted && t.maxRows !== Infinity) {
      const n = [...txn.scan(table)].length;
      if (n > t.maxRows) {
        throw new OvsdbError('constraint violation', `transaction causes "${table}" table to contain ${n} rows, more than the schema's limit of ${t.maxRows}`);
      }
    }
  }
}
