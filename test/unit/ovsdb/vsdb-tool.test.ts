// vsdb-tool on database files with the server stopped: create, db-name/db-version,
// transact/query, show-log, compact (in place and to a copy), check (good, torn tail, corrupt
// middle, dangling reference), and refusing a file a running server process holds.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { run } from '../../../tools/vsdb-tool.js';
import { decodeRecords, encodeRecord } from '../../../src/ovsdb/log-record.js';
import { VsdbClient } from '../../../src/ovsdb/client.js';
import { addBridgeOps } from './helpers.js';

const DB = 'Open_vSwitch';
const MAIN = resolve(__dirname, '../../../dist/src/ovsdb/main.js');

async function tool(args: string[]) {
  const o = { out: '', err: '' };
  const code = await run(args, { out: (t) => void (o.out += t), err: (t) => void (o.err += t) });
  return { code, ...o };
}

describe('vsdb-tool', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vsdb-tool-'));
    file = join(dir, 'conf.db');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const trns = (...ops: object[]) => JSON.stringify([DB, ...ops]);

  it('creates a database and reports its name and version', async () => {
    expect((await tool(['create', file])).code).toBe(0);
    expect((await tool(['db-name', file])).out).toBe('Open_vSwitch\n');
    expect((await tool(['db-version', file])).out).toBe('1.0.0\n');
    expect((await tool(['schema-version'])).out).toBe('1.0.0\n');
    const again = await tool(['create', file]);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/exists/);
  });

  it('transacts and queries on the file, and show-log lists the records', async () => {
    await tool(['create', file]);
    const t = await tool(['transact', file, trns(...addBridgeOps('br0'), { op: 'comment', comment: 'add br0' })]);
    expect(t.code).toBe(0);
    expect(JSON.parse(t.out)).toHaveLength(5);
    const q = await tool(['query', file, trns({ op: 'select', table: 'Bridge', where: [], columns: ['name'] }, { op: 'delete', table: 'Bridge', where: [] })]);
    expect(JSON.parse(q.out)).toEqual([{ rows: [{ name: 'br0' }] }, { count: 1 }]);
    expect(decodeRecords(readFileSync(file)).records).toHaveLength(3); // query wrote nothing
    const log = await tool(['-mm', 'show-log', file]);
    expect(log.out).toMatch(/^record 0: "Open_vSwitch" schema, version="1.0.0"\n/);
    expect(log.out).toMatch(/record 2: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} "add br0"\n {2}table Interface insert row "br0" \([0-9a-f]{8}\):\n {4}name=br0\n {4}type=internal\n/);
    const bad = await tool(['transact', file, trns({ op: 'insert', table: 'Bridge', row: { name: 3 } })]);
    expect(JSON.parse(bad.out)[0].error).toBe('syntax error');
  });

  it('compacts in place and to a copy with the same contents', async () => {
    await tool(['create', file]);
    for (let i = 0; i < 10; i++) await tool(['transact', file, trns(...addBridgeOps(`br${i}`))]);
    const sel = trns({ op: 'select', table: 'Bridge', where: [], columns: ['name', '_uuid'] });
    const before = (await tool(['query', file, sel])).out;
    const size = statSync(file).size;
    expect((await tool(['compact', file, join(dir, 'copy.db')])).code).toBe(0);
    expect((await tool(['query', join(dir, 'copy.db'), sel])).out).toBe(before);
    expect((await tool(['compact', file])).code).toBe(0);
    expect(statSync(file).size).toBeLessThan(size);
    expect(decodeRecords(readFileSync(file)).records).toHaveLength(2);
    expect((await tool(['query', file, sel])).out).toBe(before);
  });

  it('check passes a good file, notes a torn tail, fails corruption and dangling references', async () => {
    await tool(['create', file]);
    await tool(['transact', file, trns(...addBridgeOps('br0'))]);
    expect(await tool(['check', file])).toMatchObject({ code: 0, out: expect.stringMatching(/: ok: 3 records, 4 rows\n$/) });
    const good = readFileSync(file);
    appendFileSync(file, 'VSDB1 99 00000000\n{"Bri');
    const torn = await tool(['check', file]);
    expect(torn.code).toBe(0);
    expect(torn.out).toMatch(/bytes of damaged tail/);
    expect(readFileSync(file).length).toBe(good.length + 23); // check never repairs
    const mid = Buffer.from(good);
    mid[decodeRecords(good, true).offsets![1] + 40] ^= 0x20; // flip a byte inside record 1's body
    writeFileSync(file, Buffer.concat([mid, encodeRecord({ _date: 1 })]));
    const corrupt = await tool(['check', file]);
    expect(corrupt.code).toBe(1);
    expect(corrupt.err).toMatch(/corrupt in the middle/);
    writeFileSync(file, Buffer.concat([good, encodeRecord({ Port: { '01234567-89ab-cdef-0123-456789abcdef': { name: 'orphan', interfaces: ['uuid', '11111111-89ab-cdef-0123-456789abcdef'] } } })]));
    const dangling = await tool(['check', file]);
    expect(dangling.code).toBe(1);
    expect(dangling.err).toMatch(/refers to missing Interface row 11111111/);
    expect(dangling.err).toMatch(/not reachable from any root row/);
  });

  it('refuses to write a file that a running server holds', async () => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npx tsc -p .\` first`);
    const sock = join(dir, 'db.sock');
    const k = spawn(process.execPath, [MAIN, '--db', file, '--remote', `punix:${sock}`, '--unixctl', join(dir, 'ctl')], { stdio: 'ignore' });
    try {
      for (let i = 0; ; i++) {
        try {
          (await VsdbClient.connect(sock, 200)).close();
          break;
        } catch {
          if (i > 200) throw new Error('server did not start');
          await new Promise((r) => setTimeout(r, 25));
        }
      }
      const r = await tool(['transact', file, trns({ op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['next_cfg', '+=', 1]] })]);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(new RegExp(`in use by process ${k.pid}`));
      expect((await tool(['query', file, trns({ op: 'select', table: 'Open_vSwitch', where: [], columns: ['next_cfg'] })])).out).toBe('[{"rows":[{"next_cfg":0}]}]\n');
    } finally {
      k.kill('SIGKILL');
    }
  });
});
