// End to end, as root: system ports (existing devices through AF_PACKET) and offloads. Network
// namespaces attached by veth pairs (offloads left on, the kernel's default) and by taps: ping
// and many MB of TCP delivered intact veth-veth, tap-tap (64 KiB GSO frames passing whole) and
// tap-veth; a VLAN tag the kernel strips on a veth comes back; a missing device is explained;
// a veth deleted under a port is reported and the port resumes when it returns. Ports read
// through receive rings (unmapped when the port goes); the recvmmsg fallback moves TCP too.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DpifClient } from '../../src/lib/dpif-client.js';
import { ipv4Frame } from '../../src/lib/packet.js';
import { requireRoot } from './helpers.js';
import { Instance, sh, sleep, type Host } from './instance.js';

const root = requireRoot();
const repoRoot = join(import.meta.dirname, '../..');

/** A namespace joined to `br` by a veth pair: the host end is a system port (type ""). */
function addVethHost(vs: Instance, br: string, n: number, ip: string, vlan?: number): Host & { peer: string } {
  const h = { ns: `vse-${vs.id}-v${n}`, tap: `vh${n}-${vs.id}`, peer: `ve${n}-${vs.id}`, ip, mac: '' };
  sh('ip', 'netns', 'add', h.ns);
  vs.hosts.push(h); // destroy() removes the namespace and the host end (and so the pair)
  sh('ip', 'netns', 'exec', h.ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
  plugVeth(h);
  let dev = h.peer;
  if (vlan !== undefined) {
    dev = `${h.peer}.${vlan}`;
    sh('ip', '-n', h.ns, 'link', 'add', 'link', h.peer, 'name', dev, 'type', 'vlan', 'id', String(vlan));
    sh('ip', '-n', h.ns, 'link', 'set', dev, 'up');
  }
  sh('ip', '-n', h.ns, 'addr', 'add', `${ip}/24`, 'dev', dev);
  sh('ip', '-n', h.ns, 'link', 'set', 'lo', 'up');
  h.mac = sh('ip', 'netns', 'exec', h.ns, 'cat', `/sys/class/net/${h.peer}/address`).trim();
  vs.ok('vsctl', 'add-port', br, h.tap);
  return h;
}

/** (Re)creates the veth pair of h: host end up in the root namespace, peer up in h.ns. */
function plugVeth(h: { ns: string; tap: string; peer: string }): void {
  sh('ip', 'link', 'add', h.tap, 'type', 'veth', 'peer', 'name', h.peer, 'netns', h.ns);
  sh('ip', 'link', 'set', h.tap, 'up');
  sh('ip', '-n', h.ns, 'link', 'set', h.peer, 'up');
}

/** Sends `mb` MiB of random bytes over TCP from `from` to `to`; returns [sent, received] as
 *  "bytes sha256" lines. */
async function tcpTransfer(vs: Instance, from: Host, to: Host, mb: number, port = 5001): Promise<[string, string]> {
  const server = vs.spawnInHost(to, process.execPath, '-e', `
    const net = require('net'), crypto = require('crypto');
    const h = crypto.createHash('sha256'); let n = 0;
    const s = net.createServer((c) => {
      c.on('data', (d) => { h.update(d); n += d.length; });
      c.on('end', () => { process.stdout.write(n + ' ' + h.digest('hex') + '\\n'); c.end(); s.close(); });
    }).listen(${port}, '${to.ip}', () => process.stderr.write('listening\\n'));`);
  let serverOut = '';
  server.stdout!.on('data', (d) => { serverOut += d; });
  await new Promise<void>((resolve, reject) => {
    server.stderr!.on('data', (d) => { if (String(d).includes('listening')) resolve(); });
    server.once('exit', () => reject(new Error('server exited')));
  });
  const client = vs.inHost(from, process.execPath, '-e', `
    const net = require('net'), crypto = require('crypto');
    const data = crypto.randomBytes(${mb} * 1024 * 1024);
    const c = net.connect(${port}, '${to.ip}', () => c.end(data));
    c.on('close', () => process.stdout.write(data.length + ' ' + crypto.createHash('sha256').update(data).digest('hex') + '\\n'));
    c.on('error', (e) => { console.error(e.message); process.exit(1); });`);
  expect(client.status, client.stderr + vs.logs()).toBe(0);
  await once(server, 'exit');
  return [client.stdout.trim(), serverOut.trim()];
}

interface PortInfo { name: string; type: string; link_state: string; error: string; counters: Record<string, number> }

async function portList(vs: Instance): Promise<PortInfo[]> {
  const dp = await DpifClient.connect(join(vs.env.VSWITCH_RUNDIR!, 'datapath.sock'), 'tool', 5000);
  try {
    return (await dp.request('port_list')) as PortInfo[];
  } finally {
    dp.close();
  }
}

async function dpStats(vs: Instance): Promise<{ missed: number }> {
  const dp = await DpifClient.connect(join(vs.env.VSWITCH_RUNDIR!, 'datapath.sock'), 'tool', 5000);
  try {
    return (await dp.request('dp_stats')) as { missed: number };
  } finally {
    dp.close();
  }
}

async function waitFor(what: string, fn: () => boolean | Promise<boolean>, ms = 10000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

/** Packet socket receive rings mapped by the instance's datapath (/proc/PID/maps). */
function ringMappings(vs: Instance): number {
  const pid = readFileSync(join(vs.env.VSWITCH_RUNDIR!, 'datapath.pid'), 'utf8').trim();
  return readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n').filter((l) => /socket:\[\d+\]/.test(l)).length;
}

const offloadsOn = (h: Host & { peer: string }): string =>
  sh('ip', 'netns', 'exec', h.ns, 'ethtool', '-k', h.peer);

describe.skipIf(!root)('system ports and offloads end to end', () => {
  let vs: Instance;
  let br = '';

  beforeAll(() => {
    vs = new Instance();
    vs.ok('vswitch', 'start');
    br = `b${vs.id}`;
    vs.ok('vsctl', 'add-br', br);
  });

  afterAll(() => vs?.destroy());

  it('veth ends as system ports: ping, and 48 MiB of TCP intact with offloads on', async () => {
    const a = addVethHost(vs, br, 1, '10.61.0.1');
    const b = addVethHost(vs, br, 2, '10.61.0.2');
    expect(offloadsOn(a)).toMatch(/tcp-segmentation-offload: on/);
    expect(offloadsOn(a)).toMatch(/tx-checksumming: on/);
    const show = vs.ok('vsctl', 'show');
    expect(show).toContain(`Interface ${a.tap}`);
    expect(show).not.toMatch(/error:/);
    const ping = vs.inHost(a, 'ping', '-c', '3', '-i', '0.2', '-W', '2', b.ip);
    expect(ping.stdout + vs.logs()).toMatch(/3 packets transmitted, 3 received/);
    const [sent, got] = await tcpTransfer(vs, a, b, 48);
    expect(got).toBe(sent);
    expect(got).toMatch(/^50331648 [0-9a-f]{64}$/);
    // IPv6 too: TSO6 frames and their partial checksums.
    for (const [h, addr] of [[a, 'fd61::1'], [b, 'fd61::2']] as const) {
      sh('ip', 'netns', 'exec', h.ns, 'sysctl', '-qw', `net.ipv6.conf.${h.peer}.disable_ipv6=0`);
      sh('ip', '-n', h.ns, 'addr', 'add', `${addr}/64`, 'dev', h.peer, 'nodad');
    }
    const [sent6, got6] = await tcpTransfer(vs, a, { ...b, ip: 'fd61::2' }, 16, 5004);
    expect(got6).toBe(sent6);
    const ports = await portList(vs);
    const pa = ports.find((p) => p.name === a.tap)!;
    expect(pa.type).toBe('system');
    expect(pa.link_state).toBe('up');
    expect(pa.counters.rx_gso, 'the veth peer sent GSO frames and they arrived whole').toBeGreaterThan(0);
    expect(ports.find((p) => p.name === b.tap)!.counters.tx_gso).toBeGreaterThan(0);
    expect(pa.counters.rx_queue_full, 'frames the kernel dropped on the socket are counted').toBeGreaterThanOrEqual(0);
    expect(ringMappings(vs), 'each system port reads through a receive ring').toBe(2);
    vs.ok('vsctl', 'del-port', br, a.tap);
    vs.ok('vsctl', 'del-port', br, b.tap);
    await waitFor('the rings to be unmapped', () => ringMappings(vs) === 0);
  });

  it('tap to tap: 64 KiB GSO frames pass whole and the bytes arrive intact', async () => {
    const a = vs.addHost(br, 3, '10.61.0.3');
    const b = vs.addHost(br, 4, '10.61.0.4');
    expect(vs.inHost(a, 'ping', '-c', '2', '-i', '0.2', '-W', '2', b.ip).stdout).toMatch(/2 received/);
    const [sent, got] = await tcpTransfer(vs, a, b, 48);
    expect(got).toBe(sent);
    const ports = await portList(vs);
    const pb = ports.find((p) => p.name === b.tap)!;
    expect(pb.counters.tx_gso, 'GSO frames forwarded whole to the receiving tap').toBeGreaterThan(0);
    expect(pb.counters.tx_sw_segmented).toBe(0);
    expect(ports.find((p) => p.name === a.tap)!.counters.rx_gso).toBeGreaterThan(0);
    vs.ok('vsctl', 'del-port', br, a.tap);
    vs.ok('vsctl', 'del-port', br, b.tap);
  });

  it('tap to veth and back, with the veth unable to take TSO: TCP intact both ways', async () => {
    const t = vs.addHost(br, 5, '10.61.0.5');
    const v = addVethHost(vs, br, 6, '10.61.0.6');
    // The host end cannot segment: the kernel must cut what the switch sends it.
    sh('ethtool', '-K', v.tap, 'tso', 'off', 'gso', 'off');
    expect(vs.inHost(t, 'ping', '-c', '2', '-i', '0.2', '-W', '2', v.ip).stdout).toMatch(/2 received/);
    // Flows deleted again and again mid-transfer: 64 KiB frames with partial checksums miss, go
    // up to vswitchd without their virtio header and come back as EXECUTEs.
    const churn = spawn(process.execPath, ['-e', `
      import(${JSON.stringify(join(repoRoot, 'dist/src/lib/dpif-client.js'))}).then(async ({ DpifClient }) => {
        const c = await DpifClient.connect(${JSON.stringify(join(vs.env.VSWITCH_RUNDIR!, 'datapath.sock'))}, 'tool');
        for (;;) { await c.request('flow_flush'); await new Promise((r) => setTimeout(r, 20)); }
      });`], { stdio: 'ignore' });
    const missed0 = (await dpStats(vs)).missed;
    let s1 = '', g1 = '';
    try {
      [s1, g1] = await tcpTransfer(vs, t, v, 32, 5002);
    } finally {
      churn.kill('SIGKILL');
    }
    expect(g1).toBe(s1);
    expect((await dpStats(vs)).missed - missed0, 'frames of the transfer went up as misses').toBeGreaterThan(20);
    const [s2, g2] = await tcpTransfer(vs, v, t, 32, 5003);
    expect(g2).toBe(s2);
    vs.ok('vsctl', 'del-port', br, t.tap);
    vs.ok('vsctl', 'del-port', br, v.tap);
  });

  it('puts back the VLAN tag the kernel stripped on receive', async () => {
    const a = addVethHost(vs, br, 7, '10.62.0.7');
    const b = addVethHost(vs, br, 8, '10.62.0.8');
    // A tagged frame sent into the veth: the host end's receive path moves the tag out of the
    // frame (skb_vlan_untag) before any packet socket sees it.
    const frame = ipv4Frame({ src: a.mac, dst: 'ff:ff:ff:ff:ff:ff', vlan: { vid: 100, pcp: 3 } }, { src: a.ip, dst: '10.62.0.255' },
      { udp: { src: 7777, dst: 9 } }, new Uint8Array(32).fill(0x42));
    const dump = vs.spawnInHost(b, 'tcpdump', '-i', b.peer, '-nn', '-e', '-l', '-p', 'vlan 100 and udp port 9');
    let seen = '';
    dump.stdout!.on('data', (d) => { seen += d; });
    await new Promise<void>((resolve) => {
      dump.stderr!.on('data', (d) => { if (String(d).includes('listening on')) resolve(); });
    });
    const send = vs.inHost(a, process.execPath, '-e', `
      const io = require(${JSON.stringify(join(repoRoot, 'build/Release/vswitch_io.node'))});
      const f = Buffer.from('${Buffer.from(frame).toString('hex')}', 'hex');
      const fd = io.packetOpen('${a.peer}', false);
      const st = new Float64Array(8);
      for (let i = 0; i < 3; i++) io.packetSendBurst(fd, f, Int32Array.of(0), Int32Array.of(f.length), 1, new Uint8Array(10), 0, st);
      io.fdClose(fd);`);
    expect(send.status, send.stderr).toBe(0);
    await waitFor('the tagged frame at the other host', () => /vlan 100, p 3/.test(seen));
    dump.kill('SIGTERM');
    const flows = vs.ok('dpctl', 'dump-flows');
    expect(flows).toMatch(/vlan\(vid=100,pcp=3/);
    const ports = await portList(vs);
    expect(ports.find((p) => p.name === a.tap)!.counters.rx_vlan_restored).toBeGreaterThan(0);
    vs.ok('vsctl', 'del-port', br, a.tap);
    vs.ok('vsctl', 'del-port', br, b.tap);
  });

  it('explains a missing device, and picks it up once it exists', async () => {
    const name = `vm9-${vs.id}`;
    vs.ok('vsctl', 'add-port', br, name);
    const show = vs.ok('vsctl', 'show');
    expect(show).toContain(`error: "could not open network device ${name} (No such device); to have the switch create it, use type=tap or type=internal"`);
    const h = { ns: `vse-${vs.id}-m`, tap: name, peer: `vm9p-${vs.id}`, ip: '10.61.0.9', mac: '' };
    sh('ip', 'netns', 'add', h.ns);
    vs.hosts.push(h);
    plugVeth(h);
    await waitFor('the port to come up', () => !vs.ok('vsctl', 'show').includes('error:'));
    expect(vs.ok('vsctl', 'get', 'Interface', name, 'ofport').trim()).toMatch(/^[1-9]\d*$/);
    vs.ok('vsctl', 'del-port', br, name);
  });

  it('recreates a tap port whose device was deleted behind its back', async () => {
    const t = vs.addHost(br, 12, '10.61.0.12');
    sh('ip', '-n', t.ns, 'link', 'del', t.tap);
    await waitFor('the tap to come back in the root namespace', () => spawnSync('ip', ['link', 'show', t.tap]).status === 0);
    await waitFor('no error left', () => !vs.ok('vsctl', 'show').includes('error:'));
    const ports = await portList(vs);
    expect(ports.find((p) => p.name === t.tap)!.counters.rx_error).toBeGreaterThan(0);
    vs.ok('vsctl', 'del-port', br, t.tap);
    expect(spawnSync('ip', ['link', 'show', t.tap]).status).not.toBe(0);
  });

  it('reports a veth deleted under a port, and resumes traffic when it is recreated', async () => {
    const a = addVethHost(vs, br, 10, '10.61.0.10');
    const b = addVethHost(vs, br, 11, '10.61.0.11');
    expect(vs.inHost(a, 'ping', '-c', '2', '-i', '0.2', '-W', '2', b.ip).stdout).toMatch(/2 received/);
    sh('ip', 'link', 'del', b.tap);
    await sleep(300);
    await waitFor('the error in vsctl show', () => vs.ok('vsctl', 'show').includes(`network device ${b.tap} disappeared`));
    expect(vs.ok('vsctl', 'get', 'Interface', b.tap, 'link_state').trim()).toBe('down');
    expect(vs.tool('vswitch', 'status').status).toBe(0); // nothing crashed
    plugVeth(b);
    sh('ip', '-n', b.ns, 'link', 'set', b.peer, 'address', b.mac); // the same host, back (a keeps its ARP entry)
    sh('ip', '-n', b.ns, 'addr', 'add', `${b.ip}/24`, 'dev', b.peer);
    await waitFor('the error to clear', () => !vs.ok('vsctl', 'show').includes('error:'));
    expect(vs.ok('vsctl', 'get', 'Interface', b.tap, 'link_state').trim()).toBe('up');
    const ping = vs.inHost(a, 'ping', '-c', '3', '-i', '0.2', '-W', '2', b.ip);
    expect(ping.stdout + vs.logs()).toMatch(/3 received/);
    const log = vs.logs();
    expect(log).toMatch(/interface device is (gone|back)/);
  });
});

describe.skipIf(!root)('system ports read with recvmmsg (VSWITCH_PACKET_RX=mmsg)', () => {
  let vs: Instance;
  let br = '';

  beforeAll(() => {
    vs = new Instance();
    vs.env.VSWITCH_PACKET_RX = 'mmsg';
    vs.ok('vswitch', 'start');
    br = `b${vs.id}`;
    vs.ok('vsctl', 'add-br', br);
  });

  afterAll(() => vs?.destroy());

  it('pings and moves 16 MiB of TCP intact, with no ring mapped', async () => {
    const a = addVethHost(vs, br, 1, '10.62.0.1');
    const b = addVethHost(vs, br, 2, '10.62.0.2');
    const ping = vs.inHost(a, 'ping', '-c', '3', '-i', '0.2', '-W', '2', b.ip);
    expect(ping.stdout + vs.logs()).toMatch(/3 packets transmitted, 3 received/);
    const [sent, got] = await tcpTransfer(vs, a, b, 16);
    expect(got).toBe(sent);
    expect(ringMappings(vs)).toBe(0);
    const pa = (await portList(vs)).find((p) => p.name === a.tap)!;
    expect(pa.counters.rx_gso).toBeGreaterThan(0);
  });
});
