/*
 * Listening sockets for the control-path servers: JSON-RPC (vsdb, every daemon's appctl
 * socket) and the flow protocol (BRIDGE.mgmt, controller listeners). Owns the net.Servers and
 * the set of live connections, wrapping each accepted socket with the protocol's connection
 * class. A Unix socket file left by a dead process is replaced; one that still answers is
 * refused with AddressInUseError. Control path.
 */
import { existsSync, lstatSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { VswitchError } from './errors.js';
import type { Logger } from './log.js';

/** Thrown by listenUnix when another process is already listening on the path. */
export class AddressInUseError extends VswitchError {
  constructor(path: string) {
    super('ADDR_IN_USE', `${path}: another process is already listening there`);
    this.name = 'AddressInUseError';
  }
}

/** What a listener needs of a connection: closing it and hearing that it closed. */
export interface ListenedConnection {
  close(): void;
  once(event: 'close', listener: () => void): unknown;
}

/** Wraps an accepted socket; `unixPath` is null for TCP. */
export type WrapSocket<C> = (sock: net.Socket, unixPath: string | null) => C;

export class SocketListener<C extends ListenedConnection> {
  private readonly servers: { server: net.Server; unixPath: string | null }[] = [];
  private readonly conns = new Set<C>();

  constructor(
    private readonly wrap: WrapSocket<C>,
    private readonly onConnection: (conn: C) => void,
    private readonly log?: Logger,
    private readonly defaultHost = '127.0.0.1',
  ) {}

  get connections(): ReadonlySet<C> {
    return this.conns;
  }

  /** Listens on `path`, replacing a stale socket file (AddressInUseError if someone answers there). */
  async listenUnix(path: string): Promise<void> {
    if (existsSync(path)) {
      if (!lstatSync(path).isSocket() || (await socketAlive(path))) throw new AddressInUseError(path);
      unlinkSync(path);
    }
    await this.listenOn({ path }, path);
  }

  /** Listens on TCP `port` (0: any free port) of `host`; resolves with the port. */
  async listenTcp(port: number, host = this.defaultHost): Promise<number> {
    const server = await this.listenOn({ port, host }, null);
    return (server.address() as net.AddressInfo).port;
  }

  private listenOn(opts: net.ListenOptions, unixPath: string | null): Promise<net.Server> {
    const server = net.createServer((sock) => this.accept(sock, unixPath));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts, () => {
        server.removeListener('error', reject);
        server.on('error', (err) => this.log?.error({ err: err.message }, 'listener error'));
        this.servers.push({ server, unixPath });
        resolve(server);
      });
    });
  }

  private accept(sock: net.Socket, unixPath: string | null): void {
    const conn = this.wrap(sock, unixPath);
    this.conns.add(conn);
    conn.once('close', () => this.conns.delete(conn));
    try {
      this.onConnection(conn);
    } catch (e) {
      this.log?.error({ err: (e as Error).message }, 'connection callback failed');
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

function socketAlive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createConnection({ path });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
