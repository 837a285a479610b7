/*
 * Sub-fields: a field and a bit range, as load, move, output:FIELD and learn write them
 * ("NXM_NX_REG0[0..15]", "NXM_OF_ETH_SRC[]", "reg1", "NXM_NX_REG3[5]"). Parsing reports
 * ovs-ofctl's complaints as ValueError; formatting uses the field's NXM name. Control path.
 */
import { fieldByName, type FieldRef } from './fields.js';
import { ValueError } from './values.js';

/** Parses "NAME", "NAME[]", "NAME[N]" or "NAME[A..B]"; throws ValueError. */
export function parseFieldRef(s: string): FieldRef {
  const m = /^([A-Za-z0-9_]+)(?:\[(?:(\d+)(?:\.\.(\d+))?)?\])?$/.exec(s.trim());
  if (!m) throw new ValueError(`${s}: invalid field reference (expected FIELD[] or FIELD[START..END])`);
  const field = fieldByName(m[1]);
  if (field === undefined) throw new ValueError(`${m[1]}: unknown field`);
  if (!field.nxm) throw new ValueError(`${m[1]} cannot be used here (name the protocol's field, e.g. tcp_src or udp_src)`);
  let ofs = 0;
  let end = field.width - 1;
  if (m[2] !== undefined) {
    ofs = Number(m[2]);
    end = m[3] !== undefined ? Number(m[3]) : ofs;
  }
  if (end >= field.width) {
    throw new ValueError(`${s}: ending bit ${end} is not valid because field is only ${field.width} bits wide`);
  }
  if (ofs > end) throw new ValueError(`${s}: starting bit ${ofs} is after ending bit ${end}`);
  return { field, ofs, nbits: end - ofs + 1 };
}

/** Whether `s` looks like a field reference rather than a value. */
export function isFieldRef(s: string): boolean {
  const m = /^([A-Za-z0-9_]+)(\[[0-9.]*\])?$/.exec(s.trim());
  return m !== null && (m[2] !== undefined || fieldByName(m[1]) !== undefined) && !/^(0x[0-9a-f]+|[0-9]+)$/i.test(s.trim());
}

/** "NXM_NX_REG0[]", "NXM_NX_REG0[3]", "NXM_NX_REG0[0..15]". */
export function formatFieldRef(r: FieldRef): string {
  if (r.ofs === 0 && r.nbits === r.field.width) return `${r.field.nxm}[]`;
  if (r.nbits === 1) return `${r.field.nxm}[${r.ofs}]`;
  return `${r.field.nxm}[${r.ofs}..${r.ofs + r.nbits - 1}]`;
}

export function sameRef(a: FieldRef, b: FieldRef): boolean {
  return a.field.id === b.field.id && a.ofs === b.ofs && a.nbits === b.nbits;
}
