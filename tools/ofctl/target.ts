/*
 * ofctl's connection to a switch: a SWITCH argument as ovs-ofctl takes it (a bridge name, meaning
 * VSWITCH_RUNDIR/BRIDGE.mgmt; "unix:PATH"; "tcp:HOST[:PORT]"; a socket path) and the connection
 * with ovs-ofctl's failure wording. Light on imports: every command loads it before connecting
 * (the flow model is in replies.ts). Control path.
 */
import { existsSync, statSync } from 'node:fs';
import type net from 'node:net';
import { join } from 'node:path';
import type { FlowConnection, MessageHandler } from '../../src/lib/flowproto/connection.js';
import { FlowProtoError } from '../../src/lib/flowproto/errors.js';
import { paths } from '../../src/lib/paths.js';
import { errnoText, ToolError } from '../common.js';

/** Default TCP port of an OpenFlow switch or controller (IANA). */
export const DEFAULT_OF_PORT = 6653;

/** Where SWITCH points: a connection target for FlowConnection.connect. */
export function resolveTarget(sw: string, env: NodeJS.ProcessEnv): string {
  if (sw.startsWith('unix:')) return sw;
  if (sw.startsWith('tcp:')) {
    const rest = sw.slice(4);
    const v6 = rest.startsWith('[');
    const hasPort = v6 ? /\]:\d+$/.test(rest) : rest.includes(':');
    return hasPort ? sw : `tcp:${rest}:${DEFAULT_OF_PORT}`;
  }
  if (sw.includes(':')) throw new ToolError(`${sw}: unknown connection method (use a bridge name, unix:FILE or tcp:HOST[:PORT])`);
  if (sw.includes('/')) return `unix:${sw}`;
  const path = join(paths(env).rundir, `${sw}.mgmt`);
  if (!existsSync(path) || !statSync(path).isSocket()) throw new ToolError(`${sw} is not a bridge or a socket`);
  return `unix:${path}`;
}

/**
 * Connects to SWITCH; failures read like ovs-ofctl's. With `early`, takes over that socket to
 * SWITCH, on which our Hello and `early.requests` requests were already written (early.ts),
 * with the handler of messages from the first one on.
 */
export async function connectSwitch(sw: string, env: NodeJS.ProcessEnv, timeoutMs: number, early?: { sock: net.Socket; requests: number; onMessage: MessageHandler }): Promise<FlowConnection> {
  const target = resolveTarget(sw, env);
  const { FlowConnection } = await import('../../src/lib/flowproto/connection.js');
  try {
    return await FlowConnection.connect(target, {
      agent: 'ofctl', timeoutMs: timeoutMs > 0 ? timeoutMs : 5000, requestTimeoutMs: 0, maxMessageBytes: 64 << 20,
      socket: early?.sock, sentRequests: early?.requests, onMessage: early?.onMessage,
    });
  } catch (e) {
    if (e instanceof FlowProtoError && e.code === 'HELLO_FAILED') throw new ToolError(`${sw}: ${e.message}`);
    throw new ToolError(`${sw}: failed to connect to socket (${errnoText(e)})`);
  }
}
