/*
 * The QEMU test guest on its own, with no switch: builds it (scripts/build-guest.sh) and boots two
 * guests joined directly by a QEMU stream socket. Both come up, each pings the other, a ping to an
 * absent address is reported as failed, and a TCP transfer arrives with the byte count and
 * SHA-256 it was sent with. This proves the image and test/e2e/qemu.ts before any test puts a
 * guest on vswitch. Then one guest on a QEMU-created tap shows how QEMU runs scripts/vswitch-ifup
 * and -ifdown (a recording vsctl stands in for the switch). Every QEMU process is stopped by PID
 * in afterAll, also on failure.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireRoot, uniqueName } from './helpers.js';
import { buildGuestImage, Guest, parseTransfer, requireQemu, step, stopAllGuests, streamNetdev, tapNetdev, type GuestImage } from './qemu.js';

const isRoot = requireRoot('the QEMU guest tests');

describe.skipIf(!isRoot)('the QEMU test guest, without the switch', () => {
  let image: GuestImage;
  let dir = '';
  const started: Guest[] = [];

  beforeAll(() => {
    requireQemu();
    // Fails the file with apt's own message when the kernel or busybox cannot be downloaded.
    image = buildGuestImage();
    dir = mkdtempSync(join(tmpdir(), 'vswitch-qemu-'));
  }, 300_000);

  afterAll(async () => {
    await stopAllGuests();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('boot, ping both ways, and a TCP transfer whose size and checksum match', async () => {
    const t0 = Date.now();
    const sock = join(dir, 'link.sock');
    const bytes = 2 * 1024 * 1024 + 123;
    const a = Guest.start({
      image, netdev: streamNetdev(sock, true), ip: '10.77.0.1/24',
      steps: [step.recv(5001), step.ping('10.77.0.2')],
    });
    started.push(a);
    // QEMU 7.2 connects a stream client once, at start-up, with no retry: listen first.
    await serverListening(sock, a);
    const b = Guest.start({
      image, netdev: streamNetdev(sock, false), ip: '10.77.0.2/24',
      // stay: b answers a's pings for as long as a needs, then the test stops it.
      steps: [step.ping('10.77.0.1'), step.ping('10.77.0.99', 3), step.send('10.77.0.1', 5001, bytes), step.stay],
    });
    started.push(b);

    await Promise.all([a.waitFor(/^VSGUEST: up eth0 10\.77\.0\.1\/24/, 60_000), b.waitFor(/^VSGUEST: up eth0 10\.77\.0\.2\/24/, 60_000)]);
    const bootMs = Date.now() - t0;
    await a.waitFor(/^VSGUEST: listening 5001$/, 10_000);
    await b.waitFor(/^VSGUEST: ping 10\.77\.0\.1 ok$/, 40_000);
    await a.waitFor(/^VSGUEST: ping 10\.77\.0\.2 ok$/, 40_000);
    // The harness reports failures too: nobody has .99.
    await b.waitFor(/^VSGUEST: ping 10\.77\.0\.99 fail$/, 20_000);

    const sent = parseTransfer((await b.waitFor(/^VSGUEST: send 10\.77\.0\.1:5001 .* ok$/, 60_000))[0]);
    const got = parseTransfer((await a.waitFor(/^VSGUEST: recv 5001 .*/, 30_000))[0]);
    expect(sent.bytes).toBe(bytes);
    expect(got).toEqual(sent);

    // a finishes its steps and powers off: QEMU exits 0 (-no-reboot). b stays until stopped.
    await a.waitFor(/^VSGUEST: done$/, 20_000);
    expect(await a.exited()).toBe(0);
    await b.waitFor(/^VSGUEST: stay$/, 5_000);
    expect(b.running).toBe(true);
    await b.stop();
    expect(b.running).toBe(false);
    expect(a.lines.some((l) => l.startsWith('VSGUEST: error')), a.output()).toBe(false);
    expect(b.lines.some((l) => l.startsWith('VSGUEST: error')), b.output()).toBe(false);
    // A marker that never comes fails fast once the guest is gone, with its console in the message.
    await expect(a.waitFor(/^VSGUEST: never$/, 5_000)).rejects.toThrow(/exited \(status 0\) before printing/);
    console.log(`qemu-boot: both guests up after ${bootMs} ms, whole run ${Date.now() - t0} ms`);
  });

  it('vs.vlan puts the address on a tagged subinterface; tagged guests reach each other', async () => {
    const sock = join(dir, 'vlan.sock');
    const a = Guest.start({ image, netdev: streamNetdev(sock, true), ip: '10.79.0.1/24', vlan: 10,
      // stay: a must still answer b's pings after its own succeeded (b may start pinging later).
      steps: [step.ping('10.79.0.2', 60), step.stay] });
    started.push(a);
    await serverListening(sock, a);
    const b = Guest.start({
      image, netdev: streamNetdev(sock, false), ip: '10.79.0.2/24', vlan: 10,
      steps: [step.ping('10.79.0.1', 60), step.sh('grep -q "VID: 10" /proc/net/vlan/eth0.10 && ! ip addr show dev eth0 | grep -q 10.79'), step.stay],
    });
    started.push(b);
    await a.waitFor(/^VSGUEST: up eth0\.10 10\.79\.0\.1\/24/, 60_000);
    await b.waitFor(/^VSGUEST: up eth0\.10 10\.79\.0\.2\/24/, 60_000);
    await b.waitFor(/^VSGUEST: ping 10\.79\.0\.1 ok$/, 70_000);
    await a.waitFor(/^VSGUEST: ping 10\.79\.0\.2 ok$/, 70_000);
    await b.waitFor(/^VSGUEST: sh rc=0$/, 10_000);
    await a.waitFor(/^VSGUEST: stay$/, 5_000);
    await b.stop();
    await a.stop();
  });

  it('QEMU runs vswitch-ifup and vswitch-ifdown with the tap name and its environment', async () => {
    const tap = uniqueName('vsq');
    const log = join(dir, 'vsctl.log');
    const fakeVsctl = join(dir, 'fake-vsctl');
    // Records its arguments, the environment QEMU passed on, and whether the tap is up by then.
    writeFileSync(fakeVsctl, '#!/bin/sh\n' +
      'echo "$* | bridge=$VSWITCH_BRIDGE rundir=$VSWITCH_RUNDIR | $(ip -o link show dev "$FAKE_TAP" | grep -o "<[^>]*>")" >> "$FAKE_LOG"\n');
    chmodSync(fakeVsctl, 0o755);
    const env = { ...process.env, VSWITCH_VSCTL: fakeVsctl, VSWITCH_BRIDGE: 'br9', VSWITCH_RUNDIR: '/tmp/vs-rd', FAKE_TAP: tap, FAKE_LOG: log };
    const g = Guest.start({ image, netdev: tapNetdev(tap), ip: '10.78.0.1/24', env });
    started.push(g);
    await g.waitFor(/^VSGUEST: up eth0 10\.78\.0\.1\/24/, 60_000);
    const up = readFileSync(log, 'utf8').trim().split('\n');
    expect(up).toHaveLength(1);
    expect(up[0]).toMatch(new RegExp(`^--timeout=30 --may-exist add-port br9 ${tap} -- set Interface ${tap} type=system \\| bridge=br9 rundir=/tmp/vs-rd \\| <[^>]*\\bUP\\b`));
    expect(await g.exited()).toBe(0);
    const all = readFileSync(log, 'utf8').trim().split('\n');
    expect(all).toHaveLength(2);
    expect(all[1]).toMatch(new RegExp(`^--timeout=30 --if-exists del-port ${tap} \\| bridge=br9 rundir=/tmp/vs-rd`));
    // QEMU made the tap and took it away with it.
    expect(spawnSync('ip', ['link', 'show', tap], { stdio: 'ignore' }).status).not.toBe(0);
  });

  it('leaves no QEMU process behind', async () => {
    await stopAllGuests();
    expect(started.length).toBeGreaterThan(0);
    for (const g of started) {
      expect(g.running).toBe(false);
      expect(() => process.kill(g.pid, 0)).toThrow();
    }
  });
});

/**
 * QEMU's stream client connects once, at start-up: the client guest must not start before the
 * server guest's socket exists. A loaded machine can take several seconds to get there.
 */
async function serverListening(sock: string, server: Guest): Promise<void> {
  for (let i = 0; i < 600 && !existsSync(sock) && server.running; i++) await new Promise((r) => setTimeout(r, 50));
  expect(existsSync(sock), `no stream socket after 30 s\n${server.output()}`).toBe(true);
}
