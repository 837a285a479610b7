// Shared by the controller tests: a controller on a private Unix socket (or TCP port) with the
// given apps and a silent logger, fake switches connected to it, and cleanup after each test.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { App } from '../../../src/controller/app.js';
import { Controller, type ControllerOptions } from '../../../src/controller/controller.js';
import type { Logger } from '../../../src/lib/log.js';
import { FakeSwitch, until } from './fake-switch.js';

export const dir = mkdtempSync(join(tmpdir(), 'vscontroller-'));
let n = 0;

/** A logger that writes nothing (set VSWITCH_TEST_LOG=debug to see the controller's logs). */
export function quietLog(): Logger {
  const level = process.env.VSWITCH_TEST_LOG;
  return level ? pino({ level }, pino.destination(2)) : pino({ level: 'silent' });
}

export interface TestController {
  ctrl: Controller;
  /** Where switches connect: "unix:PATH" or "tcp:127.0.0.1:PORT". */
  target: string;
}

const live: { ctrls: Controller[]; switches: FakeSwitch[] } = { ctrls: [], switches: [] };

export async function startController(apps: App[] = [], opts: Partial<ControllerOptions> & { tcp?: boolean } = {}): Promise<TestController> {
  const path = join(dir, `c${n++}.sock`);
  const ctrl = new Controller({
    targets: opts.tcp ? [{ kind: 'tcp', port: 0, host: '127.0.0.1' }] : [{ kind: 'unix', path }],
    apps: apps.map((app) => ({ app })), log: quietLog(), probeIntervalMs: 0, ...opts,
  });
  await ctrl.start();
  live.ctrls.push(ctrl);
  return { ctrl, target: opts.tcp ? `tcp:127.0.0.1:${ctrl.tcpPorts[0]}` : `unix:${path}` };
}

/** A fake switch connected to `t`, once the controller sees it up. */
export async function connectSwitch(t: TestController, dpid: bigint, nPorts = 3): Promise<FakeSwitch> {
  const sw = new FakeSwitch(dpid, nPorts);
  live.switches.push(sw);
  await sw.connect(t.target);
  await until(() => t.ctrl.switch(dpid)?.isUp === true, 3000, `switch ${dpid} up`);
  return sw;
}

export async function cleanup(): Promise<void> {
  for (const s of live.switches.splice(0)) s.close();
  for (const c of live.ctrls.splice(0)) await c.stop();
}

export function removeDir(): void {
  rmSync(dir, { recursive: true, force: true });
}
