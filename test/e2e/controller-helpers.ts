/*
 * Helpers for the controller end-to-end tests (controller*.test.ts): vscontroller as a real
 * process on loopback with its REST API, and reading that API and /metrics.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { Instance, sleep, type Host } from './instance.js';

const BIN = resolve(import.meta.dirname, '../../bin/vscontroller.js');

export interface Ctl {
  child: ChildProcess;
  port: number;
  rest: string;
  log: () => string;
  stop(): Promise<void>;
}

/** A started instance with bridge `<letter><instance id>` and three hosts at NET.1, .2, .3. */
export function bridgeWithHosts(letter: string, net: string, failMode?: 'secure'): { vs: Instance; br: string; hosts: [Host, Host, Host] } {
  const vs = new Instance();
  vs.ok('vswitch', 'start');
  const br = `${letter}${vs.id}`;
  vs.ok('vsctl', 'add-br', br);
  if (failMode !== undefined) vs.ok('vsctl', 'set-fail-mode', br, failMode);
  const hosts: [Host, Host, Host] = [vs.addHost(br, 1, `${net}.1`), vs.addHost(br, 2, `${net}.2`), vs.addHost(br, 3, `${net}.3`)];
  return { vs, br, hosts };
}

/** Whether all `n` pings from one host to another come back. */
export function pingOk(vs: Instance, from: Host, to: Host, n = 3): boolean {
  return vs.inHost(from, 'ping', '-c', String(n), '-i', '0.2', '-W', '2', to.ip).stdout.includes(`${n} packets transmitted, ${n} received`);
}

/** Starts vscontroller on 127.0.0.1 (TCP port `port`, 0: any) with the REST API on any port. */
export async function startCtl(args: string[], port = 0): Promise<Ctl> {
  const child = spawn(process.execPath, [BIN, ...args, '--rest', '127.0.0.1:0', '--probe-interval', '1', `ptcp:${port}:127.0.0.1`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const lines = () => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  for (let i = 0; i < 200 && !lines().some((l) => l.msg === 'vscontroller ready'); i++) {
    if (child.exitCode !== null) throw new Error(`vscontroller exited: ${out}`);
    await sleep(50);
  }
  const listening = (lines().find((l) => l.msg === 'controller listening')?.listening as string[] | undefined)?.[0];
  const rest = lines().find((l) => l.msg === 'REST API listening')?.url as string | undefined;
  if (!listening || !rest) throw new Error(`vscontroller did not start: ${out}`);
  return {
    child, port: Number(listening.split(':')[1]), rest, log: () => out,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

export async function json(url: string, init?: RequestInit): Promise<{ status: number; body: any }> {
  const r = await fetch(url, init);
  return { status: r.status, body: await r.json() };
}

export async function waitSwitches(c: Ctl, n: number, ms = 20000): Promise<{ dpid: string; role: string }[]> {
  const t0 = Date.now();
  for (;;) {
    const r = await json(`${c.rest}/switches`);
    if (r.body.switches.length === n) return r.body.switches;
    if (Date.now() - t0 > ms) throw new Error(`expected ${n} switches at ${c.rest}, have ${r.body.switches.length}\n${c.log()}`);
    await sleep(200);
  }
}

/** Sum of a counter family on the controller's /metrics. */
export async function metric(c: Ctl, name: string): Promise<number> {
  const text = await (await fetch(`${c.rest}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

