/*
 * What a vsctl command runs with: the working model, its parsed command line, the row ids of
 * the invocation, and where its results go (output lines, or a table for list/find, printed
 * by tools/vsctl.ts after the commit). Shared by the command modules. Control path only.
 */
import type { DbModel } from './model.js';
import type { ParsedCommand } from './parse.js';
import type { SymbolTable } from './symbols.js';
import type { OutTable } from './table.js';

export interface CommandContext {
  model: DbModel;
  cmd: ParsedCommand;
  /** Output lines of this command, printed after the transaction commits. */
  out: string[];
  /** list and find: the records to print, in the chosen --format. */
  table: OutTable | null;
  symbols: SymbolTable;
  /** A warning, printed at once on stderr as ovs-vsctl logs it ("...|vsctl|WARN|..."). */
  warn(module: string, message: string): void;
  /** Set by wait-until while its condition does not hold: run again after the next change. */
  tryAgain: boolean;
  /** create: the uuid it printed, replaced by the server's after the commit. */
  createdUuid: string | null;
}

export type Handler = (ctx: CommandContext) => void;

/** True if the command was given option `opt` ("--if-exists"). */
export const has = (ctx: CommandContext, opt: string): boolean => ctx.cmd.options.has(opt);

/** A context with fresh results for `cmd` (tests and tools/vsctl.ts). */
export function newContext(
  model: DbModel,
  cmd: ParsedCommand,
  symbols: SymbolTable,
  warn: (module: string, message: string) => void = () => undefined,
): CommandContext {
  return { model, cmd, out: [], table: null, symbols, warn, tryAgain: false, createdUuid: null };
}
