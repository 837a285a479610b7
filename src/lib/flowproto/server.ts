/*
 * Accepts flow protocol connections on a Unix socket path and/or a TCP port and hands each
 * new FlowConnection (hello already sent, `ready` pending) to a callback, which sets its
 * message handler. vswitchd serves each bridge on VSWITCH_RUNDIR/BRIDGE.mgmt with one. A stale
 * socket file left by a dead process is replaced; a live one is refused. Control path.
 */
import { existsSync, lstatSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { AddressInUseError } from '../jsonrpc.js';
import { FlowConnection, type FlowConnectionOptions } from './connection.js';

export class FlowServer {
  private readonly servers: { server: net.Server; unixPath: string | null }[] = [];
  private readonly conns = new Set<FlowConnection>();

  constructor(private readonly onConnection: (conn: FlowConnection) => void, private readonly opts: FlowConnectionOptions = {}) {}

  get connections(): ReadonlySet<FlowConnection> {
    return this.conns;
  }

  /** Listens on `path` (replacing a stale socket file; AddressInUseError if someone answers there). */
  async listenUnix(path: string): Promise<void> {
    if (existsSync(path)) {
      if (!lstatSync(path).isSocket() || (await isAlive(path))) throw new AddressInUseError(path);
      unlinkSync(path);
    }
    await this.listenOn({ path }, path);
  }

  /** Listens on TCP `port` (0: any free port) of `host`; resolves with the port. */
  async listenTcp(port: number, host = '127.0.0.1'): Promise<number> {
    const server = await this.listenOn({ port, host }, null);
    return (server.address() as net.AddressInfo).port;
  }

  private listenOn(opts: net.ListenOptions, unixPath: string | null): Promise<net.Server> {
    const server = net.createServer((sock) => this.accept(sock, unixPath ? `unix:${unixPath}` : `tcp:${sock.remoteAddress}:${sock.remotePort}`));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts, () => {
        server.removeListener('error', reject);
        server.on('error', (err) => this.opts.log?.error({ err: err.message }, 'flow protocol listener error'));
        this.servers.push({ server, unixPath });
        resolve(server);
      });
    });
  }

  private accept(sock: net.Socket, name: string): void {
    const conn = new FlowConnection(sock, { ...this.opts, name });
    this.conns.add(conn);
    conn.once('close', () => this.conns.delete(conn));
    try {
      this.onConnection(conn);
    } catch (e) {
      this.opts.log?.error({ err: (e as Error).message }, 'flow connection callback failed');
      conn.close();
    }
  }

  /** Stops listening, closes every connection and removes the socket files. */
  async close(): Promise<void> {
    for (const c of [...this.conns]) c.close();
    await Promise.all(this.servers.map(({ server, unixPath }) => new Promise<void>((resolve) => {
      server.close(() => resolve());
      if (unixPath) {
        try {
          unlinkSync(unixPath);
        } catch {
          /* already gone */
        }
      }
    })));
    this.servers.length = 0;
  }
}

function isAlive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createConnection({ path });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
