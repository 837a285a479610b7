/*
 * Accepts flow protocol connections on a Unix socket path and/or a TCP port and hands each
 * new FlowConnection (hello already sent, `ready` pending) to a callback, which sets its
 * message handler. vswitchd serves each bridge on VSWITCH_RUNDIR/BRIDGE.mgmt with one. A stale
 * socket file left by a dead process is replaced; a live one is refused. Control path.
 */
import { SocketListener } from '../listener.js';
import { FlowConnection, type FlowConnectionOptions } from './connection.js';

/** Accepts flow protocol connections on Unix sockets and TCP ports (default host 127.0.0.1). */
export class FlowServer extends SocketListener<FlowConnection> {
  constructor(onConnection: (conn: FlowConnection) => void, opts: FlowConnectionOptions = {}) {
    super(
      (sock, unixPath) => new FlowConnection(sock, { ...opts, name: unixPath ? `unix:${unixPath}` : `tcp:${sock.remoteAddress}:${sock.remotePort}` }),
      onConnection,
      opts.log,
    );
  }
}
