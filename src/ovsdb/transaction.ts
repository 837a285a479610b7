/*
 * The "transact" method (RFC 7047 section 4.1.3 and 5.2): runs a list of operations atomically
 * against a Database and returns per-op results plus the change set to commit. Called by
 * server.ts, which writes the change set to storage before applying it and replying.
 *
 * A Txn is a copy-on-write overlay over the committed rows: reads see the transaction's own
 * changes, nothing touches the Database until apply(). A failing op leaves the Database as it
 * was; its result is the error, later ops get null. Commit checks (integrity.ts) run after the
 * last op; their error is appended as one extra result element, as the RFC says.
 */
import { rowMatches, parseWhere, uuidOf, type Condition } from './condition.js';
import { datumEquals, datumFromJson, datumKey, type Datum, type NamedUuidResolver } from './datum.js';
import { columnsOf, defaultRow, newUuid, rowGet, rowToJson, type ChangeSet, type Database, type Row, type RowChange } from './database.js';
import { OvsdbError, syntaxError } from './error.js';
import { checkCommit } from './integrity.js';
import { applyMutation, parseMutations } from './mutation.js';
import { UUID_COLUMN_TYPE, type DbSchema, type TableSchema } from './schema.js';

/** A transaction in progress: an overlay of changed rows over the committed Database. */
export class Txn {
  readonly changes = new Map<string, Map<string, RowChange>>();
  /** uuid-name -> uuid, for every name used or declared so far. */
  readonly symbols = new Map<string, string>();
  /** uuid-names declared by an insert. */
  readonly declared = new Set<string>();
  readonly named: NamedUuidResolver = (name) => {
    let u = this.symbols.get(name);
    if (!u) this.symbols.set(name, (u = newUuid()));
    return u;
  };

  constructor(readonly db: Database) {}

  get schema(): DbSchema {
    return this.db.schema;
  }

  get(table: string, uuid: string): Row | undefined {
    const ch = this.changes.get(table)?.get(uuid);
    if (ch) return ch.new ?? undefined;
    return this.db.rows(table).get(uuid);
  }

  /** Every current row of a table (committed rows not overridden, then the overlay's). */
  *scan(table: string): IterableIterator<Row> {
    const ch = this.changes.get(table);
    for (const [uuid, row] of this.db.rows(table)) if (!ch || !ch.has(uuid)) yield row;
    if (ch) for (const c of ch.values()) if (c.new) yield c.new;
  }

  put(table: string, row: Row): void {
    let t = this.changes.get(table);
    if (!t) this.changes.set(table, (t = new Map()));
    const ch = t.get(row.uuid);
    if (ch) ch.new = row;
    else t.set(row.uuid, { old: this.db.rows(table).get(row.uuid) ?? null, new: row });
  }

  remove(table: string, uuid: string): void {
    let t = this.changes.get(table);
    if (!t) this.changes.set(table, (t = new Map()));
    const ch = t.get(uuid);
    if (ch) ch.new = null;
    else t.set(uuid, { old: this.db.rows(table).get(uuid) ?? null, new: null });
  }

  select(table: string, conds: Condition[]): Row[] {
    const u = uuidOf(conds);
    if (u !== null) {
      const r = this.get(table, u);
      return r && rowMatches(r, conds) ? [r] : [];
    }
    const out: Row[] = [];
    for (const r of this.scan(table)) if (rowMatches(r, conds)) out.push(r);
    return out;
  }

  /** The committed change set: no-op changes dropped, fresh _version for changed rows. */
  finish(): ChangeSet {
    const out: ChangeSet = new Map();
    for (const [table, rows] of this.changes) {
      const m = new Map<string, RowChange>();
      for (const [uuid, ch] of rows) {
        if (!ch.old && !ch.new) continue;
        if (ch.old && ch.new && rowsEqual(ch.old, ch.new)) continue;
        m.set(uuid, { old: ch.old, new: ch.new && { uuid, version: newUuid(), cols: ch.new.cols } });
      }
      if (m.size) out.set(table, m);
    }
    return out;
  }
}

function rowsEqual(a: Row, b: Row): boolean {
  for (const [k, d] of a.cols) if (!datumEquals(d, b.cols.get(k)!)) return false;
  return true;
}

export interface TxnOptions {
  /** Milliseconds since this transaction was first received (for "wait" timeouts). */
  elapsedMs?: number;
  /** For the "assert" op: does the session running this transaction own lock `name`? Absent:
   * no session (in-process callers), every assert fails. */
  ownsLock?: (name: string) => boolean;
}

export interface TxnOutcome {
  /** RFC 7047 result array (one element per op, plus one if the commit checks failed). */
  results: unknown[];
  /** Changes to make durable and apply; null if the transaction failed or changed nothing. */
  changes: ChangeSet | null;
  /** Set when a "wait" is unmet but may still be met: retry within this many ms (Infinity: no timeout). */
  blockedMs: number | null;
  durable: boolean;
  comments: string[];
}

interface OpContext {
  txn: Txn;
  opts: TxnOptions;
  durable: boolean;
  comments: string[];
  blockedMs: number | null;
}

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function tableOf(txn: Txn, op: Record<string, unknown>): TableSchema {
  if (typeof op.table !== 'string') throw syntaxError(`"${op.op}" needs a "table" string`);
  return txn.db.tableSchema(op.table);
}

/** Parses a <row> object for insert/update into datums. */
function parseRow(json: unknown, table: TableSchema, named: NamedUuidResolver, forUpdate: boolean): Map<string, Datum> {
  if (json === undefined && !forUpdate) return new Map();
  if (!isObj(json)) throw syntaxError('"row" must be an object');
  const out = new Map<string, Datum>();
  for (const [cname, v] of Object.entries(json)) {
    const c = table.columns.get(cname);
    if (!c) {
      if (cname === '_uuid' || cname === '_version') throw new OvsdbError('constraint violation', `column "${cname}" cannot be set`);
      throw syntaxError(`no column "${cname}" in table "${table.name}"`);
    }
    if (forUpdate && !c.mutable) throw new OvsdbError('constraint violation', `cannot update immutable column "${cname}" in table "${table.name}"`);
    try {
      out.set(cname, datumFromJson(v, c.type, named));
    } catch (e) {
      if (e instanceof OvsdbError) throw new OvsdbError(e.tag, `${table.name} column "${cname}": ${e.details}`);
      throw e;
    }
  }
  return out;
}

function requestedUuid(v: unknown): string {
  if (typeof v === 'string') {
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(v)) throw syntaxError(`"uuid" ${JSON.stringify(v)} is not a UUID`);
    return v.toLowerCase();
  }
  return datumFromJson(v, UUID_COLUMN_TYPE).keys[0] as string;
}

function withCols(row: Row, cols: Map<string, Datum>): Row {
  return { uuid: row.uuid, version: row.version, cols };
}

type OpFn = (ctx: OpContext, op: Record<string, unknown>) => unknown;

const OPS: Record<string, OpFn> = {
  insert(ctx, op) {
    const { txn } = ctx;
    const table = tableOf(txn, op);
    let uuid: string;
    // "uuid" (an OVS extension, used by restore and by ovs-vsctl --id=UUID) asks for a
    // particular row uuid; OVS clients send it as a bare string, restore as ["uuid", …].
    const wanted = op.uuid === undefined ? null : requestedUuid(op.uuid);
    if (wanted !== null && (txn.get(table.name, wanted) || anyTableHas(txn, wanted))) {
      throw new OvsdbError('duplicate uuid', `a row with uuid ${wanted} already exists`);
    }
    if (op['uuid-name'] !== undefined) {
      const name = op['uuid-name'];
      if (typeof name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw syntaxError('"uuid-name" must be an identifier');
      if (txn.declared.has(name)) throw new OvsdbError('duplicate uuid-name', `"${name}" was already declared by an insert in this transaction`);
      txn.declared.add(name);
      if (wanted !== null) {
        if (txn.symbols.has(name)) throw syntaxError(`"uuid-name" "${name}" was used before this insert that gives it a "uuid"`);
        txn.symbols.set(name, wanted);
      }
      uuid = txn.named(name);
    } else uuid = wanted ?? newUuid();
    const base = defaultRow(table, uuid);
    for (const [k, d] of parseRow(op.row, table, txn.named, false)) base.cols.set(k, d);
    txn.put(table.name, base);
    return { uuid: ['uuid', uuid] };
  },

  select(ctx, op) {
    const table = tableOf(ctx.txn, op);
    const conds = parseWhere(op.where, table, ctx.txn.named);
    const cols = columnsOf(table, op.columns, true);
    return { rows: ctx.txn.select(table.name, conds).map((r) => rowToJson(r, cols)) };
  },

  update(ctx, op) {
    const table = tableOf(ctx.txn, op);
    const conds = parseWhere(op.where, table, ctx.txn.named);
    const set = parseRow(op.row, table, ctx.txn.named, true);
    const rows = ctx.txn.select(table.name, conds);
    for (const r of rows) {
      const cols = new Map(r.cols);
      for (const [k, d] of set) cols.set(k, d);
      ctx.txn.put(table.name, withCols(r, cols));
    }
    return { count: rows.length };
  },

  mutate(ctx, op) {
    const table = tableOf(ctx.txn, op);
    const conds = parseWhere(op.where, table, ctx.txn.named);
    const muts = parseMutations(op.mutations, table, ctx.txn.named);
    const rows = ctx.txn.select(table.name, conds);
    for (const r of rows) {
      const cols = new Map(r.cols);
      for (const m of muts) {
        try {
          cols.set(m.column.name, applyMutation(cols.get(m.column.name)!, m));
        } catch (e) {
          if (e instanceof OvsdbError) throw new OvsdbError(e.tag, `${table.name} column "${m.column.name}": ${e.details}`);
          throw e;
        }
      }
      ctx.txn.put(table.name, withCols(r, cols));
    }
    return { count: rows.length };
  },

  delete(ctx, op) {
    const table = tableOf(ctx.txn, op);
    const conds = parseWhere(op.where, table, ctx.txn.named);
    const rows = ctx.txn.select(table.name, conds);
    for (const r of rows) ctx.txn.remove(table.name, r.uuid);
    return { count: rows.length };
  },

  wait(ctx, op) {
    const table = tableOf(ctx.txn, op);
    const conds = parseWhere(op.where, table, ctx.txn.named);
    const cols = columnsOf(table, op.columns, false);
    if (op.until !== '==' && op.until !== '!=') throw syntaxError('"until" must be "==" or "!="');
    if (!Array.isArray(op.rows)) throw syntaxError('"rows" must be an array of rows');
    const timeout = op.timeout;
    if (timeout !== undefined && (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 0)) {
      throw syntaxError('"timeout" must be a non-negative integer (ms)');
    }
    const project = (get: (c: string) => Datum) => JSON.stringify(cols.map((c) => datumKey(get(c.name))));
    const expected = new Set<string>();
    for (const rj of op.rows) {
      const parsed = parseRow(rj, table, ctx.txn.named, false);
      expected.add(
        project((c) => {
          const d = parsed.get(c);
          if (!d) throw syntaxError(`wait row lacks column "${c}"`);
          return d;
        }),
      );
    }
    const actual = new Set(ctx.txn.select(table.name, conds).map((r) => project((c) => rowGet(r, c))));
    const equal = actual.size === expected.size && [...actual].every((k) => expected.has(k));
    if (equal === (op.until === '==')) return {};
    const elapsed = ctx.opts.elapsedMs ?? 0;
    if (timeout === 0 || (timeout !== undefined && elapsed >= timeout)) {
      throw new OvsdbError('timed out', `"wait" condition on table "${table.name}" not met`);
    }
    const left = timeout === undefined ? Infinity : timeout - elapsed;
    ctx.blockedMs = Math.min(ctx.blockedMs ?? Infinity, left);
    return {};
  },

  commit(ctx, op) {
    if (typeof op.durable !== 'boolean') throw syntaxError('"commit" needs a boolean "durable"');
    ctx.durable ||= op.durable;
    return {};
  },

  abort() {
    throw new OvsdbError('aborted', 'aborted by request');
  },

  comment(ctx, op) {
    if (typeof op.comment !== 'string') throw syntaxError('"comment" needs a "comment" string');
    ctx.comments.push(op.comment);
    return {};
  },

  assert(ctx, op) {
    if (typeof op.lock !== 'string') throw syntaxError('"assert" needs a "lock" string');
    if (!ctx.opts.ownsLock?.(op.lock)) throw new OvsdbError('not owner', `this session does not own lock "${op.lock}"`);
    return {};
  },
};

function anyTableHas(txn: Txn, uuid: string): boolean {
  for (const t of txn.schema.tables.keys()) if (txn.get(t, uuid)) return true;
  return false;
}

function toErrorJson(e: unknown): { error: string; details: string } {
  if (e instanceof OvsdbError) return e.toJson();
  return { error: 'internal error', details: (e as Error)?.message ?? String(e) };
}

/** Runs `ops` against `db` without changing it. */
export function executeTransaction(db: Database, ops: unknown[], opts: TxnOptions = {}): TxnOutcome {
  const txn = new Txn(db);
  const ctx: OpContext = { txn, opts, durable: false, comments: [], blockedMs: null };
  const results: unknown[] = [];
  const fail = (): TxnOutcome => {
    while (results.length < ops.length) results.push(null);
    return { results, changes: null, blockedMs: null, durable: false, comments: ctx.comments };
  };
  for (const op of ops) {
    try {
      if (!isObj(op) || typeof op.op !== 'string') throw syntaxError('each operation must be an object with an "op" string');
      const fn = Object.hasOwn(OPS, op.op) ? OPS[op.op] : undefined;
      if (!fn) throw syntaxError(`unknown operation "${op.op}"`);
      results.push(fn(ctx, op));
    } catch (e) {
      results.push(toErrorJson(e));
      return fail();
    }
  }
  if (ctx.blockedMs !== null) return { results, changes: null, blockedMs: ctx.blockedMs, durable: false, comments: ctx.comments };
  try {
    for (const name of txn.symbols.keys()) {
      if (!txn.declared.has(name)) throw syntaxError(`named-uuid "${name}" is not the uuid-name of any insert in this transaction`);
    }
    if (txn.changes.size) checkCommit(txn);
  } catch (e) {
    results.push(toErrorJson(e));
    return { results, changes: null, blockedMs: null, durable: false, comments: ctx.comments };
  }
  const changes = txn.finish();
  return { results, changes: changes.size ? changes : null, blockedMs: null, durable: ctx.durable, comments: ctx.comments };
}
