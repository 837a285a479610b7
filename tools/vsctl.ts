/*
 * vsctl: configures vswitch through its database, with ovs-vsctl's syntax, output and wording.
 * One invocation = one transaction: run the "--" chain against a snapshot (vsctl/commands.ts),
 * check the "@name" row ids, commit with next_cfg += 1, print the output (list/find as tables
 * in --format), then unless --no-wait wait until vswitchd applied it. A wait-until not yet
 * true reruns the chain after the next change. bin/vsctl.js runs main(). Control path.
 */
import { readFileSync } from 'node:fs';
import type { VsdbClient } from '../src/ovsdb/client.js';
import type { DbSchema } from '../src/ovsdb/schema.js';
import { paths } from '../src/lib/paths.js';
import { runTool, stdio, TIMEOUT_STATUS, ToolError, versionLine, type ToolIo } from './common.js';
import { runCommand } from './vsctl/commands.js';
import { newContext, type CommandContext } from './vsctl/context.js';
import type { DbModel } from './vsctl/model.js';
import { parseVsctlArgs, vsctlHelp, type VsctlArgs } from './vsctl/parse.js';
import { commit, connectDb, fetchModel, fetchSchema, reportIfaceErrors, TransactionFailed, TryAgain, waitForApply, watchChanges, type CommitResult } from './vsctl/session.js';
import { SymbolTable } from './vsctl/symbols.js';
import { tablePrinter, type TableStyle } from './vsctl/table.js';

/** How many times a transaction is retried when the database changed under it. */
const MAX_TRIES = 20;

function schemaVersion(): string | null {
  for (const rel of ['../../src/ovsdb/vswitch.ovsschema', '../src/ovsdb/vswitch.ovsschema']) {
    try {
      return String(JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')).version);
    } catch {
      /* try the next */
    }
  }
  return null;
}

export async function main(argv: string[], io: ToolIo = stdio, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return runTool('vsctl', io, async () => {
    const args = parseVsctlArgs(argv, env);
    if (args.help) {
      io.out(vsctlHelp(env));
      return 0;
    }
    if (args.version) {
      const v = schemaVersion();
      io.out(versionLine('vsctl') + (v ? `DB Schema ${v}\n` : ''));
      return 0;
    }
    return run(args, argv, io, env);
  });
}

/** Prints warnings as ovs-vsctl's log does on stderr: "time|seq|module|WARN|message". When it
 * may write, ovs-vsctl first logs "Called as ..." (to syslog only), so its warnings there are
 * numbered from 00002; they are numbered the same way here. */
function warner(io: ToolIo, mayWrite: boolean): (module: string, message: string) => void {
  let seq = mayWrite ? 1 : 0;
  const seen = new Set<string>();
  return (module, message) => {
    if (seen.has(message)) return; // once, even when the chain runs again
    seen.add(message);
    const time = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    io.err(`${time}|${String(++seq).padStart(5, '0')}|${module}|WARN|${message}\n`);
  };
}

/** One pass of the whole chain against `model`. Returns null if a wait-until must wait. */
export function runChain(model: DbModel, args: VsctlArgs, warn: (module: string, message: string) => void): CommandContext[] | null {
  const symbols = new SymbolTable();
  const done: CommandContext[] = [];
  for (const cmd of args.commands) {
    const ctx = newContext(model, cmd, symbols, warn);
    runCommand(ctx);
    if (ctx.tryAgain) return null;
    done.push(ctx);
  }
  for (const w of symbols.check()) warn('vsctl', w);
  return done;
}

/** What the commands print, in order: lines, or tables in `style` (--oneline: one line each). */
export function formatOutput(results: CommandContext[], style: TableStyle, oneline: boolean, inserted?: Map<string, string>): string {
  const printTable = tablePrinter(style);
  let s = '';
  for (const r of results) {
    if (r.createdUuid && inserted?.has(r.createdUuid)) r.out = [inserted.get(r.createdUuid)!];
    if (r.table) s += printTable(r.table);
    else if (oneline) s += `${r.out.join('\n').replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n`;
    else for (const line of r.out) s += `${line}\n`;
  }
  return s;
}

async function run(args: VsctlArgs, argv: string[], io: ToolIo, env: NodeJS.ProcessEnv): Promise<number> {
  let phase = '';
  let client: VsdbClient | null = null;
  let timer: NodeJS.Timeout | null = null;
  const expired = new Promise<never>((_, reject) => {
    if (args.timeout > 0) {
      timer = setTimeout(() => {
        reject(new ToolError(`timed out after ${args.timeout} seconds${phase}`, TIMEOUT_STATUS));
      }, args.timeout * 1000);
    }
  });
  expired.catch(() => undefined);
  const bounded = <T>(p: Promise<T>): Promise<T> => Promise.race([p, expired]);
  const warn = warner(io, args.commands.some((c) => c.syntax.rw));
  try {
    const connectMs = args.timeout > 0 ? Math.min(5000, args.timeout * 1000) : 5000;
    const c = (client = await bounded(connectDb(args.db, connectMs)));
    const schema: DbSchema = await bounded(fetchSchema(c));
    let nextChange: (() => Promise<void>) | null = null;
    let conflicts = 0;
    for (;;) {
      const model = await bounded(fetchModel(c, schema));
      const results = runChain(model, args, warn);
      if (!results) {
        // wait-until: look again after the next change (the first time at once, since the
        // database may have changed before we started watching).
        phase = ' waiting for the wait-until condition';
        if (nextChange) await bounded(nextChange());
        else nextChange = await bounded(watchChanges(c, schema));
        continue;
      }
      phase = '';
      let result: CommitResult | null = null;
      if (!args.dryRun) {
        try {
          result = await bounded(commit(c, model, `vsctl: ${['vsctl', ...argv].join(' ')}`));
        } catch (e) {
          if (e instanceof TryAgain && ++conflicts < MAX_TRIES) continue;
          if (e instanceof TryAgain) throw new ToolError('the database kept changing while vsctl tried to commit; try again');
          if (e instanceof TransactionFailed) warn('ovsdb_idl', e.message); // ovs-vsctl logs it, then exits with it
          throw e;
        }
      }
      io.out(formatOutput(results, args.style, args.oneline, result?.inserted));
      if (result && !args.noWait) {
        phase = ' waiting for vswitchd to apply the change (the database was updated; is vswitchd running?)';
        await bounded(waitForApply(c, result.nextCfg, io));
        phase = '';
        await bounded(reportIfaceErrors(c, result.newIfaces, io, paths(env).logdir));
      }
      return 0;
    }
  } finally {
    if (timer) clearTimeout(timer);
    (client as VsdbClient | null)?.close();
  }
}
