/*
 * Parsing of an app's ARG written as "key=value,key=value" (`--app l2-learning:idle_timeout=30,
 * match_src=no`): integers (decimal or 0x hex, with bounds), booleans (yes/no, true/false,
 * on/off, 1/0) and strings, with ControllerError('APP_ARG') naming the app and the key for
 * anything unknown or malformed. Used by the built-in apps. Control path.
 */
import { ControllerError } from '../errors.js';

export type OptionKind = { type: 'int'; min: number; max: number } | { type: 'bigint' } | { type: 'bool' } | { type: 'string' };

/** Parses `arg` against `spec`; returns the values given (keys not given are absent). */
export function parseAppOptions(app: string, arg: string | undefined, spec: Record<string, OptionKind>): Record<string, number | bigint | boolean | string> {
  const out: Record<string, number | bigint | boolean | string> = {};
  if (arg === undefined || arg.trim() === '') return out;
  for (const part of arg.split(',')) {
    const eq = part.indexOf('=');
    const key = (eq < 0 ? part : part.slice(0, eq)).trim();
    const value = eq < 0 ? undefined : part.slice(eq + 1).trim();
    const kind = spec[key];
    if (!kind) throw new ControllerError('APP_ARG', `${app}: unknown option "${key}" (known: ${Object.keys(spec).join(', ')})`);
    if (kind.type === 'bool') {
      const v = value === undefined ? 'yes' : value.toLowerCase();
      if (['yes', 'true', 'on', '1'].includes(v)) out[key] = true;
      else if (['no', 'false', 'off', '0'].includes(v)) out[key] = false;
      else throw new ControllerError('APP_ARG', `${app}: ${key}=${value}: expected yes or no`);
      continue;
    }
    if (value === undefined || value === '') throw new ControllerError('APP_ARG', `${app}: ${key} needs a value (${key}=...)`);
    if (kind.type === 'string') {
      out[key] = value;
      continue;
    }
    if (!/^(0[xX][0-9a-fA-F]+|\d+)$/.test(value)) throw new ControllerError('APP_ARG', `${app}: ${key}=${value}: not a non-negative integer`);
    const big = BigInt(value);
    if (kind.type === 'bigint') {
      if (big >= 1n << 64n) throw new ControllerError('APP_ARG', `${app}: ${key}=${value}: more than 64 bits`);
      out[key] = big;
      continue;
    }
    if (big < BigInt(kind.min) || big > BigInt(kind.max)) throw new ControllerError('APP_ARG', `${app}: ${key}=${value}: out of range (${kind.min}-${kind.max})`);
    out[key] = Number(big);
  }
  return out;
}
