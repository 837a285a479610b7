/*
 * 100 000 flows through ofctl and the flow protocol, round trip: add-flows of a 100k-line file,
 * then dump-flows, dump-aggregate and diff-flows against the same file must show every flow
 * exactly as written. Correctness only; bench/ofctl.ts measures the time.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main as ofctlMain } from '../../../tools/ofctl.js';
import { SwitchFixture } from '../vswitchd/switch-fixture.js';
import { capture } from './helpers.js';

const N = 100_000;

function flowLine(i: number): string {
  return `priority=${1000 + (i % 100)},tcp,nw_src=10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255},tp_dst=${80 + (i % 1000)} actions=output:${1 + (i % 2)}`;
}

describe('ofctl with 100k flows', () => {
  const sw = new SwitchFixture();
  const ofctl = async (...argv: string[]): Promise<[number, string, string]> => {
    const io = capture();
    const code = await ofctlMain(argv, io, sw.env);
    return [code, io.stdout, io.stderr];
  };

  beforeAll(async () => {
    await sw.start('ofctl-100k-');
  });
  afterAll(async () => {
    await sw.stop();
  });

  it('adds 100k flows from a file and dumps every one of them back as written', async () => {
    let text = '';
    for (let i = 0; i < N; i++) text += `${flowLine(i).replace(' actions', ',actions')}\n`;
    const file = join(sw.dir, 'flows.txt');
    writeFileSync(file, text);
    expect(await ofctl('add-flows', 'br0', file)).toEqual([0, '', '']);
    expect(sw.bridge().tables.tables[0].count).toBe(N + 1);

    const [code, out, err] = await ofctl('--no-stats', 'dump-flows', 'br0');
    expect([code, err]).toEqual([0, '']);
    const lines = out.split('\n');
    expect(lines.length).toBe(N + 2); // every flow, NORMAL's, and the final newline
    expect(lines[N]).toBe(' priority=0 actions=NORMAL');
    // Highest priority first; within a priority, oldest first.
    expect(lines[0]).toBe(` ${flowLine(99)}`);
    expect(lines[1]).toBe(` ${flowLine(199)}`);
    expect(new Set(lines.slice(0, N)).size).toBe(N);

    const [, agg] = await ofctl('dump-aggregate', 'br0');
    expect(agg).toMatch(/ flow_count=100001\n$/);
    // The switch holds exactly the file's flows, plus the table-miss flow.
    expect(await ofctl('diff-flows', 'br0', file)).toEqual([2, '-priority=0 actions=NORMAL\n', '']);
  }, 300_000);
});
