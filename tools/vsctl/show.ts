/*
 * `vsctl show`: the Open_vSwitch row's uuid, its Managers, then each Bridge with its
 * Controllers, fail_mode and datapath_type, its Ports and their Interfaces, indented four
 * spaces a level, as ovs-vsctl show prints them (a column only when it is not at its default,
 * so "is_connected: true" appears only when set); records are sorted by name. A pure function
 * of the working model. Control path only.
 */
import { defaultDatum, datumEquals, type Datum } from '../../src/ovsdb/datum.js';
import type { ColumnType } from '../../src/ovsdb/schema.js';
import { str, type DbModel, type MRow } from './model.js';
import { formatDatum, formatString } from './values.js';

/** Columns show prints for each table, in order, when they hold a non-default value. A
 * reference column listed here is shown as nested records instead. */
const SHOW_COLUMNS: Record<string, string[]> = {
  Open_vSwitch: ['manager_options', 'bridges', 'ovs_version'],
  Bridge: ['controller', 'fail_mode', 'datapath_type', 'ports'],
  Port: ['tag', 'trunks', 'interfaces'],
  Interface: ['type', 'options', 'error'],
  Controller: ['is_connected'],
  Manager: ['is_connected'],
};

/** The column that names a record in show output ("Bridge br0"). */
const SHOW_NAME: Record<string, string> = { Bridge: 'name', Port: 'name', Interface: 'name', Controller: 'target', Manager: 'target' };

function isDefault(d: Datum, type: ColumnType): boolean {
  return datumEquals(d, defaultDatum(type));
}

function showRow(m: DbModel, row: MRow, level: number, lines: string[]): void {
  const pad = '    '.repeat(level);
  const nameCol = SHOW_NAME[row.table.name];
  lines.push(nameCol ? `${pad}${row.table.name} ${formatString(str(row.cols.get(nameCol)))}` : `${pad}${row.uuid}`);
  for (const cname of SHOW_COLUMNS[row.table.name] ?? []) {
    const col = row.table.columns.get(cname);
    if (!col) continue;
    const refTable = col.type.key.refTable;
    if (refTable && !col.type.value && SHOW_COLUMNS[refTable]) {
      const children = m.refs(row, cname);
      const key = SHOW_NAME[refTable];
      if (key) children.sort((a, b) => cmp(str(a.cols.get(key)), str(b.cols.get(key))));
      for (const child of children) showRow(m, child, level + 1, lines);
      continue;
    }
    const d = m.get(row, cname);
    if (isDefault(d, col.type)) continue;
    lines.push(`${pad}    ${cname}: ${formatDatum(d, col.type)}`);
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** `vsctl show`: empty string if there is no Open_vSwitch row. */
export function showDb(m: DbModel): string {
  const root = m.hasTable('Open_vSwitch') ? m.rows('Open_vSwitch')[0] : undefined;
  if (!root) return '';
  const lines: string[] = [];
  showRow(m, root, 0, lines);
  return lines.join('\n');
}
