/*
 * A Controller row read into what the connection manager (controllers.ts) needs: the target
 * (tcp:IP[:PORT], unix:PATH to connect to; ptcp:PORT[:IP], punix:PATH to listen on), backoff,
 * inactivity probe and packet-in rate limits, with Open vSwitch's defaults. Control path.
 */
import { VswitchError } from '../lib/errors.js';
import { atoms, mapOf, scalar, uuidStr } from '../ovsdb/datum.js';
import type { Row } from './config.js';

export const DEFAULT_CONTROLLER_PORT = 6653;
export const DEFAULT_MAX_BACKOFF_MS = 8000;
export const DEFAULT_PROBE_MS = 5000;
/** The first reconnection waits this long; each failure doubles it up to max_backoff. */
export const MIN_BACKOFF_MS = 1000;

export type ControllerEndpoint =
  | { kind: 'active'; connect: string }
  | { kind: 'tcp-listen'; port: number; host: string }
  | { kind: 'unix-listen'; path: string };

export interface ControllerConfig {
  uuid: string;
  target: string;
  endpoint: ControllerEndpoint;
  maxBackoffMs: number;
  /** 0: no probes. */
  probeMs: number;
  /** Packet-ins per second (0: unlimited) and the burst allowed above it. */
  rateLimit: number;
  burstLimit: number;
}

/** Parses a controller target; throws VswitchError BAD_TARGET. */
export function parseTarget(target: string): ControllerEndpoint {
  const bad = (why: string): never => {
    throw new VswitchError('BAD_TARGET', `controller target ${target}: ${why}`);
  };
  const colon = target.indexOf(':');
  const method = colon < 0 ? target : target.slice(0, colon);
  const rest = colon < 0 ? '' : target.slice(colon + 1);
  const port = (s: string): number => {
    if (!/^\d+$/.test(s) || Number(s) > 65535) bad(`"${s}" is not a port number`);
    return Number(s);
  };
  switch (method) {
    case 'tcp': {
      const m = /^(\[[^\]]+\]|[^:]+)(?::(.*))?$/.exec(rest);
      if (m === null) return bad('expected tcp:IP[:PORT]');
      return { kind: 'active', connect: `tcp:${m[1]}:${m[2] === undefined ? DEFAULT_CONTROLLER_PORT : port(m[2])}` };
    }
    case 'unix':
      if (rest === '') bad('expected unix:PATH');
      return { kind: 'active', connect: `unix:${rest}` };
    case 'ptcp': {
      const i = rest.indexOf(':');
      const p = i < 0 ? rest : rest.slice(0, i);
      const host = i < 0 ? '0.0.0.0' : rest.slice(i + 1).replace(/^\[|\]$/g, '');
      return { kind: 'tcp-listen', port: p === '' ? DEFAULT_CONTROLLER_PORT : port(p), host };
    }
    case 'punix':
      if (rest === '') bad('expected punix:PATH');
      return { kind: 'unix-listen', path: rest };
    default:
      return bad(`unknown connection method "${method}" (tcp, unix, ptcp, punix)`);
  }
}

function int(v: unknown): number | undefined {
  const s = scalar(v);
  return typeof s === 'number' && Number.isInteger(s) ? s : undefined;
}

/** Reads a Controller row (throws VswitchError BAD_TARGET for a target it cannot use). */
export function controllerConfig(row: Row): ControllerConfig {
  const target = String(scalar(row.target) ?? '');
  const probe = int(row.inactivity_probe);
  const rate = int(row.controller_rate_limit) ?? 0;
  return {
    uuid: uuidStr(row._uuid),
    target,
    endpoint: parseTarget(target),
    maxBackoffMs: Math.max(MIN_BACKOFF_MS, int(row.max_backoff) ?? DEFAULT_MAX_BACKOFF_MS),
    probeMs: probe === undefined ? DEFAULT_PROBE_MS : probe <= 0 ? 0 : Math.max(100, probe),
    rateLimit: rate > 0 ? rate : 0,
    burstLimit: int(row.controller_burst_limit) ?? (rate > 0 ? Math.max(25, rate >> 2) : 0),
  };
}

/** Whether two configurations need the connection to be redone. */
export function sameEndpoint(a: ControllerConfig, b: ControllerConfig): boolean {
  return a.target === b.target && JSON.stringify(a.endpoint) === JSON.stringify(b.endpoint);
}

/** The Controller uuids of a Bridge row. */
export function bridgeControllers(br: Row): string[] {
  return atoms(br.controller).map(uuidStr);
}

/** The Bridge row's fail_mode (standalone when unset). */
export function bridgeFailMode(br: Row): 'standalone' | 'secure' {
  return scalar(br.fail_mode) === 'secure' ? 'secure' : 'standalone';
}

/** The row's status column as a plain map. */
export function rowStatus(row: Row): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of mapOf(row.status)) out[k] = String(v);
  return out;
}
