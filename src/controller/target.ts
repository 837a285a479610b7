/*
 * Addresses on vscontroller's command line: the passive targets switches connect to
 * (`ptcp:PORT[:IP]`, `punix:PATH`, as ovs-testcontroller and OVS's controller targets write
 * them), `[HOST:]PORT` for the REST API, and datapath ids (16 hex digits, as OVS prints them,
 * or 0x-prefixed hex, or decimal). Used by main.ts, controller.ts and rest.ts. Control path.
 */
import { isIP } from 'node:net';
import { ControllerError } from './errors.js';

export type ListenTarget = { kind: 'tcp'; port: number; host: string } | { kind: 'unix'; path: string };

/** Default OpenFlow controller port (IANA), as in `ptcp:` with no port. */
export const DEFAULT_OF_PORT = 6653;

function parsePort(s: string, what: string): number {
  if (!/^\d{1,5}$/.test(s) || Number(s) > 65535) throw new ControllerError('BAD_TARGET', `${what}: "${s}" is not a port number (0-65535)`);
  return Number(s);
}

function parseHost(s: string, what: string): string {
  const h = s.startsWith('[') && s.endsWith(']') ? s.slice(1, -1) : s;
  if (isIP(h) === 0) throw new ControllerError('BAD_TARGET', `${what}: "${s}" is not an IP address`);
  return h;
}

/** "ptcp:6653", "ptcp:6653:127.0.0.1", "ptcp:6653:[::1]", "ptcp:" (6653, every address), "punix:/run/x.sock". */
export function parseListenTarget(s: string): ListenTarget {
  if (s.startsWith('punix:')) {
    const path = s.slice(6);
    if (!path) throw new ControllerError('BAD_TARGET', `${s}: punix: needs a socket path`);
    return { kind: 'unix', path };
  }
  if (s.startsWith('ptcp:')) {
    const rest = s.slice(5);
    const colon = rest.indexOf(':');
    const portText = colon < 0 ? rest : rest.slice(0, colon);
    const port = portText === '' ? DEFAULT_OF_PORT : parsePort(portText, s);
    const host = colon < 0 ? '0.0.0.0' : parseHost(rest.slice(colon + 1), s);
    return { kind: 'tcp', port, host };
  }
  throw new ControllerError('BAD_TARGET', `${s}: unknown listen target (use ptcp:PORT[:IP] or punix:PATH)`);
}

/** How a target is shown in logs and `GET /`: "ptcp:6653:127.0.0.1", "punix:/x". */
export function formatListenTarget(t: ListenTarget, boundPort?: number): string {
  if (t.kind === 'unix') return `punix:${t.path}`;
  const host = t.host.includes(':') ? `[${t.host}]` : t.host;
  return `ptcp:${boundPort ?? t.port}:${host}`;
}

/** "8080" (on 127.0.0.1), "0.0.0.0:8080", "[::1]:8080". */
export function parseHostPort(s: string, defaultHost = '127.0.0.1'): { host: string; port: number } {
  if (/^\d+$/.test(s)) return { host: defaultHost, port: parsePort(s, s) };
  const colon = s.lastIndexOf(':');
  if (colon <= 0) throw new ControllerError('BAD_TARGET', `${s}: expected [HOST:]PORT`);
  return { host: parseHost(s.slice(0, colon), s), port: parsePort(s.slice(colon + 1), s) };
}

/** Whether `host` only reaches this machine (127.0.0.0/8, ::1). */
export function isLoopback(host: string): boolean {
  return host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host) || host === 'localhost';
}

const U64_MAX = (1n << 64n) - 1n;

/** A datapath id as OVS prints it: 16 lowercase hex digits. */
export function formatDpid(dpid: bigint): string {
  return dpid.toString(16).padStart(16, '0');
}

/**
 * Parses a datapath id: exactly 16 hex digits ("0000aabbccddeeff", OVS's form), "0x"-prefixed
 * hex, hex with colons ("00:00:aa:bb:cc:dd:ee:ff"), or decimal (as Ryu's REST API writes it).
 * Throws ControllerError('BAD_DPID').
 */
export function parseDpid(s: string): bigint {
  const t = s.trim();
  let v: bigint | null = null;
  if (/^[0-9a-fA-F]{16}$/.test(t)) v = BigInt(`0x${t}`);
  else if (/^0[xX][0-9a-fA-F]{1,16}$/.test(t)) v = BigInt(t);
  else if (/^[0-9a-fA-F]{1,2}(:[0-9a-fA-F]{1,2}){1,7}$/.test(t)) v = BigInt(`0x${t.split(':').map((b) => b.padStart(2, '0')).join('')}`);
  else if (/^\d{1,20}$/.test(t)) v = BigInt(t);
  if (v === null || v > U64_MAX) throw new ControllerError('BAD_DPID', `"${s}" is not a datapath id (16 hex digits, 0xHEX or decimal)`);
  return v;
}
