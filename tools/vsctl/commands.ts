/*
 * What each vsctl command does to the working model (model.ts), with ovs-vsctl's semantics
 * and error wording: bridges, ports and interfaces are found by following
 * Open_vSwitch.bridges -> Bridge.ports -> Port.interfaces; add-br creates Bridge + Port +
 * Interface (type internal) named after the bridge; del-br/del-port only drop references and
 * leave unreferenced rows to garbage collection. Output lines are collected per command and
 * printed by vsctl.ts after the commit. Called by tools/vsctl.ts. Control path only.
 */
import type { Datum } from '../../src/ovsdb/datum.js';
import type { ColumnSchema, TableSchema } from '../../src/ovsdb/schema.js';
import { ToolError, ToolExit } from '../common.js';
import { datumOf, mapWith, matchColumn, matchTable, setWith, setWithout, str, type DbModel, type MRow } from './model.js';
import type { ParsedCommand } from './parse.js';
import { formatRecord, showDb } from './show.js';
import { formatAtom, formatDatum, parseAtom, parseDatum, readToken } from './values.js';

export interface CommandContext {
  model: DbModel;
  cmd: ParsedCommand;
  /** Output of this command, printed after the transaction commits. */
  out: string[];
}

type Handler = (ctx: CommandContext) => void;

// ---- The bridge/port/interface view (ovs-vsctl's cache) -------------------------------------

interface PortInfo {
  port: MRow;
  bridge: MRow;
}

interface Topology {
  ovs: MRow | undefined;
  bridges: Map<string, MRow>;
  ports: Map<string, PortInfo>;
  ifaces: Map<string, PortInfo & { iface: MRow }>;
}

function topology(m: DbModel): Topology {
  const ovs = m.rows('Open_vSwitch')[0];
  const t: Topology = { ovs, bridges: new Map(), ports: new Map(), ifaces: new Map() };
  if (!ovs) return t;
  for (const bridge of m.refs(ovs, 'bridges')) {
    t.bridges.set(str(bridge.cols.get('name')), bridge);
    for (const port of m.refs(bridge, 'ports')) {
      t.ports.set(str(port.cols.get('name')), { port, bridge });
      for (const iface of m.refs(port, 'interfaces')) t.ifaces.set(str(iface.cols.get('name')), { port, bridge, iface });
    }
  }
  return t;
}

const nameOf = (r: MRow): string => str(r.cols.get('name'));

function ovsRow(m: DbModel): MRow {
  return m.rows('Open_vSwitch')[0] ?? m.insert('Open_vSwitch');
}

function findBridge(t: Topology, name: string): MRow {
  const br = t.bridges.get(name);
  if (!br) throw new ToolError(`no bridge named ${name}`);
  return br;
}

function checkConflicts(t: Topology, name: string, what: string): void {
  if (t.bridges.has(name)) throw new ToolError(`${what} because a bridge named ${name} already exists`);
  const p = t.ports.get(name);
  if (p) throw new ToolError(`${what} because a port named ${name} already exists on bridge ${nameOf(p.bridge)}`);
  const i = t.ifaces.get(name);
  if (i) throw new ToolError(`${what} because an interface named ${name} already exists on bridge ${nameOf(i.bridge)}`);
}

// ---- Records and columns (database commands) ------------------------------------------------

/** Finds a record by uuid, by name (tables with a "name" column) or as "." (single-row
 * tables). Returns undefined only if `mustExist` is false. */
export function findRecord(m: DbModel, table: TableSchema, id: string, mustExist: boolean): MRow | undefined {
  const rows = m.rows(table.name);
  let found: MRow[] = rows.filter((r) => r.uuid === id.toLowerCase());
  if (!found.length && id === '.' && (table.name === 'Open_vSwitch' || table.maxRows === 1)) found = rows.slice(0, 1);
  if (!found.length && table.columns.has('name')) {
    found = rows.filter((r) => {
      const d = r.cols.get('name')!;
      return d.keys.length === 1 && d.keys[0] === id;
    });
  }
  if (found.length > 1) throw new ToolError(`multiple rows in ${table.name} match "${id}"`);
  if (!found.length && mustExist) throw new ToolError(`no row "${id}" in table ${table.name}`);
  return found[0];
}

interface ColumnArg {
  column: ColumnSchema;
  key: string | undefined;
  value: string | undefined;
}

/** Parses COLUMN[:KEY][=VALUE] (ctl_parse_column_key_value). */
export function parseColumnArg(arg: string, table: TableSchema, wantValue: boolean): ColumnArg {
  const c = readToken(arg, 0);
  if (c.token === '') throw new ToolError(`${arg}: missing column name`);
  const column = matchColumn(table, c.token);
  let p = c.end;
  let key: string | undefined;
  if (arg[p] === ':') {
    const k = readToken(arg, p + 1);
    key = k.token;
    p = k.end;
  }
  if (!wantValue) {
    if (p < arg.length) throw new ToolError(`${arg}: trailing garbage "${arg.slice(p)}" in argument`);
    return { column, key, value: undefined };
  }
  if (arg[p] !== '=' || p + 1 >= arg.length) throw new ToolError(`${arg}: argument does not end in "=" followed by a value.`);
  return { column, key, value: arg.slice(p + 1) };
}

function checkWritable(table: TableSchema, column: ColumnSchema): void {
  if (column.name === '_uuid' || !column.mutable) throw new ToolError(`cannot modify read-only column ${column.name} in table ${table.name}`);
}

/** Applies one parsed COLUMN[:KEY]=VALUE to `row`. */
function setColumn(m: DbModel, row: MRow, ca: ColumnArg): void {
  const t = ca.column.type;
  if (ca.key !== undefined) {
    if (!t.value) throw new ToolError(`cannot specify key to set for non-map column ${ca.column.name}`);
    const key = parseAtom(ca.key, t.key);
    const value = parseAtom(ca.value!, t.value);
    m.set(row, ca.column.name, mapWith(m.get(row, ca.column.name), key, value));
  } else {
    m.set(row, ca.column.name, parseDatum(ca.value!, t));
  }
}

function parseSettings(table: TableSchema, args: string[]): ColumnArg[] {
  const parsed = args.map((a) => parseColumnArg(a, table, true));
  for (const ca of parsed) checkWritable(table, ca.column);
  return parsed;
}

const has = (ctx: CommandContext, opt: string): boolean => ctx.cmd.options.has(opt);

// ---- Commands -------------------------------------------------------------------------------

const HANDLERS: Record<string, Handler> = {
  init(ctx) {
    ovsRow(ctx.model);
  },

  show(ctx) {
    const text = showDb(ctx.model);
    if (text) ctx.out.push(text);
  },

  'add-br'(ctx) {
    const { model: m, cmd } = ctx;
    if (cmd.args.length !== 1 && cmd.args.length !== 3) throw new ToolError("'add-br' command takes exactly 1 or 3 arguments");
    const name = cmd.args[0];
    if (cmd.args.length === 3) throw new ToolError(`cannot create bridge ${name}: fake bridges (add-br BRIDGE PARENT VLAN) are not supported`);
    const t = topology(m);
    if (has(ctx, '--may-exist') && t.bridges.has(name)) return;
    checkConflicts(t, name, `cannot create a bridge named ${name}`);
    const iface = m.insert('Interface', { name: datumOf(name), type: datumOf('internal') });
    const port = m.insert('Port', { name: datumOf(name), interfaces: datumOf(iface.uuid) });
    const br = m.insert('Bridge', { name: datumOf(name), ports: datumOf(port.uuid) });
    const ovs = ovsRow(m);
    m.set(ovs, 'bridges', setWith(m.get(ovs, 'bridges'), br.uuid));
  },

  'del-br'(ctx) {
    const { model: m, cmd } = ctx;
    const t = topology(m);
    const br = t.bridges.get(cmd.args[0]);
    if (!br) {
      if (has(ctx, '--if-exists')) return;
      throw new ToolError(`no bridge named ${cmd.args[0]}`);
    }
    m.set(t.ovs!, 'bridges', setWithout(m.get(t.ovs!, 'bridges'), br.uuid));
  },

  'list-br'(ctx) {
    for (const n of [...topology(ctx.model).bridges.keys()].sort()) ctx.out.push(n);
  },

  'br-exists'(ctx) {
    if (!topology(ctx.model).bridges.has(ctx.cmd.args[0])) throw new ToolExit(2);
  },

  'list-ports'(ctx) {
    const { model: m } = ctx;
    const br = findBridge(topology(m), ctx.cmd.args[0]);
    const names = m.refs(br, 'ports').map(nameOf).filter((n) => n !== nameOf(br));
    for (const n of names.sort()) ctx.out.push(n);
  },

  'list-ifaces'(ctx) {
    const { model: m } = ctx;
    const br = findBridge(topology(m), ctx.cmd.args[0]);
    const names = m.refs(br, 'ports').flatMap((p) => m.refs(p, 'interfaces')).map(nameOf).filter((n) => n !== nameOf(br));
    for (const n of names.sort()) ctx.out.push(n);
  },

  'port-to-br'(ctx) {
    const p = topology(ctx.model).ports.get(ctx.cmd.args[0]);
    if (!p) throw new ToolError(`no port named ${ctx.cmd.args[0]}`);
    ctx.out.push(nameOf(p.bridge));
  },

  'iface-to-br'(ctx) {
    const i = topology(ctx.model).ifaces.get(ctx.cmd.args[0]);
    if (!i) throw new ToolError(`no interface named ${ctx.cmd.args[0]}`);
    ctx.out.push(nameOf(i.bridge));
  },

  'add-port'(ctx) {
    const { model: m, cmd } = ctx;
    const [brName, portName, ...settings] = cmd.args;
    const parsed = parseSettings(m.table('Port'), settings);
    const t = topology(m);
    if (has(ctx, '--may-exist')) {
      const p = t.ports.get(portName);
      if (p) {
        if (nameOf(p.bridge) !== brName) throw new ToolError(`"${cmd.text}" but ${portName} is actually attached to bridge ${nameOf(p.bridge)}`);
        const ifaces = m.refs(p.port, 'interfaces').map(nameOf).sort();
        if (ifaces.length !== 1 || ifaces[0] !== portName) {
          throw new ToolError(`"${cmd.text}" but ${portName} actually has interface(s) ${ifaces.join(', ')}`);
        }
        return;
      }
    }
    checkConflicts(t, portName, `cannot create a port named ${portName}`);
    const br = findBridge(t, brName);
    const iface = m.insert('Interface', { name: datumOf(portName) });
    const port = m.insert('Port', { name: datumOf(portName), interfaces: datumOf(iface.uuid) });
    for (const ca of parsed) setColumn(m, port, ca);
    m.set(br, 'ports', setWith(m.get(br, 'ports'), port.uuid));
  },

  'del-port'(ctx) {
    const { model: m, cmd } = ctx;
    const mustExist = !has(ctx, '--if-exists');
    const target = cmd.args[cmd.args.length - 1];
    const t = topology(m);
    let info: PortInfo | undefined;
    if (t.bridges.has(target)) {
      if (mustExist) {
        throw new ToolError(`cannot delete port ${target} because it is the local port for bridge ${target} (deleting this port requires deleting the entire bridge)`);
      }
      return;
    } else if (!has(ctx, '--with-iface')) {
      info = t.ports.get(target);
      if (!info && mustExist) throw new ToolError(`no port named ${target}`);
    } else {
      info = t.ports.get(target) ?? t.ifaces.get(target);
      if (!info && mustExist) throw new ToolError(`no port or interface named ${target}`);
    }
    if (!info) return;
    if (cmd.args.length === 2) {
      const br = findBridge(t, cmd.args[0]);
      if (br !== info.bridge) throw new ToolError(`bridge ${cmd.args[0]} does not have a port ${target}`);
    }
    m.set(info.bridge, 'ports', setWithout(m.get(info.bridge, 'ports'), info.port.uuid));
  },

  list(ctx) {
    const { model: m, cmd } = ctx;
    const table = matchTable(m.schema, cmd.args[0]);
    const colsOpt = cmd.options.get('--columns');
    const columns = colsOpt === undefined ? undefined : colsOpt.split(',').map((c) => matchColumn(table, c.trim()).name);
    let rows: MRow[];
    if (cmd.args.length > 1) {
      rows = cmd.args.slice(1).map((id) => findRecord(m, table, id, !has(ctx, '--if-exists'))).filter((r): r is MRow => !!r);
    } else rows = m.rows(table.name);
    ctx.out.push(rows.map((r) => formatRecord(m, r, columns)).join('\n\n'));
    if (!rows.length) ctx.out.pop();
  },

  get(ctx) {
    const { model: m, cmd } = ctx;
    const table = matchTable(m.schema, cmd.args[0]);
    const specs = cmd.args.slice(2).map((a) => parseColumnArg(a, table, false));
    const row = findRecord(m, table, cmd.args[1], !has(ctx, '--if-exists'));
    if (!row) return;
    for (const ca of specs) {
      if (ca.column.name === '_uuid') {
        ctx.out.push(row.uuid);
        continue;
      }
      const d = m.get(row, ca.column.name);
      const t = ca.column.type;
      if (ca.key === undefined) {
        ctx.out.push(formatDatum(d, t));
        continue;
      }
      if (!t.value) throw new ToolError(`cannot specify key to get for non-map column ${ca.column.name}`);
      const key = parseAtom(ca.key, t.key);
      const i = d.keys.indexOf(key);
      if (i < 0) {
        if (has(ctx, '--if-exists')) continue;
        throw new ToolError(`no key "${ca.key}" in ${table.name} record "${cmd.args[1]}" column ${ca.column.name}`);
      }
      ctx.out.push(formatAtom(d.values![i], t.value));
    }
  },

  set(ctx) {
    const { model: m, cmd } = ctx;
    const table = matchTable(m.schema, cmd.args[0]);
    const parsed = parseSettings(table, cmd.args.slice(2));
    const row = findRecord(m, table, cmd.args[1], !has(ctx, '--if-exists'));
    if (!row) return;
    for (const ca of parsed) setColumn(m, row, ca);
  },

  clear(ctx) {
    const { model: m, cmd } = ctx;
    const table = matchTable(m.schema, cmd.args[0]);
    const cols = cmd.args.slice(2).map((a) => matchColumn(table, a));
    for (const c of cols) checkWritable(table, c);
    const row = findRecord(m, table, cmd.args[1], !has(ctx, '--if-exists'));
    if (!row) return;
    for (const c of cols) {
      if (c.type.min > 0) {
        throw new ToolError(`"clear" operation cannot be applied to column ${c.name} of table ${table.name}, which is not allowed to be empty`);
      }
      const empty: Datum = { keys: [], values: c.type.value ? [] : null };
      m.set(row, c.name, empty);
    }
  },
};

/** Runs one command against the model; its output lines go to ctx.out. */
export function runCommand(ctx: CommandContext): void {
  const h = HANDLERS[ctx.cmd.name];
  if (!h) throw new ToolError(`unknown command '${ctx.cmd.name}'; use --help for help`);
  h(ctx);
  ctx.model.gc();
}
