/*
 * vswitchd's control socket (VSWITCH_RUNDIR/vswitchd.ctl), spoken to by `appctl` the way
 * ovs-appctl speaks to unixctl: a JSON-RPC request whose method is the command name and whose
 * params are string arguments; the result is the text to print, an error is a string. Owns the
 * command table and the generic commands (list-commands, version, exit, vlog/list, vlog/set);
 * the bridge commands are in bridge-commands.ts. Control path.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { JsonRpcServer, RpcError, type JsonRpcConnection } from '../lib/jsonrpc.js';
import type { Logger } from '../lib/log.js';

export type CommandFn = (args: string[]) => string | Promise<string>;

interface Command {
  usage: string;
  min: number;
  max: number;
  fn: CommandFn;
}

/** A command's failure: the text appctl prints (exit status 2, like ovs-appctl). */
export function commandError(text: string): RpcError {
  return new RpcError(text);
}

/** The version in the nearest package.json above this module (works from src/ and dist/). */
export function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      try {
        return String((JSON.parse(readFileSync(file, 'utf8')) as { version?: string }).version ?? 'unknown');
      } catch {
        return 'unknown';
      }
    }
    const up = dirname(dir);
    if (up === dir) return 'unknown';
    dir = up;
  }
}

const PINO_TO_OVS: Record<string, string> = {
  fatal: 'EMER', error: 'ERR', warn: 'WARN', info: 'INFO', debug: 'DBG', trace: 'DBG', silent: 'OFF',
};
const OVS_TO_PINO: Record<string, string> = {
  emer: 'fatal', err: 'error', warn: 'warn', info: 'info', dbg: 'debug', off: 'silent',
};
const DESTINATIONS = new Set(['console', 'syslog', 'file', 'any']);

export class Appctl {
  private readonly commands = new Map<string, Command>();
  private server: JsonRpcServer | null = null;
  private readonly log: Logger;

  /** `modules`: the loggers vlog/* lists and sets, by module name. */
  constructor(log: Logger, private readonly modules: Map<string, Logger>, onExit: () => void) {
    this.log = log;
    this.register('list-commands', '', 0, 0, () => this.listCommands());
    this.register('version', '', 0, 0, () => `vswitchd (vswitch) ${packageVersion()}`);
    this.register('exit', '', 0, 0, () => {
      setImmediate(onExit);
      return '';
    });
    this.register('vlog/list', '', 0, 0, () => this.vlogList());
    this.register('vlog/set', '{spec | PATTERN:destination:pattern}', 1, 64, (a) => this.vlogSet(a));
  }

  register(name: string, usage: string, min: number, max: number, fn: CommandFn): void {
    this.commands.set(name, { usage, min, max, fn });
  }

  /** Runs a command as the socket would (also used by tests). */
  async run(method: string, params: unknown[]): Promise<string> {
    const cmd = this.commands.get(method);
    if (!cmd) throw commandError(`"${method}" is not a valid command (use "list-commands" to see a list of valid commands)`);
    const args = params.map((p) => String(p));
    if (args.length < cmd.min) throw commandError(`"${method}" command requires at least ${cmd.min} arguments`);
    if (args.length > cmd.max) throw commandError(`"${method}" command takes at most ${cmd.max} arguments`);
    try {
      return await cmd.fn(args);
    } catch (e) {
      if (e instanceof RpcError) throw e;
      this.log.warn({ command: method, err: (e as Error).message }, 'appctl command failed');
      throw commandError((e as Error).message);
    }
  }

  async listen(path: string): Promise<void> {
    const server = new JsonRpcServer((conn: JsonRpcConnection) => {
      conn.onRequest((method, params) => this.run(method, params));
    }, { name: 'vswitchd.ctl', log: this.log });
    await server.listenUnix(path);
    this.server = server;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (s) await s.close();
  }

  private listCommands(): string {
    const names = [...this.commands.keys()].sort();
    let out = 'The available commands are:\n';
    for (const n of names) {
      const u = this.commands.get(n)!.usage;
      out += u ? `  ${n.padEnd(23)} ${u}\n` : `  ${n}\n`;
    }
    return out;
  }

  private vlogList(): string {
    let out = '                 level\n                 -----\n';
    for (const name of [...this.modules.keys()].sort()) {
      out += `${name.padEnd(16)}  ${PINO_TO_OVS[this.modules.get(name)!.level] ?? this.modules.get(name)!.level}\n`;
    }
    return out;
  }

  /** vlog/set SPEC...: each SPEC is words joined by ':' naming modules (or ANY), destinations
   * (accepted and ignored: there is one log) and a level (emer, err, warn, info, dbg, off). */
  private vlogSet(args: string[]): string {
    for (const spec of args) {
      let level: string | undefined;
      const mods: string[] = [];
      for (const raw of spec.split(':')) {
        const w = raw.toLowerCase();
        if (w === '') continue;
        if (OVS_TO_PINO[w]) level = OVS_TO_PINO[w];
        else if (w === 'any') mods.push(...this.modules.keys());
        else if (DESTINATIONS.has(w)) continue;
        else if (this.modules.has(raw)) mods.push(raw);
        else throw commandError(`"${raw}": unknown module, destination, or level`);
      }
      if (mods.length === 0) mods.push(...this.modules.keys());
      const lvl = level ?? 'debug';
      for (const m of mods) this.modules.get(m)!.level = lvl;
    }
    return '';
  }
}
