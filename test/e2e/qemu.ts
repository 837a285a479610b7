/*
 * QEMU test guests for the end-to-end tests: builds the tiny guest (scripts/build-guest.sh: Debian's
 * cloud kernel and a busybox initramfs) and boots it with one virtio-net NIC on a netdev the caller
 * chooses (a tap with vswitch-ifup/-ifdown, a stream socket, ...). The guest's /init reads its
 * address and test steps from the kernel command line and prints "VSGUEST: ..." markers on the
 * serial console, which Guest captures line by line (waitFor). Owns the QEMU processes it starts:
 * stop() ends each by PID, stopAllGuests() ends every one still running, and so does process exit.
 *
 * Acceleration: TCG by default (a boot takes about 3-4 s). KVM on the CI machines is nested and
 * hangs mid-boot, so it is used only when VSWITCH_QEMU_ACCEL=kvm asks for it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');

/** The scripts QEMU runs for a tap netdev (script=, downscript=). */
export const IFUP = join(root, 'scripts', 'vswitch-ifup');
export const IFDOWN = join(root, 'scripts', 'vswitch-ifdown');

export interface GuestImage { kernel: string; initrd: string }

/** Thrown when the guest image cannot be built (apt cannot download, a tool is missing, ...). */
export class GuestBuildError extends Error {
  override readonly name = 'GuestBuildError';
}

/**
 * Builds the guest image into `outDir` (default .cache/guest/) unless it is up to date there, and
 * returns its files. Throws GuestBuildError with the script's output when it fails.
 */
export function buildGuestImage(outDir = join(root, 'build', 'guest'), timeoutMs = 300_000): GuestImage {
  const r = spawnSync('bash', [join(root, 'scripts', 'build-guest.sh'), '--out', outDir], { encoding: 'utf8', timeout: timeoutMs });
  if (r.status !== 0) {
    const why = r.error ? r.error.message : `exit ${r.status ?? r.signal}`;
    throw new GuestBuildError(`could not build the test guest (scripts/build-guest.sh: ${why}):\n${r.stderr}${r.stdout}`);
  }
  return { kernel: join(outDir, 'vmlinuz'), initrd: join(outDir, 'initrd.gz') };
}

export type QemuAccel = 'tcg' | 'kvm';

/** The accelerator to use: VSWITCH_QEMU_ACCEL (tcg or kvm), default tcg. */
export function qemuAccel(env: NodeJS.ProcessEnv = process.env): QemuAccel {
  const v = env.VSWITCH_QEMU_ACCEL ?? 'tcg';
  if (v !== 'tcg' && v !== 'kvm') throw new Error(`VSWITCH_QEMU_ACCEL must be tcg or kvm, not '${v}'`);
  return v;
}

export const QEMU = 'qemu-system-x86_64';

/** Throws a clear error unless qemu-system-x86_64 runs (Debian package qemu-system-x86). */
export function requireQemu(): void {
  const r = spawnSync(QEMU, ['--version'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${QEMU} is needed for the QEMU tests: apt-get install qemu-system-x86 (scripts/setup.sh)`);
}

/** A tap netdev QEMU creates, running the vswitch scripts (or others) when it opens and closes it. */
export function tapNetdev(ifname: string, script = IFUP, downscript = IFDOWN): string {
  return `tap,ifname=${ifname},script=${script},downscript=${downscript}`;
}

/** A stream netdev on a Unix socket: QEMU listens (server) or connects to `path`. */
export function streamNetdev(path: string, server: boolean): string {
  return `stream,server=${server ? 'on' : 'off'},addr.type=unix,addr.path=${path}`;
}

/** Test steps for the guest's vs.test= (see the /init in scripts/build-guest.sh). */
export const step = {
  /** Retry until a reply: "VSGUEST: ping IP ok" or, after `secs`, "... fail". */
  ping: (ip: string, secs = 30): string => `ping:${ip}:${secs}`,
  /** Background TCP receiver: "VSGUEST: listening PORT", then "VSGUEST: recv PORT bytes=N sha256=HEX". */
  recv: (port: number): string => `recv:${port}`,
  /** `bytes` random bytes to ip:port: "VSGUEST: send IP:PORT bytes=N sha256=HEX ok|fail". */
  send: (ip: string, port: number, bytes: number, secs = 30): string => `send:${ip}:${port}:${bytes}:${secs}`,
  sleep: (secs: number): string => `sleep:${secs}`,
  /** Waits for background receivers. */
  wait: 'wait',
  /** Keeps the guest running (answering pings) until it is stopped: "VSGUEST: stay". */
  stay: 'stay',
  /** Runs a shell script in the guest: "VSGUEST: sh rc=N". */
  sh: (script: string): string => `sh:${Buffer.from(script).toString('base64')}`,
};

/** The parts of a "recv"/"send" marker line. */
export function parseTransfer(line: string): { bytes: number; sha256: string } {
  const m = /bytes=(\d+) sha256=([0-9a-f]{64})/.exec(line);
  if (!m) throw new Error(`not a transfer marker: ${line}`);
  return { bytes: Number(m[1]), sha256: m[2]! };
}

export interface GuestOptions {
  image: GuestImage;
  /** The -netdev backend without id, e.g. tapNetdev('vm1') or streamNetdev(path, false). */
  netdev: string;
  /** Address with prefix length, e.g. '10.0.0.1/24'. */
  ip: string;
  /** The NIC's MAC; default a random 52:54:00:xx:xx:xx. */
  mac?: string;
  /** Put the address on eth0.VLAN (a tagged subinterface) instead of eth0. */
  vlan?: number;
  steps?: string[];
  /** Name for -name and messages; default unique. */
  name?: string;
  memoryMb?: number;
  /** QEMU's environment, which tap scripts see (VSWITCH_BRIDGE, VSWITCH_RUNDIR). */
  env?: NodeJS.ProcessEnv;
  /** Run QEMU as this user and group id (e.g. an unprivileged VM on a stream socket). */
  uid?: number;
  gid?: number;
}

const live = new Set<Guest>();
let exitHook = false;

// Terminal control sequences from the firmware (SeaBIOS clears the screen).
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]|\x1bc/g;
/** How every marker line of the guest's /init begins. */
export const MARK = 'VSGUEST: ';

/** One QEMU guest. Start with Guest.start(); always stop() it (or stopAllGuests()) in finally. */
export class Guest {
  readonly name: string;
  readonly mac: string;
  readonly pid: number;
  /** Console lines so far, without control sequences and carriage returns. */
  readonly lines: string[] = [];
  private stderr = '';
  private partial = '';
  private exitCode: number | null | undefined = undefined;
  private readonly waiters = new Set<() => void>();
  private readonly exitedPromise: Promise<number | null>;

  private constructor(child: ChildProcess, name: string, mac: string) {
    this.name = name;
    this.mac = mac;
    this.pid = child.pid!;
    child.stdout!.setEncoding('utf8');
    child.stderr!.setEncoding('utf8');
    child.stdout!.on('data', (s: string) => this.onOutput(s));
    child.stderr!.on('data', (s: string) => { this.stderr += s; });
    this.exitedPromise = new Promise((res) => {
      child.on('close', (code, signal) => {
        if (this.partial) this.pushLine(this.partial);
        this.partial = '';
        this.exitCode = code ?? (signal ? null : -1);
        live.delete(this);
        this.wake();
        res(this.exitCode);
      });
    });
  }

  /** Boots a guest; throws at once if QEMU cannot be spawned. */
  static start(o: GuestOptions): Guest {
    const name = o.name ?? `vsg-${randomBytes(3).toString('hex')}`;
    const mac = o.mac ?? `52:54:00:${[0, 1, 2].map(() => randomBytes(1).toString('hex')).join(':')}`;
    const append = ['console=ttyS0', 'quiet', 'panic=-1', `vs.ip=${o.ip}`, `vs.mac=${mac}`];
    if (o.vlan !== undefined) append.push(`vs.vlan=${o.vlan}`);
    if (o.steps && o.steps.length > 0) append.push(`vs.test=${o.steps.join(',')}`);
    const accel = qemuAccel();
    const args = [
      '-name', name, '-accel', accel, ...(accel === 'kvm' ? ['-cpu', 'host'] : []),
      '-m', String(o.memoryMb ?? 256), '-nographic', '-nodefaults', '-serial', 'stdio', '-no-reboot',
      '-kernel', o.image.kernel, '-initrd', o.image.initrd, '-append', append.join(' '),
      '-netdev', `${o.netdev},id=n0`,
      // romfile= : no iPXE option ROM, the guest boots its kernel directly.
      '-device', `virtio-net-pci,netdev=n0,mac=${mac},romfile=`,
    ];
    const child = spawn(QEMU, args, { env: o.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], uid: o.uid, gid: o.gid });
    if (child.pid === undefined) throw new Error(`could not start ${QEMU} for guest ${name}`);
    const g = new Guest(child, name, mac);
    live.add(g);
    if (!exitHook) {
      exitHook = true;
      process.on('exit', () => { for (const x of live) x.killNow(); });
    }
    return g;
  }

  get running(): boolean { return this.exitCode === undefined; }

  /** Resolves with QEMU's exit status (null when killed by a signal). */
  exited(): Promise<number | null> { return this.exitedPromise; }

  /** The console so far plus QEMU's stderr: for failure messages. */
  output(lastLines = 40): string {
    const con = this.lines.slice(-lastLines).join('\n');
    return `--- guest ${this.name} console (last ${lastLines} lines)\n${con}\n` +
      (this.stderr.trim() ? `--- ${QEMU} stderr\n${this.stderr.trim()}\n` : '');
  }

  /**
   * Resolves with the match of the first console line (seen so far or later) matching `re`.
   * Rejects, with the console's tail, on timeout or when QEMU exits first.
   */
  waitFor(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    return new Promise((res, rej) => {
      let timer: NodeJS.Timeout | undefined;
      const check = (): void => {
        for (const l of this.lines) {
          const m = l.match(re);
          if (m) { done(); res(m); return; }
        }
        if (!this.running) {
          done();
          rej(new Error(`guest ${this.name} exited (status ${this.exitCode}) before printing ${re}\n${this.output()}`));
        }
      };
      const done = (): void => { this.waiters.delete(check); if (timer) clearTimeout(timer); };
      timer = setTimeout(() => {
        done();
        rej(new Error(`guest ${this.name}: no line matching ${re} within ${timeoutMs} ms\n${this.output()}`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  /**
   * Ends QEMU: SIGTERM first, so it closes its netdev and runs a tap's downscript, then SIGKILL
   * by PID if it is still there after `graceMs`. Resolves once it is gone.
   */
  async stop(graceMs = 5000): Promise<void> {
    if (!this.running) return;
    try { process.kill(this.pid, 'SIGTERM'); } catch { /* already gone */ }
    const t = setTimeout(() => this.killNow(), graceMs);
    await this.exitedPromise;
    clearTimeout(t);
  }

  /** SIGKILL by PID, synchronously: for process exit. */
  killNow(): void {
    if (!this.running) return;
    try { process.kill(this.pid, 'SIGKILL'); } catch { /* already gone */ }
  }

  private onOutput(s: string): void {
    const parts = (this.partial + s).split('\n');
    this.partial = parts.pop() ?? '';
    for (const p of parts) this.pushLine(p);
    if (parts.length > 0) this.wake();
  }

  private pushLine(raw: string): void {
    const line = raw.replace(ANSI, '').replace(/\r/g, '');
    // A marker glued to earlier output (firmware text without a newline) starts its own line.
    const at = line.indexOf(MARK, 1);
    if (at > 0) {
      this.lines.push(line.slice(0, at));
      this.lines.push(line.slice(at));
    } else {
      this.lines.push(line);
    }
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }
}

/** Stops every guest still running (for afterAll and finally blocks). */
export async function stopAllGuests(): Promise<void> {
  await Promise.all([...live].map((g) => g.stop()));
}
