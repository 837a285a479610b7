/*
 * Controller apps: the interface an app implements, the context it gets, the registry of
 * built-in apps, and loading `--app NAME[:ARG]` (a built-in name, or a path to an ES module:
 * `--app ./my-app.js:ARG`). controller.ts calls the hooks in the order the apps were given;
 * see docs/controller.md for a worked example. Control path.
 *
 * Hooks may be async; a switch's messages are handled one at a time, in order, so an app that
 * awaits inside onPacketIn delays that switch's next packet-in (not other switches'). An
 * exception in a hook is logged and counted (vscontroller_app_errors_total) and never takes
 * the controller or the switch connection down. onPacketIn returning 'stop' keeps the packet
 * from the apps after it (a firewall app in front of l2-learning).
 */
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { FlowRemoteError } from '../lib/flowproto/errors.js';
import type { Logger } from '../lib/log.js';
import { ControllerError } from './errors.js';
import type { FlowRemovedEvent, PacketInEvent, PortStatusEvent } from './events.js';
import type { Gauge } from './metrics.js';
import type { DownReason, SwitchSession } from './switch-session.js';
import { createL2Learning } from './apps/l2-learning.js';
import { createStatic } from './apps/static.js';

export type PacketInResult = void | 'stop';

export interface App {
  /** Unique among the running apps (metrics label, logs, REST). */
  readonly name: string;
  /** Called once before any switch connects. */
  start?(ctx: AppContext): void | Promise<void>;
  /** Called on controller shutdown. */
  stop?(): void | Promise<void>;
  /** A switch finished its handshake (features and ports known); also after every reconnection. */
  onSwitchUp?(sw: SwitchSession): void | Promise<void>;
  onSwitchDown?(sw: SwitchSession, reason: DownReason): void;
  onPacketIn?(sw: SwitchSession, pi: PacketInEvent): PacketInResult | Promise<PacketInResult>;
  onPortStatus?(sw: SwitchSession, ev: PortStatusEvent): void | Promise<void>;
  onFlowRemoved?(sw: SwitchSession, ev: FlowRemovedEvent): void | Promise<void>;
  /** The switch refused a request sent without waiting (flowMod(), packetOut()); `xid` is what they returned. */
  onError?(sw: SwitchSession, err: FlowRemoteError, xid: number): void;
  /** Re-read configuration (SIGHUP). */
  reload?(): void | Promise<void>;
  /** State shown by GET /apps/NAME (JSON-serializable). */
  describe?(): unknown;
}

/** A counter an app owns: vscontroller_app_NAME_total{app="..."}. */
export interface AppCounter {
  inc(n?: number): void;
  readonly value: number;
}

export interface AppContext {
  /** The app's logger (pino child with app=NAME). */
  readonly log: Logger;
  /** ARG of --app NAME:ARG (undefined without one). */
  readonly arg: string | undefined;
  /** Switches that are up. */
  switches(): SwitchSession[];
  /** A switch by datapath id (bigint, or 16 hex digits), if up. */
  switch(dpid: bigint | string): SwitchSession | undefined;
  /** A counter shown on /metrics as vscontroller_app_NAME_total{app="<this app>"}. */
  counter(name: string, help: string): AppCounter;
  /** A gauge shown as vscontroller_app_NAME{app="<this app>"}, read from `read` on each scrape. */
  gauge(name: string, help: string, read: () => number): Gauge;
}

/** Makes an app from its ARG. */
export type AppFactory = (arg: string | undefined) => App | Promise<App>;

interface Builtin {
  factory: AppFactory;
  description: string;
}

const builtins = new Map<string, Builtin>([
  ['l2-learning', { factory: createL2Learning, description: 'MAC learning switch: flows per (in_port, dl_dst[, dl_src]) with idle timeouts' }],
  ['static', { factory: createStatic, description: 'flows from a JSON or YAML file (ARG), per datapath id, reapplied on reconnect' }],
]);

/** Makes `name` available to --app (for embedding: call before parsing the command line). */
export function registerApp(name: string, factory: AppFactory, description = ''): void {
  builtins.set(name, { factory, description });
}

export function builtinApps(): { name: string; description: string }[] {
  return [...builtins].map(([name, b]) => ({ name, description: b.description }));
}

export interface AppSpec {
  /** A built-in name, or null for a file. */
  name: string | null;
  /** The module path of a file app. */
  path: string | null;
  arg: string | undefined;
}

/**
 * Splits --app's value at its first ":": "l2-learning", "static:/etc/flows.yaml",
 * "./my-app.js", "/x/app.mjs:3". The part before is a built-in name, or else a module path (it
 * has a "/" or ends in .js, .mjs or .cjs; a path cannot contain ":").
 */
export function parseAppSpec(spec: string): AppSpec {
  const colon = spec.indexOf(':');
  const head = colon < 0 ? spec : spec.slice(0, colon);
  const arg = colon < 0 ? undefined : spec.slice(colon + 1);
  if (head === '') throw new ControllerError('NO_SUCH_APP', `--app ${spec}: an app name or module path is needed`);
  if (!builtins.has(head) && (head.includes('/') || /\.[cm]?js$/.test(head))) return { name: null, path: head, arg };
  return { name: head, path: null, arg };
}

function isApp(v: unknown): v is App {
  return typeof v === 'object' && v !== null && typeof (v as App).name === 'string';
}

async function fromExport(exp: unknown, arg: string | undefined, where: string): Promise<App> {
  if (isApp(exp)) return exp;
  if (typeof exp === 'function') {
    const isClass = /^class[\s{]/.test(Function.prototype.toString.call(exp));
    const made: unknown = isClass ? new (exp as new (a: string | undefined) => unknown)(arg) : await (exp as AppFactory)(arg);
    if (isApp(made)) return made;
    throw new ControllerError('APP_LOAD', `${where}: the factory did not return an app (an object with a string "name")`);
  }
  throw new ControllerError('APP_LOAD', `${where}: export a factory function (arg) => app, a class, or an app object as default (or as createApp)`);
}

/** Makes the app --app `spec` names; file paths are resolved against `cwd`. */
export async function loadApp(spec: string, cwd = process.cwd()): Promise<App> {
  const s = parseAppSpec(spec);
  if (s.name !== null) {
    const b = builtins.get(s.name);
    if (!b) {
      const known = [...builtins.keys()].join(', ');
      throw new ControllerError('NO_SUCH_APP', `no app named "${s.name}" (built in: ${known}; or give the path of a .js module)`);
    }
    return b.factory(s.arg);
  }
  const file = isAbsolute(s.path!) ? s.path! : resolve(cwd, s.path!);
  if (!existsSync(file)) throw new ControllerError('NO_SUCH_APP', `--app ${spec}: ${file}: no such file`);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (e) {
    throw new ControllerError('APP_LOAD', `--app ${spec}: cannot load ${file}: ${(e as Error).message}`, { cause: e });
  }
  return fromExport(mod.default ?? mod.createApp, s.arg, file);
}
