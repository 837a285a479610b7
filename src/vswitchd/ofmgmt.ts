/*
 * vswitchd's flow-protocol service: per bridge an OfBridge (ofmgmt-bridge.ts) and a FlowServer
 * on VSWITCH_RUNDIR/BRIDGE.mgmt, where ofctl and scripts connect. sync() runs after every
 * reconciliation, before cur_cfg is written (so `vsctl add-br br0 && ofctl show br0` finds the
 * socket): it opens the socket of a new bridge, closes that of a bridge that went away (its
 * connections with it) and sends port_status for ports that came, went or changed. close()
 * removes every socket (vswitchd exiting). attach() serves any FlowConnection for a bridge,
 * whichever end opened it, so outgoing controller connections use the same handler.
 * Owned by vswitchd.ts. Control path.
 */
import { join } from 'node:path';
import type { FlowConnection } from '../lib/flowproto/connection.js';
import { FlowServer } from '../lib/flowproto/server.js';
import { packageVersion } from './appctl.js';
import type { Bridge } from './bridge.js';
import type { OfConn, OfConnKind } from './ofconn.js';
import { OfBridge, type OfServices } from './ofmgmt-bridge.js';

/** The management socket of `bridge` in `dir`. */
export function mgmtSocketPath(dir: string, bridge: string): string {
  return join(dir, `${bridge}.mgmt`);
}

interface Served {
  ofb: OfBridge;
  server: FlowServer | null;
}

export class OfMgmt {
  private readonly served = new Map<string, Served>();
  private closed = false;

  /** `dir`: where the .mgmt sockets go (null: none; connections can still be attached). */
  constructor(private readonly services: OfServices, private readonly dir: string | null) {}

  /** The flow-protocol side of bridge `name`, if it exists. */
  bridge(name: string): OfBridge | undefined {
    return this.served.get(name)?.ofb;
  }

  /** Serves `conn` for bridge `name` (a controller connection, or a test's). */
  attach(name: string, conn: FlowConnection, kind: OfConnKind): OfConn {
    const s = this.served.get(name);
    if (s === undefined) throw new Error(`no bridge ${name}`);
    return s.ofb.attach(conn, kind);
  }

  /** Follows the bridges after a reconciliation (see the top of the file). */
  async sync(): Promise<void> {
    if (this.closed) return;
    const bridges = this.services.st.bridges;
    for (const [name, s] of [...this.served]) {
      if (bridges.get(name) !== s.ofb.bridge) await this.drop(name, s);
    }
    for (const [name, br] of bridges) {
      const s = this.served.get(name);
      if (s === undefined) await this.add(name, br);
      else s.ofb.syncPorts();
    }
  }

  private async add(name: string, br: Bridge): Promise<void> {
    const ofb = new OfBridge(br, this.services);
    const s: Served = { ofb, server: null };
    this.served.set(name, s);
    if (this.dir === null) return;
    const server = new FlowServer((conn) => ofb.attach(conn, 'mgmt'), { agent: `vswitchd ${packageVersion()}`, log: this.services.log });
    const path = mgmtSocketPath(this.dir, name);
    try {
      await server.listenUnix(path);
      s.server = server;
      this.services.log.info({ bridge: name, path }, 'listening for flow protocol connections');
    } catch (e) {
      this.services.log.warn({ bridge: name, path, err: (e as Error).message }, 'could not listen on the bridge management socket');
    }
  }

  private async drop(name: string, s: Served): Promise<void> {
    this.served.delete(name);
    s.ofb.close();
    if (s.server !== null) await s.server.close();
  }

  /** Closes every connection and removes every socket. */
  async close(): Promise<void> {
    this.closed = true;
    for (const [name, s] of [...this.served]) await this.drop(name, s);
  }
}
