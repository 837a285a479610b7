/*
 * The options of a `stream` port (a Unix socket a VM connects to), as they come from
 * Interface.options: path (required, absolute), mode (octal permission bits of the socket file,
 * default 0660) and group (name or number; default: the datapath's). Checked by vswitchd
 * (config.ts, into Interface.error before asking the datapath) and by the datapath
 * (netdev-stream.ts, port_add), which also resolves the group. Control path.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';

/** The stream options port_add takes (strings, as in the database). */
export interface StreamOptions {
  path?: string;
  mode?: string;
  group?: string;
}

/** The option keys a stream port takes, in the order they are compared and listed. */
export const STREAM_OPTION_KEYS = ['path', 'mode', 'group'] as const;

/** Longest socket path (struct sockaddr_un's sun_path holds 108 bytes with the NUL). */
export const STREAM_PATH_MAX = 107;
/** Permission bits of the socket file unless options:mode says otherwise. */
export const STREAM_DEFAULT_MODE = 0o660;

/** Why stream port `name`'s options cannot be used, or '' if they can (all problems, '; '). */
export function streamOptionsError(name: string, o: StreamOptions): string {
  const bad: string[] = [];
  const path = o.path;
  if (path === undefined || path === '') {
    bad.push(`options:path is required (the Unix socket QEMU connects to, e.g. options:path=/run/vswitch/${name}.sock)`);
  } else if (!isAbsolute(path)) {
    bad.push(`options:path must be an absolute path, not '${path}'`);
  } else if (Buffer.byteLength(path) > STREAM_PATH_MAX) {
    bad.push(`options:path is ${Buffer.byteLength(path)} bytes long; a Unix socket path may have at most ${STREAM_PATH_MAX}`);
  } else if (path.includes('\0')) {
    bad.push('options:path may not contain a NUL byte');
  }
  if (o.mode !== undefined && parseStreamMode(o.mode) < 0) bad.push(`options:mode must be octal permission bits such as 0660, not '${o.mode}'`);
  if (o.group !== undefined && !/^[A-Za-z0-9_.][A-Za-z0-9_.-]*\$?$/.test(o.group)) bad.push(`options:group '${o.group}' is not a group name or number`);
  return bad.length === 0 ? '' : `stream port ${name}: ${bad.join('; ')}`;
}

/** The permission bits options:mode asks for (default 0660), -1 if it is not octal 0..0777. */
export function parseStreamMode(mode: string | undefined): number {
  if (mode === undefined) return STREAM_DEFAULT_MODE;
  if (!/^0?[0-7]{1,3}$/.test(mode)) return -1;
  return parseInt(mode, 8);
}

/** The gid of group `group` (a number, or a name in /etc/group), -1 if there is none. */
export function resolveGroup(group: string, groupFile = '/etc/group'): number {
  if (/^\d+$/.test(group)) return Number(group);
  let text = '';
  try {
    text = readFileSync(groupFile, 'utf8');
  } catch {
    return -1;
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f[0] === group && f.length >= 3 && /^\d+$/.test(f[2]!)) return Number(f[2]);
  }
  return -1;
}

/** True if two option sets ask for the same socket (missing and '' are the same). */
export function sameStreamOptions(a: StreamOptions, b: StreamOptions): boolean {
  for (const k of STREAM_OPTION_KEYS) if ((a[k] ?? '') !== (b[k] ?? '')) return false;
  return true;
}
