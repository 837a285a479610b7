/*
 * The two database servers the vsdb benchmark races, each started as its own process on its
 * own temp files and Unix socket (never the system's /etc or /run/openvswitch): vsdb-server
 * (dist/src/ovsdb/main.js) and Debian's ovsdb-server. Also writes a database file holding N
 * rows in each server's own log format, for the open-time figure. Called by bench/vsdb.ts.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VsdbClient } from '../src/ovsdb/client.js';
import { encodeRecord } from '../src/ovsdb/log-record.js';
import { newUuid } from '../src/ovsdb/database.js';

export type ServerKind = 'vsdb' | 'ovsdb-server';

/** A small schema both servers load: one root table of small rows. */
export const BENCH_SCHEMA = {
  name: 'Bench',
  version: '1.0.0',
  tables: {
    Item: { isRoot: true, columns: { name: { type: 'string' }, n: { type: 'integer' }, tags: { type: { key: 'string', value: 'string', min: 0, max: 'unlimited' } } } },
  },
};

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), existsSync(fileURLToPath(new URL('../package.json', import.meta.url))) ? '..' : '../..');
const VSDB_MAIN = join(ROOT, 'dist/src/ovsdb/main.js');

export function ovsdbServerAvailable(): boolean {
  return spawnSync('sh', ['-c', 'command -v ovsdb-server && command -v ovsdb-tool'], { stdio: 'ignore' }).status === 0;
}

export interface RunningServer {
  kind: ServerKind;
  sock: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** Writes a database file with `rows` Item rows in `kind`'s format. */
export function writeDbFile(kind: ServerKind, path: string, rows: number): void {
  const items: Record<string, unknown> = {};
  for (let i = 0; i < rows; i++) items[newUuid()] = { name: `item${i}`, n: i, tags: ['map', [['k', `v${i % 10}`]]] };
  const records = [BENCH_SCHEMA, ...(rows ? [{ Item: items, _date: Date.now() }] : [])];
  if (kind === 'vsdb') {
    writeFileSync(path, Buffer.concat(records.map((r) => encodeRecord(r))));
    return;
  }
  // OVSDB standalone log: "OVSDB JSON <length> <sha1>\n" then <json>\n, where the length and
  // the SHA-1 cover the JSON and its newline.
  const parts: Buffer[] = [];
  for (const r of records) {
    const body = Buffer.from(`${JSON.stringify(r)}\n`);
    parts.push(Buffer.from(`OVSDB JSON ${body.length} ${createHash('sha1').update(body).digest('hex')}\n`), body);
  }
  writeFileSync(path, Buffer.concat(parts));
}

/** Starts `kind` on `dbFile` in `dir`; resolves once it answers list_dbs. */
export async function startServer(kind: ServerKind, dir: string, dbFile: string): Promise<RunningServer> {
  const sock = join(dir, `${kind}.sock`);
  const ctl = join(dir, `${kind}.ctl`);
  const proc =
    kind === 'vsdb'
      ? spawn(process.execPath, [VSDB_MAIN, '--db', dbFile, '--remote', `punix:${sock}`, '--unixctl', ctl], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, VSWITCH_LOG_LEVEL: 'warn' } })
      : spawn('ovsdb-server', [`--remote=punix:${sock}`, `--unixctl=${ctl}`, `--pidfile=${join(dir, 'ovsdb-server.pid')}`, `--log-file=${join(dir, 'ovsdb-server.log')}`, '--no-chdir', dbFile], { stdio: 'ignore' });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  };
  const deadline = Date.now() + 120000;
  for (;;) {
    try {
      const c = await VsdbClient.connect(`unix:${sock}`, 1000);
      await c.listDbs();
      c.close();
      return { kind, sock: `unix:${sock}`, proc, stop };
    } catch {
      if (proc.exitCode !== null || Date.now() > deadline) {
        await stop();
        throw new Error(`${kind} did not start (exit ${proc.exitCode})`);
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}
