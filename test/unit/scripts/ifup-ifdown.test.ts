/*
 * scripts/vswitch-ifup and scripts/vswitch-ifdown, the tap scripts QEMU and libvirt run, driven
 * with fake `ip`, `vsctl` and `node` programs that record their arguments and environment: no
 * root, no switch. Checks the exact vsctl commands, how the bridge and vsctl are chosen
 * (argument, VSWITCH_BRIDGE, VSWITCH_VSCTL, the package's bin/vsctl.js, PATH) and that failures
 * reach QEMU as a non-zero exit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const repo = resolve(import.meta.dirname, '../../..');
let dir = '';
let fakeBin = '';
let log = '';

/** A fake program that appends "NAME ARGS... | VSWITCH_RUNDIR" to the log and exits $FAKE_<NAME>_STATUS. */
function fake(path: string, name: string): void {
  writeFileSync(path, `#!/bin/sh\necho "${name} $* | rundir=\${VSWITCH_RUNDIR:-}" >> "$FAKE_LOG"\nexit \${FAKE_${name.toUpperCase()}_STATUS:-0}\n`);
  chmodSync(path, 0o755);
}

interface Run { status: number | null; stderr: string; calls: string[] }

function run(script: string, args: string[], env: Record<string, string> = {}): Run {
  writeFileSync(log, '');
  const r = spawnSync(script, args, {
    encoding: 'utf8',
    env: { PATH: `${fakeBin}:/usr/bin:/bin`, FAKE_LOG: log, ...env },
  });
  const calls = readFileSync(log, 'utf8').split('\n').filter((l) => l !== '');
  return { status: r.status, stderr: r.stderr, calls };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vswitch-ifup-'));
  log = join(dir, 'calls.log');
  fakeBin = join(dir, 'fakebin');
  mkdirSync(fakeBin);
  fake(join(fakeBin, 'ip'), 'ip');
  fake(join(fakeBin, 'vsctl'), 'vsctl');
  // Copies outside the repo: no ../bin/vsctl.js beside them, so vsctl comes from the PATH.
  mkdirSync(join(dir, 'loose'));
  for (const s of ['vswitch-ifup', 'vswitch-ifdown']) copyFileSync(join(repo, 'scripts', s), join(dir, 'loose', s));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const loose = (s: string): string => join(dir, 'loose', s);

describe('vswitch-ifup', () => {
  it('brings the tap up, then adds it to br0 as a system port', () => {
    const r = run(loose('vswitch-ifup'), ['vm1'], { VSWITCH_RUNDIR: '/tmp/rd1' });
    expect(r.status).toBe(0);
    expect(r.calls).toEqual([
      'ip link set vm1 up | rundir=/tmp/rd1',
      'vsctl --timeout=30 --may-exist add-port br0 vm1 -- set Interface vm1 type=system | rundir=/tmp/rd1',
    ]);
  });

  it('takes the bridge from VSWITCH_BRIDGE, and a second argument over that', () => {
    expect(run(loose('vswitch-ifup'), ['vm2'], { VSWITCH_BRIDGE: 'br7' }).calls[1]).toContain('add-port br7 vm2 ');
    expect(run(loose('vswitch-ifup'), ['vm2', 'br9'], { VSWITCH_BRIDGE: 'br7' }).calls[1]).toContain('add-port br9 vm2 ');
  });

  it('honours VSWITCH_IFUP_TIMEOUT', () => {
    expect(run(loose('vswitch-ifup'), ['vm1'], { VSWITCH_IFUP_TIMEOUT: '5' }).calls[1]).toMatch(/^vsctl --timeout=5 /);
  });

  it('fails, without touching the switch, when the tap cannot be brought up', () => {
    const r = run(loose('vswitch-ifup'), ['nope0'], { FAKE_IP_STATUS: '1' });
    expect(r.status).not.toBe(0);
    expect(r.calls).toEqual(['ip link set nope0 up | rundir=']);
    expect(r.stderr).toContain("cannot bring up 'nope0'");
  });

  it('fails when vsctl fails, so QEMU refuses to start the guest', () => {
    const r = run(loose('vswitch-ifup'), ['vm1'], { FAKE_VSCTL_STATUS: '1' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("could not add 'vm1' to bridge 'br0'");
  });

  it('needs a tap name', () => {
    const r = run(loose('vswitch-ifup'), []);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('usage: vswitch-ifup TAP [BRIDGE]');
    expect(r.calls).toEqual([]);
  });

  it('says so when no vsctl can be found', () => {
    const empty = join(dir, 'onlyip');
    mkdirSync(empty, { recursive: true });
    fake(join(empty, 'ip'), 'ip');
    writeFileSync(log, '');
    const r = spawnSync(loose('vswitch-ifup'), ['vm1'], { encoding: 'utf8', env: { PATH: `${empty}:/usr/bin:/bin`, FAKE_LOG: log } });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('cannot find vsctl');
  });

  it('prefers VSWITCH_VSCTL over everything else', () => {
    const other = join(dir, 'other-vsctl');
    fake(other, 'other');
    const r = run(loose('vswitch-ifup'), ['vm1'], { VSWITCH_VSCTL: other });
    expect(r.calls[1]).toMatch(/^other --timeout=30 --may-exist add-port br0 vm1 /);
  });
});

describe('vswitch-ifdown', () => {
  it('removes the port from whichever bridge has it, if any', () => {
    const r = run(loose('vswitch-ifdown'), ['vm1'], { VSWITCH_RUNDIR: '/tmp/rd2' });
    expect(r.status).toBe(0);
    expect(r.calls).toEqual(['vsctl --timeout=30 --if-exists del-port vm1 | rundir=/tmp/rd2']);
  });

  it('reports a failing vsctl and needs a tap name', () => {
    const r = run(loose('vswitch-ifdown'), ['vm1'], { FAKE_VSCTL_STATUS: '3' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("could not remove port 'vm1'");
    expect(run(loose('vswitch-ifdown'), []).status).toBe(2);
  });
});

describe('finding the package vsctl', () => {
  it('runs bin/vsctl.js beside the scripts with node, also through a symlink (npm -g bin)', () => {
    // A package layout: pkg/scripts/vswitch-ifup, pkg/bin/vsctl.js; a linked bin dir elsewhere.
    const pkg = join(dir, 'pkg');
    mkdirSync(join(pkg, 'scripts'), { recursive: true });
    mkdirSync(join(pkg, 'bin'), { recursive: true });
    copyFileSync(join(repo, 'scripts', 'vswitch-ifup'), join(pkg, 'scripts', 'vswitch-ifup'));
    writeFileSync(join(pkg, 'bin', 'vsctl.js'),
      "require('node:fs').appendFileSync(process.env.FAKE_LOG, 'vsctl.js ' + process.argv.slice(2).join(' ') + '\\n');\n");
    const linked = join(dir, 'globalbin');
    mkdirSync(linked, { recursive: true });
    symlinkSync(join(pkg, 'scripts', 'vswitch-ifup'), join(linked, 'vswitch-ifup'));
    const r = run(join(linked, 'vswitch-ifup'), ['vm3'], { VSWITCH_NODE: process.execPath });
    expect(r.status).toBe(0);
    expect(r.calls).toEqual([
      'ip link set vm3 up | rundir=',
      'vsctl.js --timeout=30 --may-exist add-port br0 vm3 -- set Interface vm3 type=system',
    ]);
  });

  it("the repository's own scripts run this checkout's bin/vsctl.js", () => {
    expect(existsSync(join(repo, 'bin', 'vsctl.js'))).toBe(true);
    const fakeNode = join(dir, 'fake-node');
    fake(fakeNode, 'node');
    for (const [script, expected] of [
      ['vswitch-ifup', `node ${join(repo, 'bin', 'vsctl.js')} --timeout=30 --may-exist add-port br0 vm4 -- set Interface vm4 type=system`],
      ['vswitch-ifdown', `node ${join(repo, 'bin', 'vsctl.js')} --timeout=30 --if-exists del-port vm4`],
    ] as const) {
      const r = run(join(repo, 'scripts', script), ['vm4'], { VSWITCH_NODE: fakeNode });
      expect(r.status).toBe(0);
      // readlink -f may print the repo path through ".." segments resolved: compare normalised.
      const last = r.calls[r.calls.length - 1]!.replace(/ \| rundir=$/, '').replace(/\/scripts\/\.\.\//, '/');
      expect(last).toBe(expected);
    }
  });
});
