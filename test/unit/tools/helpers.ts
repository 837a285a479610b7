/*
 * Shared by the tools tests: an io that captures what a tool prints, the shipped schema, and a
 * vsctl working model built from rows.
 */
import { readFileSync } from 'node:fs';
import { parseSchema, type DbSchema } from '../../../src/ovsdb/schema.js';
import { defaultSchemaPath } from '../../../src/ovsdb/main.js';
import type { ToolIo } from '../../../tools/common.js';
import { runCommand } from '../../../tools/vsctl/commands.js';
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

/** Runs a vsctl command line (without options that need a server) against `m`; returns the
 * output lines of every command. */
export function vsctl(m: DbModel, ...argv: string[]): string[] {
  const out: string[] = [];
  for (const cmd of parseVsctlArgs(argv, { VSWITCH_RUNDIR: '/tmp/none' }).commands) runCommand({ model: m, cmd, out });
  return out;
}
