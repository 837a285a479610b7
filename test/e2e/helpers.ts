/*
 * Shared helpers for the root-only end-to-end tests (namespaces, taps, daemons): the root check,
 * unique names for devices and namespaces, and shell runners that fail with the command's stderr.
 * Test code only; every test removes what it creates in afterAll/finally.
 */
import { execFileSync, execSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

/**
 * True when running as root. When not root: throws a clear error, unless
 * VSWITCH_SKIP_ROOT_TESTS=1, in which case it prints why and returns false so the caller can
 * skip: `const root = requireRoot(); describe.skipIf(!root)(...)`.
 */
export function requireRoot(what = 'end-to-end tests'): boolean {
  if (typeof process.getuid === 'function' && process.getuid() === 0) return true;
  if (process.env.VSWITCH_SKIP_ROOT_TESTS === '1') {
    console.warn(`skipping ${what}: they need root (VSWITCH_SKIP_ROOT_TESTS=1 is set)`);
    return false;
  }
  throw new Error(
    `${what} need root (network namespaces and tap devices); run them as root, ` +
      'or set VSWITCH_SKIP_ROOT_TESTS=1 to skip them',
  );
}

/** `prefix` plus a random suffix, at most 15 characters in all (a valid interface name).
 *  The prefix is cut to 9 characters to leave room for 6 random ones. */
export function uniqueName(prefix: string): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = randomBytes(6);
  let suffix = '';
  for (const b of bytes) suffix += alphabet[b % alphabet.length];
  return prefix.slice(0, 9) + suffix;
}

/** Error from a command that failed: the message has the command, exit status and stderr. */
export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly status: number | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(`command failed (exit ${status ?? 'signal'}): ${command}${stderr.trim() ? `\n${stderr.trim()}` : ''}`);
    this.name = 'CommandError';
  }
}

interface ExecFailure {
  status?: number | null;
  stdout?: string | Buffer;
  stderr?: string | Buffer;
}

function fail(command: string, err: unknown): never {
  const e = err as ExecFailure;
  throw new CommandError(command, e.status ?? null, String(e.stdout ?? ''), String(e.stderr ?? (err as Error).message ?? ''));
}

/** Runs `cmd` with /bin/sh; returns stdout. Throws CommandError (with stderr) on failure. */
export function sh(cmd: string, timeoutMs = 30_000): string {
  try {
    return execSync(cmd, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
  } catch (err) {
    fail(cmd, err);
  }
}

/** Runs a program without a shell; returns stdout. Throws CommandError (with stderr) on failure. */
export function run(file: string, args: string[], timeoutMs = 30_000): string {
  try {
    return execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
  } catch (err) {
    fail([file, ...args].join(' '), err);
  }
}

/** Runs `cmd` with /bin/sh inside network namespace `ns`; returns stdout. Throws CommandError. */
export function nsExec(ns: string, cmd: string, timeoutMs = 30_000): string {
  try {
    return execFileSync('ip', ['netns', 'exec', ns, 'sh', '-c', cmd], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: timeoutMs,
    });
  } catch (err) {
    fail(`ip netns exec ${ns} sh -c '${cmd}'`, err);
  }
}

/** Like sh() but for cleanup: never throws; returns whether the command succeeded. */
export function trySh(cmd: string): boolean {
  try {
    execSync(cmd, { stdio: 'ignore', timeout: 30_000 });
    return true;
  } catch {
    return false;
  }
}
