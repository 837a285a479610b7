/*
 * vsctl's conversation with vsdb: connect (with ovs-vsctl's "database connection failed"
 * wording), read the schema and a snapshot of every table, commit a transaction built from the
 * working model (bumping Open_vSwitch.next_cfg), and wait until vswitchd reports it applied
 * the change (cur_cfg >= next_cfg), then report interfaces it could not set up. Also waits
 * for the next change to the database (wait-until). Used by tools/vsctl.ts. Control path only.
 */
import { TransactError, VsdbClient, type TableUpdates } from '../../src/ovsdb/client.js';
import { parseSchema, type DbSchema } from '../../src/ovsdb/schema.js';
import { errnoText, ToolError, type ToolIo } from '../common.js';
import { DbModel, datumOf, modelUuid, type RowJson } from './model.js';

export const DB = 'Open_vSwitch';

/** How long vsctl waits for vswitchd before saying so (it keeps waiting). */
export const WAIT_WARNING_MS = 5000;

/** Connects to --db (unix:PATH or tcp:HOST:PORT). */
export async function connectDb(db: string, timeoutMs: number): Promise<VsdbClient> {
  if (!db.startsWith('unix:') && !db.startsWith('tcp:')) {
    throw new ToolError(`${db}: database connection failed (Address family not supported by protocol)`);
  }
  try {
    const client = await VsdbClient.connect(db, timeoutMs);
    client.requestTimeoutMs = 0;
    return client;
  } catch (e) {
    throw new ToolError(`${db}: database connection failed (${errnoText(e)})`);
  }
}

export async function fetchSchema(client: VsdbClient): Promise<DbSchema> {
  try {
    return parseSchema(await client.getSchema(DB));
  } catch (e) {
    throw new ToolError(`cannot read the ${DB} schema from the database: ${(e as Error).message}`);
  }
}

/** Reads every row of every table in one transaction (a consistent snapshot). */
export async function fetchModel(client: VsdbClient, schema: DbSchema): Promise<DbModel> {
  const names = [...schema.tables.keys()];
  const results = await client.transact(DB, names.map((table) => ({ op: 'select', table, where: [] })));
  const rows: Record<string, RowJson[]> = {};
  names.forEach((t, i) => (rows[t] = (results[i] as { rows: RowJson[] }).rows));
  return DbModel.fromRows(schema, rows);
}

export interface CommitResult {
  /** The next_cfg value this transaction set; wait for cur_cfg to reach it. */
  nextCfg: number;
  /** uuids of the Interface rows this transaction created. */
  newIfaces: string[];
  /** For each row created: the uuid the server gave it, by its uuid in the model. */
  inserted: Map<string, string>;
}

/** Thrown by commit() when a "wait" (verify) failed: someone changed the database meanwhile. */
export class TryAgain extends Error {}

/** Thrown by commit() when the server refused the transaction ("transaction error: {...}"). */
export class TransactionFailed extends ToolError {
  constructor(message: string) {
    super(message, 1, 'TRANSACTION');
    this.name = 'TransactionFailed';
  }
}

/**
 * Commits what the commands changed in `model`, with next_cfg += 1. Returns null when there
 * was nothing to change. Throws TryAgain if the database changed under us.
 */
export async function commit(client: VsdbClient, model: DbModel, comment: string): Promise<CommitResult | null> {
  if (!model.changed()) return null;
  const ovs = model.hasTable('Open_vSwitch') ? model.rows('Open_vSwitch')[0] : undefined;
  if (ovs && model.isNew(ovs.uuid)) model.set(ovs, 'next_cfg', datumOf(1));
  const ops: Record<string, unknown>[] = model.toOps();
  let selectAt = -1;
  if (ovs && !model.isNew(ovs.uuid)) {
    const where = [['_uuid', '==', ['uuid', ovs.uuid]]];
    ops.push({ op: 'mutate', table: 'Open_vSwitch', where, mutations: [['next_cfg', '+=', 1]] });
    selectAt = ops.push({ op: 'select', table: 'Open_vSwitch', where, columns: ['next_cfg'] }) - 1;
  }
  ops.push({ op: 'comment', comment });
  let results: any[];
  try {
    results = await client.transact(DB, ops);
  } catch (e) {
    if (e instanceof TransactError) {
      if (e.error === 'timed out' && ops[e.index]?.op === 'wait') throw new TryAgain();
      throw new TransactionFailed(`transaction error: ${errorJson(e)}`);
    }
    throw e;
  }
  const nextCfg = selectAt >= 0 ? Number(results[selectAt]?.rows?.[0]?.next_cfg ?? 0) : 1;
  const newIfaces: string[] = [];
  const inserted = new Map<string, string>();
  ops.forEach((op, i) => {
    if (op.op !== 'insert') return;
    const real = String(results[i]?.uuid?.[1]);
    inserted.set(modelUuid(String(op['uuid-name'])), real);
    if (op.table === 'Interface') newIfaces.push(real);
  });
  return { nextCfg, newIfaces, inserted };
}

/** The error of a failed transaction as ovs-vsctl prints it: its JSON, keys sorted. */
function errorJson(e: TransactError): string {
  const r = e.results[e.index] as Record<string, unknown>;
  const o: Record<string, unknown> = {};
  for (const k of Object.keys(r).sort()) o[k] = r[k];
  return JSON.stringify(o);
}

/**
 * Starts watching every table for changes: the returned function resolves at the next change
 * committed after this call (wait-until waits for it before looking again).
 */
export async function watchChanges(client: VsdbClient, schema: DbSchema): Promise<() => Promise<void>> {
  let changed = false;
  let wake: (() => void) | null = null;
  const requests: Record<string, { select: { initial: boolean } }> = {};
  for (const t of schema.tables.keys()) requests[t] = { select: { initial: false } };
  await client.monitor(DB, 'vsctl-changes', requests, () => {
    changed = true;
    wake?.();
  });
  return () =>
    new Promise<void>((resolve) => {
      if (changed) {
        changed = false;
        resolve();
        return;
      }
      wake = () => {
        wake = null;
        changed = false;
        resolve();
      };
    });
}

/** Resolves once Open_vSwitch.cur_cfg >= nextCfg; warns on stderr if that takes long. */
export function waitForApply(client: VsdbClient, nextCfg: number, io: ToolIo, warnMs = WAIT_WARNING_MS): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = false;
    const warn = setTimeout(() => io.err('vsctl: waiting for vswitchd to apply the change (is vswitchd running?)\n'), warnMs);
    const finish = (err?: Error): void => {
      if (done) return;
      done = true;
      clearTimeout(warn);
      if (err) reject(err);
      else resolve();
    };
    const check = (u: TableUpdates): void => {
      for (const row of Object.values(u.Open_vSwitch ?? {})) {
        const cur = row.new?.cur_cfg;
        if (typeof cur === 'number' && cur >= nextCfg) finish();
      }
    };
    client.onClose(() => finish(new ToolError('database connection closed while waiting for vswitchd to apply the change')));
    client.monitor(DB, 'vsctl-wait', { Open_vSwitch: { columns: ['cur_cfg'] } }, check).then(check, (e: Error) => finish(e));
  });
}

/** After vswitchd applied the change: the interfaces created here that it could not set up,
 * as ovs-vsctl reports them (it still exits 0). */
export async function reportIfaceErrors(client: VsdbClient, uuids: string[], io: ToolIo, logdir: string): Promise<void> {
  if (!uuids.length) return;
  const results = await client.transact(
    DB,
    uuids.map((u) => ({ op: 'select', table: 'Interface', where: [['_uuid', '==', ['uuid', u]]], columns: ['name', 'ofport', 'error'] })),
  );
  let any = false;
  for (const r of results) {
    const row = (r as { rows?: RowJson[] }).rows?.[0];
    if (!row) continue;
    const ofport = row.ofport;
    const hasPort = typeof ofport === 'number' && ofport !== -1;
    if (hasPort) continue;
    const error = typeof row.error === 'string' ? row.error : '';
    const name = String(row.name);
    io.err(
      error
        ? `vsctl: Error detected while setting up '${name}': ${error}.  See vswitchd log for details.\n`
        : `vsctl: Error detected while setting up '${name}'.  See vswitchd log for details.\n`,
    );
    any = true;
  }
  if (any) io.err(`vsctl: The default log directory is "${logdir}".\n`);
}
