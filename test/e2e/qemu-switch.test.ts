// End to end, as root: two real QEMU guests and a network namespace on one bridge. Guest A is on
// its own QEMU tap, added by scripts/vswitch-ifup (type system); guest B is on a stream port
// (QEMU's `-netdev stream` connected to the switch's Unix socket: no tap, and QEMU runs as
// nobody, let in by options:group); the namespace is on a tap port. Every pair pings, and TCP transfers from both guests to the namespace arrive
// with the byte count and SHA-256 they were sent with. Then A's port goes into VLAN 10 and the
// namespace's into VLAN 20: A can no longer reach it. B is killed: its port stays, link down;
// a new guest with vs.vlan=10 connects to the same socket (B's port is a trunk) and reaches A
// but not the namespace. Stopping A runs vswitch-ifdown, which removes its port. Every QEMU
// process is stopped by PID, and every tap and namespace removed, also on failure.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireRoot } from './helpers.js';
import { Instance, sleep, type Host } from './instance.js';
import {
  buildGuestImage, Guest, parseTransfer, requireQemu, step, stopAllGuests, streamNetdev, tapNetdev, type GuestImage,
} from './qemu.js';

const root = requireRoot('the QEMU switch tests');

const A_IP = '10.64.0.1';
const B_IP = '10.64.0.2';
const NS_IP = '10.64.0.3';
/** nobody:nogroup on Debian: the stream guests run unprivileged. */
const NOBODY = 65534;

/** A TCP receiver in the namespace that reads to EOF and prints "bytes=N sha256=HEX". */
function receiver(vs: Instance, host: Host, port: number): { out: () => string; exited: Promise<unknown>; ready: Promise<void> } {
  const p: ChildProcess = vs.spawnInHost(host, process.execPath, '-e', `
    const net = require('net'), crypto = require('crypto');
    const h = crypto.createHash('sha256'); let n = 0;
    const s = net.createServer((c) => {
      c.on('data', (d) => { h.update(d); n += d.length; });
      c.on('end', () => { process.stdout.write('bytes=' + n + ' sha256=' + h.digest('hex') + '\\n'); c.end(); s.close(); });
    }).listen(${port}, '${host.ip}', () => process.stderr.write('listening\\n'));`);
  let out = '';
  p.stdout!.on('data', (d) => { out += d; });
  const exited = once(p, 'exit');
  const ready = new Promise<void>((resolve) => p.stderr!.on('data', (d) => { if (String(d).includes('listening')) resolve(); }));
  return { out: () => out, exited, ready };
}

/** Pings `ip` from the namespace until a reply (true) or `secs` pass (false). */
async function nsPing(vs: Instance, host: Host, ip: string, secs: number): Promise<boolean> {
  const end = Date.now() + secs * 1000;
  while (Date.now() < end) {
    if (vs.inHost(host, 'ping', '-c', '1', '-W', '1', ip).status === 0) return true;
    await sleep(200);
  }
  return false;
}

/** Console lines of `g` from index `from` on that match `re`. */
function linesAfter(g: Guest, from: number, re: RegExp): string[] {
  return g.lines.slice(from).filter((l) => re.test(l));
}

async function waitUntil(cond: () => boolean, what: string, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(200);
  }
}

describe.skipIf(!root)('QEMU guests on a tap port and a stream port, and a namespace, on one bridge', () => {
  let vs: Instance;
  let image: GuestImage;
  let br = '';
  let host: Host;
  let tapA = '';
  let portB = '';
  let sockB = '';
  let a: Guest;

  beforeAll(() => {
    requireQemu();
    image = buildGuestImage();
    vs = new Instance();
    vs.ok('vswitch', 'start');
    br = `q${vs.id}`;
    vs.ok('vsctl', 'add-br', br);
    host = vs.addHost(br, 1, NS_IP);
    tapA = `ga-${vs.id}`;
    portB = `gb-${vs.id}`;
    // Not in the instance's directory (0700): the unprivileged QEMU must reach it.
    sockB = join(tmpdir(), `vswitch-${portB}.sock`);
    // The switch listens before QEMU starts: QEMU 7.2 connects once, at start-up.
    vs.ok('vsctl', 'add-port', br, portB, '--', 'set', 'Interface', portB, 'type=stream', `options:path=${sockB}`,
      `options:group=${NOBODY}`);
    const st = statSync(sockB); // there as soon as vsctl returns
    expect(st.isSocket()).toBe(true);
    expect([st.mode & 0o777, st.gid]).toEqual([0o660, NOBODY]);
  }, 300_000);

  afterAll(async () => {
    await stopAllGuests();
    if (tapA) spawnSync('ip', ['link', 'del', tapA], { stdio: 'ignore' }); // QEMU takes it along; in case
    vs?.destroy();
    if (sockB) rmSync(sockB, { force: true }); // the datapath removes it when it stops; in case
  });

  it('every pair pings, TCP from both guests reaches the namespace whole, VLANs isolate, a restarted VM reconnects', async () => {
    const t0 = Date.now();
    expect(vs.ok('vsctl', 'get', 'Interface', portB, 'options:path').trim()).toBe(`"${sockB}"`);
    expect(vs.ok('vsctl', 'get', 'Interface', portB, 'error').trim()).toBe('[]');
    expect(vs.ok('vsctl', 'get', 'Interface', portB, 'link_state').trim()).toBe('down');
    const bytesA = 3 * 1024 * 1024 + 11;
    const bytesB = 3 * 1024 * 1024 + 29;
    const rxA = receiver(vs, host, 5005);
    const rxB = receiver(vs, host, 5006);
    await Promise.all([rxA.ready, rxB.ready]);

    // A, after its transfer, reports whether it reaches the namespace each time that changes.
    const watch = `last=; while :; do if ping -c 1 -W 1 ${NS_IP} >/dev/null 2>&1; then s=ok; else s=fail; fi; ` +
      `[ "$s" != "$last" ] && echo "VSGUEST: reach ${NS_IP} $s"; last=$s; usleep 300000; done`;
    a = Guest.start({
      image, netdev: tapNetdev(tapA), ip: `${A_IP}/24`, name: `vsA-${vs.id}`,
      env: { ...vs.env, VSWITCH_BRIDGE: br },
      steps: [step.ping(B_IP, 60), step.ping(NS_IP), step.send(NS_IP, 5005, bytesA, 60), step.sh(watch)],
    });
    const b = Guest.start({
      image, netdev: streamNetdev(sockB, false), ip: `${B_IP}/24`, name: `vsB-${vs.id}`, uid: NOBODY, gid: NOBODY,
      steps: [step.ping(A_IP, 60), step.ping(NS_IP), step.send(NS_IP, 5006, bytesB, 60), step.stay],
    });

    await b.waitFor(/^VSGUEST: up eth0 /, 60_000);
    await a.waitFor(/^VSGUEST: up eth0 /, 60_000);
    expect(readFileSync(`/proc/${b.pid}/status`, 'utf8')).toMatch(new RegExp(`^Uid:\\s+${NOBODY}\\s`, 'm'));
    const bootMs = Date.now() - t0;
    expect(vs.ok('vsctl', 'get', 'Interface', tapA, 'type').trim()).toBe('system');
    await waitUntil(() => vs.ok('vsctl', 'get', 'Interface', portB, 'link_state').trim() === 'up', `${portB} link up`, 10_000);

    await a.waitFor(new RegExp(`^VSGUEST: ping ${B_IP} ok$`), 70_000);
    await a.waitFor(new RegExp(`^VSGUEST: ping ${NS_IP} ok$`), 40_000);
    await b.waitFor(new RegExp(`^VSGUEST: ping ${A_IP} ok$`), 70_000);
    await b.waitFor(new RegExp(`^VSGUEST: ping ${NS_IP} ok$`), 40_000);
    expect(await nsPing(vs, host, A_IP, 20), 'namespace -> A').toBe(true);
    expect(await nsPing(vs, host, B_IP, 20), 'namespace -> B').toBe(true);

    const sentA = parseTransfer((await a.waitFor(/^VSGUEST: send .* ok$/, 90_000))[0]);
    const sentB = parseTransfer((await b.waitFor(/^VSGUEST: send .* ok$/, 90_000))[0]);
    await Promise.all([rxA.exited, rxB.exited]);
    expect(sentA.bytes).toBe(bytesA);
    expect(sentB.bytes).toBe(bytesB);
    expect(parseTransfer(rxA.out())).toEqual(sentA);
    expect(parseTransfer(rxB.out())).toEqual(sentB);
    await a.waitFor(new RegExp(`^VSGUEST: reach ${NS_IP} ok$`), 20_000);

    // VLANs: A in 10, the namespace in 20. A no longer reaches it, and stays cut off.
    const mark = a.lines.length;
    vs.ok('vsctl', 'set', 'Port', tapA, 'tag=10');
    vs.ok('vsctl', 'set', 'Port', host.tap, 'tag=20');
    await waitUntil(() => linesAfter(a, mark, new RegExp(`^VSGUEST: reach ${NS_IP} fail$`)).length > 0, 'A to lose the namespace', 20_000);
    await sleep(3000);
    expect(linesAfter(a, mark, new RegExp(`^VSGUEST: reach ${NS_IP} ok$`)), a.output()).toEqual([]);
    expect(vs.inHost(host, 'ping', '-c', '2', '-W', '1', A_IP).status, 'namespace -> A across VLANs').not.toBe(0);

    // B killed: its port stays with link down; nothing else notices.
    b.killNow();
    await b.exited();
    await waitUntil(() => vs.ok('vsctl', 'get', 'Interface', portB, 'link_state').trim() === 'down', `${portB} link down`, 10_000);
    expect(vs.ok('vsctl', 'list-ports', br).split('\n')).toContain(portB);
    expect(vs.ok('vsctl', 'get', 'Interface', portB, 'error').trim()).toBe('[]');

    // A new VM on the same socket, tagging its frames with VLAN 10 (B's port is a trunk).
    const c = Guest.start({
      image, netdev: streamNetdev(sockB, false), ip: `${B_IP}/24`, vlan: 10, name: `vsC-${vs.id}`, uid: NOBODY, gid: NOBODY,
      steps: [step.ping(A_IP, 60), step.ping(NS_IP, 4), step.stay],
    });
    await c.waitFor(/^VSGUEST: up eth0\.10 /, 60_000);
    await c.waitFor(new RegExp(`^VSGUEST: ping ${A_IP} ok$`), 70_000);
    await c.waitFor(new RegExp(`^VSGUEST: ping ${NS_IP} fail$`), 20_000);
    await waitUntil(() => vs.ok('vsctl', 'get', 'Interface', portB, 'link_state').trim() === 'up', `${portB} link up again`, 10_000);
    const counters = vs.ok('dpctl', 'show', '-s');
    expect(counters).toContain(portB);

    // A shut down: QEMU runs vswitch-ifdown, which removes its port.
    await a.stop();
    await waitUntil(() => !vs.ok('vsctl', 'list-ports', br).split('\n').includes(tapA), `${tapA} removed by vswitch-ifdown`, 15_000);
    await c.stop();
    expect(vs.tool('vswitch', 'status').status).toBe(0);
    for (const g of [a, b, c]) expect(() => process.kill(g.pid, 0)).toThrow();
    console.log(`qemu-switch: guests up after ${bootMs} ms, whole run ${Date.now() - t0} ms`);
  }, 300_000);
});
