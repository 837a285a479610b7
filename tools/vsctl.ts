/*
 * vsctl: configures vswitch through its database, with ovs-vsctl's syntax, output and error
 * wording. One invocation = one transaction: read a snapshot of the database, run every
 * command of the "--" chain against a working copy (tools/vsctl/commands.ts), commit the
 * difference with next_cfg += 1, print the commands' output, then (unless --no-wait) wait
 * until vswitchd has applied it. Exports main(); bin/vsctl.js runs it.
 */
import { readFileSync } from 'node:fs';
import type { VsdbClient } from '../src/ovsdb/client.js';
import { paths } from '../src/lib/paths.js';
import { runTool, stdio, TIMEOUT_STATUS, ToolError, versionLine, type ToolIo } from './common.js';
import { runCommand } from './vsctl/commands.js';
import { parseVsctlArgs, vsctlHelp, type VsctlArgs } from './vsctl/parse.js';
import { commit, connectDb, fetchModel, fetchSchema, reportIfaceErrors, TryAgain, waitForApply } from './vsctl/session.js';

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
  try {
    const connectMs = args.timeout > 0 ? Math.min(5000, args.timeout * 1000) : 5000;
    const c = (client = await bounded(connectDb(args.db, connectMs)));
    const schema = await bounded(fetchSchema(c));
    for (let attempt = 1; ; attempt++) {
      const model = await bounded(fetchModel(c, schema));
      const outputs: string[][] = [];
      for (const cmd of args.commands) {
        const out: string[] = [];
        runCommand({ model, cmd, out });
        outputs.push(out);
      }
      let result = null;
      if (!args.dryRun) {
        try {
          result = await bounded(commit(c, model, `vsctl: ${['vsctl', ...argv].join(' ')}`));
        } catch (e) {
          if (e instanceof TryAgain && attempt < MAX_TRIES) continue;
          if (e instanceof TryAgain) throw new ToolError('the database kept changing while vsctl tried to commit; try again');
          throw e;
        }
      }
      for (const out of outputs) for (const line of out) io.out(`${line}\n`);
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
