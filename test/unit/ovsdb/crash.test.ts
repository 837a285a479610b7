// kill -9 of the real server process (dist/src/ovsdb/main.js; run `npx tsc -p .` first) in the
// middle of a stream of durable transactions from several clients. After each restart every
// acknowledged transaction must be there, and every transaction must be all there or not at
// all (each adds a bridge, its port and interface, and bumps next_cfg by one). A torn record
// appended by hand is dropped on the next start instead of refusing to start.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { VsdbClient } from '../../../src/ovsdb/client.js';
import { until } from './helpers.js';

const MAIN = resolve(__dirname, '../../../dist/src/ovsdb/main.js');
const DB = 'Open_vSwitch';

function txnOps(name: string): object[] {
  return [
    { op: 'insert', table: 'Interface', row: { name, type: 'internal' }, 'uuid-name': 'i' },
    { op: 'insert', table: 'Port', row: { name, interfaces: ['named-uuid', 'i'] }, 'uuid-name': 'p' },
    { op: 'insert', table: 'Bridge', row: { name, ports: ['named-uuid', 'p'] }, 'uuid-name': 'b' },
    { op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['bridges', 'insert', ['named-uuid', 'b']], ['next_cfg', '+=', 1]] },
    { op: 'commit', durable: true },
  ];
}

describe('crash safety (kill -9 of the server process)', () => {
  let dir: string;
  let kid: ChildProcess | null = null;
  beforeEach(() => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npx tsc -p .\` before these tests`);
    dir = mkdtempSync(join(tmpdir(), 'vsdb-crash-'));
  });
  afterEach(() => {
    if (kid && kid.exitCode === null) kid.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  const sock = () => join(dir, 'db.sock');
  const dbFile = () => join(dir, 'conf.db');

  async function startServer(): Promise<ChildProcess> {
    const k = spawn(process.execPath, [MAIN, '--db', dbFile(), '--remote', `punix:${sock()}`, '--unixctl', join(dir, 'ctl')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    k.stderr!.on('data', (d) => (err += d));
    kid = k;
    const start = Date.now();
    for (;;) {
      try {
        const c = await VsdbClient.connect(sock(), 500);
        await c.listDbs();
        c.close();
        return k;
      } catch {
        if (k.exitCode !== null) throw new Error(`server exited with ${k.exitCode}: ${err}`);
        if (Date.now() - start > 10000) throw new Error(`server did not start: ${err}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }

  async function contents(): Promise<{ bridges: string[]; ports: string[]; ifaces: string[]; nextCfg: number; referenced: number }> {
    const c = await VsdbClient.connect(sock(), 2000);
    const r = await c.transact(DB, [
      { op: 'select', table: 'Bridge', where: [], columns: ['name'] },
      { op: 'select', table: 'Port', where: [], columns: ['name'] },
      { op: 'select', table: 'Interface', where: [], columns: ['name'] },
      { op: 'select', table: 'Open_vSwitch', where: [], columns: ['next_cfg', 'bridges'] },
    ]);
    c.close();
    const names = (i: number) => r[i].rows.map((x: any) => x.name).sort();
    const ovs = r[3].rows[0];
    return { bridges: names(0), ports: names(1), ifaces: names(2), nextCfg: ovs.next_cfg, referenced: ovs.bridges[0] === 'set' ? ovs.bridges[1].length : 1 };
  }

  /** Streams durable transactions from `clients` connections until killed; returns acked names. */
  async function streamAndKill(round: number, clients: number, killAfterAcks: number): Promise<Set<string>> {
    const acked = new Set<string>();
    const conns = await Promise.all(Array.from({ length: clients }, () => VsdbClient.connect(sock(), 2000)));
    let stop = false;
    const loops = conns.map(async (c, ci) => {
      for (let n = 0; !stop; n++) {
        const name = `r${round}c${ci}n${n}`;
        try {
          await c.transact(DB, txnOps(name));
          acked.add(name);
        } catch {
          return; // the server died under us: this one is unacknowledged
        }
      }
    });
    await until(() => acked.size >= killAfterAcks, 20000);
    kid!.kill('SIGKILL');
    stop = true;
    await Promise.all(loops);
    for (const c of conns) c.close();
    await new Promise<void>((r) => (kid!.exitCode !== null || kid!.signalCode !== null ? r() : kid!.once('exit', () => r())));
    return acked;
  }

  it('keeps every acknowledged transaction and never half of one, across repeated kills', async () => {
    await startServer();
    const allAcked = new Set<string>();
    for (let round = 0; round < 3; round++) {
      const acked = await streamAndKill(round, 4, 40 + round * 17);
      for (const a of acked) allAcked.add(a);
      await startServer();
      const db = await contents();
      for (const a of allAcked) expect(db.bridges).toContain(a);
      // Atomic: every bridge has its port and interface, next_cfg counts whole transactions.
      expect(db.ports).toEqual(db.bridges);
      expect(db.ifaces).toEqual(db.bridges);
      expect(db.nextCfg).toBe(db.bridges.length);
      expect(db.referenced).toBe(db.bridges.length);
    }
  });

  it('starts after a crash that left a torn record, dropping only that record', async () => {
    await startServer();
    const c = await VsdbClient.connect(sock(), 2000);
    await c.transact(DB, txnOps('keep'));
    c.close();
    kid!.kill('SIGKILL');
    await new Promise((r) => kid!.once('exit', r));
    appendFileSync(dbFile(), 'VSDB1 500 0badc0de\n{"Bridge":{"');
    await startServer();
    const db = await contents();
    expect(db.bridges).toEqual(['keep']);
    expect(existsSync(`${dbFile()}.bad`)).toBe(true);
  });
});
