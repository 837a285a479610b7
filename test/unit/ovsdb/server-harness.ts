// An in-process vsdb server in a temp directory for tests: start, restart on the same file,
// clients that are closed after each test, and the directory removed at the end.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { startVsdbServer, defaultSchemaPath, type RunningVsdb, type VsdbServerConfig } from '../../../src/ovsdb/main.js';
import { VsdbClient } from '../../../src/ovsdb/client.js';
import { connectUnix, type JsonRpcConnection } from '../../../src/lib/jsonrpc.js';

export class Harness {
  readonly dir = mkdtempSync(join(tmpdir(), 'vsdb-h-'));
  server: RunningVsdb | null = null;
  private readonly closers: (() => void)[] = [];
  cfg: VsdbServerConfig;

  constructor(over: Partial<VsdbServerConfig> = {}) {
    this.cfg = {
      dbFile: join(this.dir, 'conf.db'),
      remotes: [`punix:${join(this.dir, 'db.sock')}`],
      schemaFile: defaultSchemaPath(),
      unixctl: join(this.dir, 'vsdb-server.ctl'),
      pidfile: null,
      fsync: true,
      log: pino({ level: 'silent' }),
      ...over,
    };
  }

  get sock(): string {
    return join(this.dir, 'db.sock');
  }

  async start(): Promise<RunningVsdb> {
    this.server = await startVsdbServer(this.cfg);
    return this.server;
  }

  async stop(): Promise<void> {
    await this.server?.stop();
    this.server = null;
  }

  async client(): Promise<VsdbClient> {
    const c = await VsdbClient.connect(this.sock, 2000);
    this.closers.push(() => c.close());
    return c;
  }

  async raw(): Promise<JsonRpcConnection> {
    const c = await connectUnix(this.sock, 2000);
    this.closers.push(() => c.close());
    return c;
  }

  defer(f: () => void): void {
    this.closers.push(f);
  }

  async dispose(): Promise<void> {
    for (const c of this.closers.splice(0)) c();
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
