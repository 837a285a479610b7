/*
 * Running commands for the benchmark: short ones synchronously (ip, vsctl), long ones (iperf3,
 * pktgen, daemons' tools) as child processes it tracks so an interrupt can kill them, and the
 * teardown registry that removes what each setup created, on success, failure or SIGINT.
 * Control path only; used by bench/run.ts, bench/topo-*.ts and bench/measure-*.ts.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { VswitchError } from '../src/lib/errors.js';

export interface CmdResult { status: number; stdout: string; stderr: string }

/** Thrown when a command the benchmark needs fails; the message has the command and its stderr. */
export class BenchCommandError extends VswitchError {
  constructor(cmd: string, args: readonly string[], r: CmdResult) {
    const lines = (r.stderr || r.stdout).trim().split('\n');
    const out = (lines.length <= 8 ? lines : [...lines.slice(0, 3), '...', ...lines.slice(-4)]).join('\n');
    super('BENCH_COMMAND', `'${[cmd, ...args].join(' ')}' exited with status ${r.status}${out ? `: ${out}` : ''}`);
    this.name = 'BenchCommandError';
  }
}

export interface RunOpts {
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** start()/runAsync(): standard output goes to this open file (as `> FILE`), not a pipe. */
  stdoutFd?: number;
}

/** Runs a short command and returns its status and output (never throws). */
export function run(cmd: string, args: readonly string[], opts: RunOpts = {}): CmdResult {
  const r = spawnSync(cmd, args, { env: opts.env ?? process.env, encoding: 'utf8', timeout: opts.timeoutMs ?? 60000 });
  const stderr = (r.stderr ?? '') + (r.error ? String(r.error.message) : '');
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr };
}

/** Runs a short command; throws BenchCommandError unless it exits 0; returns stdout. */
export function must(cmd: string, args: readonly string[], opts: RunOpts = {}): string {
  const r = run(cmd, args, opts);
  if (r.status !== 0) throw new BenchCommandError(cmd, args, r);
  return r.stdout;
}

/** `ip netns exec NS cmd args...` as an argument list. */
export function nsArgs(ns: string, cmd: string, args: readonly string[]): string[] {
  return ['netns', 'exec', ns, cmd, ...args];
}

/** Thrown at the next step after SIGINT/SIGTERM, so the run unwinds through its teardowns. */
export class BenchInterrupted extends VswitchError {
  constructor() {
    super('BENCH_INTERRUPTED', 'interrupted');
    this.name = 'BenchInterrupted';
  }
}

let interruptedFlag = false;

/** Marks the run as interrupted and kills the running children; checkpoint() then throws. */
export function interrupt(): void {
  interruptedFlag = true;
  killChildren();
}

export function isInterrupted(): boolean {
  return interruptedFlag;
}

/** Throws BenchInterrupted once the run has been interrupted; called between steps. */
export function checkpoint(): void {
  if (interruptedFlag) throw new BenchInterrupted();
}

const children = new Set<ChildProcess>();

/** Starts a long-running command; it is killed by killChildren() (interrupt, teardown). */
export function start(cmd: string, args: readonly string[], opts: RunOpts = {}): ChildProcess {
  checkpoint();
  const c = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ['ignore', opts.stdoutFd ?? 'pipe', 'pipe'] });
  children.add(c);
  c.once('exit', () => children.delete(c));
  c.once('error', () => children.delete(c));
  return c;
}

/** Runs a command to its end without blocking the event loop (signals stay deliverable). */
export function runAsync(cmd: string, args: readonly string[], opts: RunOpts = {}): Promise<CmdResult> {
  return new Promise((resolve) => {
    const c = start(cmd, args, opts);
    let stdout = '';
    let stderr = '';
    c.stdout?.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    c.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => { stderr += `\n(killed after ${opts.timeoutMs} ms)`; c.kill('SIGKILL'); }, opts.timeoutMs ?? 120000);
    c.once('error', (e) => { clearTimeout(timer); resolve({ status: -1, stdout, stderr: stderr + e.message }); });
    c.once('close', (code, sig) => { clearTimeout(timer); resolve({ status: code ?? (sig ? 128 : -1), stdout, stderr }); });
  });
}

/** Resolves with the first line of `c`'s stdout that satisfies `pred`, or rejects after `ms`
 *  or when `c` exits first. */
export function waitForLine(c: ChildProcess, pred: (line: string) => boolean, ms: number, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    let err = '';
    const done = (e: Error | null, line = ''): void => {
      clearTimeout(timer);
      c.stdout!.off('data', onData);
      c.off('exit', onExit);
      if (e) reject(e); else resolve(line);
    };
    const onData = (d: Buffer | string): void => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (pred(line)) { done(null, line); return; }
      }
    };
    const onExit = (code: number | null): void => done(new VswitchError('BENCH_COMMAND', `${what} exited (status ${code}) before it was ready${err ? `: ${err.trim()}` : ''}`));
    c.stderr?.on('data', (d: Buffer | string) => { err += d.toString(); });
    const timer = setTimeout(() => done(new VswitchError('BENCH_COMMAND', `${what} was not ready after ${ms} ms`)), ms);
    c.stdout!.on('data', onData);
    c.once('exit', onExit);
  });
}

/** Kills every tracked child still running (SIGKILL). */
export function killChildren(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

type Teardown = () => Promise<void> | void;
const teardowns: { label: string; fn: Teardown }[] = [];

/** Registers `fn` to undo something just created; runTeardowns() calls it once, newest first. */
export function onTeardown(label: string, fn: Teardown): void {
  teardowns.push({ label, fn });
}

/** Runs and forgets every registered teardown, newest first; reports failures, never throws. */
export async function runTeardowns(): Promise<void> {
  killChildren();
  while (teardowns.length) {
    const t = teardowns.pop()!;
    try {
      await t.fn();
    } catch (e) {
      process.stderr.write(`bench: cleaning up ${t.label} failed: ${(e as Error).message}\n`);
    }
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
