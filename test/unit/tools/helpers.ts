/*
 * Shared by the tools tests: an io that captures what a tool prints, the shipped schema, a
 * vsctl working model built from rows, and running a vsctl command line against such a model
 * (no server: the output vsctl would print, and its warnings).
 */
import { readFileSync } from 'node:fs';
import { parseSchema, type DbSchema } from '../../../src/ovsdb/schema.js';
import { defaultSchemaPath } from '../../../src/ovsdb/main.js';
import type { ToolIo } from '../../../tools/common.js';
import { formatOutput, runChain } from '../../../tools/vsctl.js';
import { DbModel, type RowJson } from '../../../tools/vsctl/model.js';
import { parseVsctlArgs } from '../../../tools/vsctl/parse.js';

export interface Captured extends ToolIo {
  stdout: string;
  stderr: string;
}

export function capture(): Captured {
  const c: Captured = {
    stdout: '',
    stderr: '',
    out: (t) => void (c.stdout += t),
    err: (t) => void (c.stderr += t),
  };
  return c;
}

let schema: DbSchema | null = null;
export function vswitchSchema(): DbSchema {
  return (schema ??= parseSchema(JSON.parse(readFileSync(defaultSchemaPath(), 'utf8'))));
}

export const OVS_UUID = '11111111-2222-3333-4444-555555555555';

/** A model holding only the Open_vSwitch row (plus `rows`). */
export function model(rows: Record<string, RowJson[]> = {}): DbModel {
  return DbModel.fromRows(vswitchSchema(), {
    Open_vSwitch: [{ _uuid: ['uuid', OVS_UUID], bridges: ['set', []], next_cfg: 0, cur_cfg: 0 }],
    ...rows,
  });
}

/** Runs a vsctl command line against `m` (as with --dry-run); returns what vsctl would print
 * on stdout and the warnings it would log (module|message), or throws its error. */
export function vsctlRun(m: DbModel, ...argv: string[]): { stdout: string; warnings: string[] } {
  const args = parseVsctlArgs(argv, { VSWITCH_RUNDIR: '/tmp/none' });
  const warnings: string[] = [];
  const results = runChain(m, args, (mod, msg) => warnings.push(`${mod}|${msg}`));
  if (!results) return { stdout: '<wait-until: try again>', warnings };
  return { stdout: formatOutput(results, args.style, args.oneline), warnings };
}

/** The output lines of a vsctl command line run against `m` (see vsctlRun). */
export function vsctl(m: DbModel, ...argv: string[]): string[] {
  const { stdout } = vsctlRun(m, ...argv);
  return stdout === '' ? [] : stdout.replace(/\n$/, '').split('\n');
}
