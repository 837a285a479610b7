/*
 * What the command-line tools (vsctl, dpctl, appctl, ofctl) share: GNU-style option parsing
 * with getopt's error wording, errors that carry an exit status and print as "tool: message",
 * --version text, seconds parsing and errno texts for failed connections. Each tool's main()
 * runs inside runTool(), which turns a thrown ToolError into that message and exit status.
 * Control path only.
 */
import { readFileSync } from 'node:fs';
import { VswitchError } from '../src/lib/errors.js';

/** Where a tool writes; tests pass their own to capture output. */
export interface ToolIo {
  out(text: string): void;
  err(text: string): void;
}

export const stdio: ToolIo = {
  out: (t) => void process.stdout.write(t),
  err: (t) => void process.stderr.write(t),
};

/** Thrown when a tool must stop: printed as "tool: message" and the tool exits with `status`. */
export class ToolError extends VswitchError {
  readonly status: number;
  constructor(message: string, status = 1, code = 'TOOL') {
    super(code, message);
    this.name = 'ToolError';
    this.status = status;
  }
}

/** Exit status when --timeout expires: ovs-* tools die of SIGALRM, which a shell shows as 142. */
export const TIMEOUT_STATUS = 142;

/** Thrown to exit with `status` without printing anything (vsctl br-exists). */
export class ToolExit extends VswitchError {
  readonly status: number;
  constructor(status: number) {
    super('TOOL_EXIT', `exit ${status}`);
    this.name = 'ToolExit';
    this.status = status;
  }
}

/** Runs a tool's body: errors become "tool: message" on stderr and a non-zero status. */
export async function runTool(tool: string, io: ToolIo, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (e) {
    if (e instanceof ToolExit) return e.status;
    if (e instanceof ToolError) {
      io.err(`${tool}: ${e.message}\n`);
      return e.status;
    }
    const msg = e instanceof Error ? e.message : String(e);
    io.err(`${tool}: ${msg}\n`);
    if (!(e instanceof VswitchError) && e instanceof Error && process.env.VSWITCH_DEBUG) io.err(`${e.stack}\n`);
    return 1;
  }
}

// ---- Options --------------------------------------------------------------------------------

export interface OptSpec {
  /** Long name without dashes ("timeout"). */
  long: string;
  /** One-letter short form ("t"), if any. */
  short?: string;
  arg: 'none' | 'required' | 'optional';
}

export interface ParsedOpt {
  /** The spec's long name. */
  name: string;
  value: string | undefined;
  /** As written, for messages. */
  raw: string;
}

export interface ParsedArgs {
  opts: ParsedOpt[];
  /** Arguments from the first non-option on (a "--" that ended the options is dropped). */
  rest: string[];
}

/**
 * Parses options like getopt_long. By default (getopt's "+") it stops at the first non-option
 * or after "--"; with `permute` it collects non-options into `rest` and goes on, as plain
 * getopt_long does. Long options may be abbreviated to a unique prefix; values come as
 * --opt=V or --opt V (required only), -xV or -x V. Errors use getopt's wording.
 */
export function parseOptions(argv: readonly string[], specs: readonly OptSpec[], permute = false): ParsedArgs {
  const opts: ParsedOpt[] = [];
  const skipped: string[] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      i++;
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      const spec = findLong(specs, name, a);
      let value: string | undefined = eq < 0 ? undefined : a.slice(eq + 1);
      if (spec.arg === 'none' && value !== undefined) throw new ToolError(`option '--${spec.long}' doesn't allow an argument`);
      if (spec.arg === 'required' && value === undefined) {
        if (i + 1 >= argv.length) throw new ToolError(`option '--${spec.long}' requires an argument`);
        value = argv[++i];
      }
      opts.push({ name: spec.long, value, raw: a });
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        const spec = specs.find((s) => s.short === a[j]);
        if (!spec) throw new ToolError(`invalid option -- '${a[j]}'`);
        if (spec.arg === 'none') {
          opts.push({ name: spec.long, value: undefined, raw: `-${a[j]}` });
          continue;
        }
        let value: string | undefined = a.slice(j + 1) || undefined;
        if (value === undefined && spec.arg === 'required') {
          if (i + 1 >= argv.length) throw new ToolError(`option requires an argument -- '${a[j]}'`);
          value = argv[++i];
        }
        opts.push({ name: spec.long, value, raw: `-${a[j]}` });
        break;
      }
      continue;
    }
    if (!permute) break;
    skipped.push(a);
  }
  return { opts, rest: [...skipped, ...argv.slice(i)] };
}

function findLong(specs: readonly OptSpec[], name: string, raw: string): OptSpec {
  const exact = specs.find((s) => s.long === name);
  if (exact) return exact;
  const prefixed = name ? specs.filter((s) => s.long.startsWith(name)) : [];
  if (prefixed.length === 1) return prefixed[0];
  if (prefixed.length > 1) {
    throw new ToolError(`option '${raw.split('=')[0]}' is ambiguous; possibilities: ${prefixed.map((s) => `'--${s.long}'`).join(' ')}`);
  }
  throw new ToolError(`unrecognized option '${raw.split('=')[0]}'`);
}

/** Parses a --timeout value in seconds (0 = no limit), with OVS's complaint when invalid. */
export function parseSeconds(value: string | undefined, optNames = '-t or --timeout'): number {
  const n = value !== undefined && /^\s*\d+(\.\d+)?\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isFinite(n) || n < 0) throw new ToolError(`value ${value ?? ''} on ${optNames} is invalid`);
  return n;
}

// ---- Version and help -----------------------------------------------------------------------

let cachedVersion: string | null = null;

/** The package version from package.json (dist/tools/x.js and tools/x.ts both find it). */
export function packageVersion(): string {
  if (cachedVersion !== null) return cachedVersion;
  for (const rel of ['../../package.json', '../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'vswitch' && pkg.version) return (cachedVersion = pkg.version);
    } catch {
      /* try the next */
    }
  }
  return (cachedVersion = 'unknown');
}

/** "vsctl (vswitch) 0.1.0", like "ovs-vsctl (Open vSwitch) 3.1.0". */
export function versionLine(tool: string): string {
  return `${tool} (vswitch) ${packageVersion()}\n`;
}

// ---- Errors from sockets --------------------------------------------------------------------

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'No such file or directory',
  ECONNREFUSED: 'Connection refused',
  EACCES: 'Permission denied',
  EPERM: 'Operation not permitted',
  ENOTSOCK: 'Socket operation on non-socket',
  ETIMEDOUT: 'Connection timed out',
  ECONNRESET: 'Connection reset by peer',
  EPIPE: 'Broken pipe',
  ENOTDIR: 'Not a directory',
  EAFNOSUPPORT: 'Address family not supported by protocol',
  EADDRNOTAVAIL: 'Cannot assign requested address',
};

/** The errno code found on `e` or anywhere in its cause chain ("ENOENT"), or undefined. */
export function errnoCode(e: unknown): string | undefined {
  for (let cur: unknown = e, depth = 0; cur && depth < 8; depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

/** strerror()-like text for a failed connection: "No such file or directory". */
export function errnoText(e: unknown): string {
  const code = errnoCode(e);
  if (code) return ERRNO_TEXT[code] ?? code;
  if (e instanceof VswitchError && e.code === 'TIMEOUT') return 'Connection timed out';
  if (e instanceof VswitchError && e.code === 'CONNECT' && (e.cause as VswitchError | undefined)?.code === 'TIMEOUT') {
    return 'Connection timed out';
  }
  return e instanceof Error ? e.message : String(e);
}

/** Formats a command's argument-count complaint the way OVS's ctl tools do. */
export function checkArgCount(command: string, nArgs: number, min: number, max: number): void {
  if (nArgs < min) throw new ToolError(`'${command}' command requires at least ${min} arguments`);
  if (nArgs > max) throw new ToolError(`'${command}' command takes at most ${max} arguments`);
}
