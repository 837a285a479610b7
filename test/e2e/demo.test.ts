// The README's first command ends in `vswitch demo`: run it and check it really moved traffic
// and cleaned up after itself.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { requireRoot } from './helpers.js';

const root = requireRoot();
const bin = join(resolve(import.meta.dirname, '../..'), 'bin', 'vswitch.js');

describe.skipIf(!root)('vswitch demo', () => {
  it('pings, runs iperf3 through br0 and removes what it created', () => {
    const r = spawnSync(process.execPath, [bin, 'demo', '--time', '2'], { encoding: 'utf8', timeout: 120000 });
    const out = r.stdout + r.stderr;
    expect(r.status, out).toBe(0);
    expect(out).toMatch(/3 packets transmitted, 3 received/);
    expect(out).toMatch(/receiver/); // iperf3's summary line
    expect(out).toMatch(/Bridge br0/);
    expect(out).toMatch(/actions:/);
    expect(out).toMatch(/port\s+VLAN\s+MAC\s+Age/);
    const ns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
    expect(ns).not.toMatch(/vsdemo-/);
  });
});
