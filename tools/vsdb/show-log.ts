/*
 * vsdb-tool show-log: prints a database file's records as ovsdb-tool show-log does: one line per
 * record (date and comment), with -m the rows each touches, with -m -m their column values.
 * Reads the file without changing it; a damaged tail is reported, not repaired. Control path.
 */
import { decodeRecords } from '../../src/ovsdb/log-record.js';
import { parseSchema, type DbSchema } from '../../src/ovsdb/schema.js';
import { datumFromJson } from '../../src/ovsdb/datum.js';
import { datumToString } from './format.js';

function date(ms: unknown): string {
  if (typeof ms !== 'number') return '';
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
}

export function showLog(buf: Buffer, more: number): string {
  const log = decodeRecords(buf);
  let out = '';
  let schema: DbSchema | null = null;
  const names = new Map<string, string>();
  log.records.forEach((rec, i) => {
    const r = rec as Record<string, unknown>;
    if (i === 0) {
      try {
        schema = parseSchema(rec);
        out += `record 0: "${schema.name}" schema, version="${schema.version}"\n`;
      } catch (e) {
        out += `record 0: invalid schema (${(e as Error).message})\n`;
      }
      return;
    }
    out += `${i > 0 ? '\n' : ''}record ${i}: ${date(r._date)}${typeof r._comment === 'string' ? ` ${JSON.stringify(r._comment)}` : ''}${r._compacted ? ' (compacted snapshot)' : ''}\n`;
    if (!more || !schema) return;
    for (const [tname, rows] of Object.entries(r)) {
      if (tname.startsWith('_') || !rows || typeof rows !== 'object') continue;
      const ts = schema.tables.get(tname);
      for (const [uuid, row] of Object.entries(rows as Record<string, unknown>)) {
        const short = uuid.slice(0, 8);
        const cols = row as Record<string, unknown> | null;
        if (cols && typeof cols.name === 'string') names.set(uuid, cols.name);
        const label = names.has(uuid) ? JSON.stringify(names.get(uuid)) : short;
        const existed = names.has(`seen:${uuid}`);
        names.set(`seen:${uuid}`, '');
        if (cols === null) {
          out += `  table ${tname} row ${label} (${short}) deleted\n`;
          continue;
        }
        out += existed ? `  table ${tname} row ${label} (${short}) diff:\n` : `  table ${tname} insert row ${label} (${short}):\n`;
        if (more < 2 || !ts) continue;
        for (const [cname, v] of Object.entries(cols)) {
          const c = ts.columns.get(cname);
          let text: string;
          try {
            text = c ? datumToString(datumFromJson(v, c.type), c.type) : JSON.stringify(v);
          } catch {
            text = JSON.stringify(v);
          }
          out += `    ${cname}=${text}\n`;
        }
      }
    }
  });
  if (log.error) out += `\n${log.error}; ${buf.length - log.goodBytes} bytes would be dropped on the next open\n`;
  return out;
}
