// End to end, as root: a real instance (three daemons), three network namespaces on tap ports of
// one bridge. Ping, TCP bytes delivered intact, MAC learning seen from a third host, the datapath
// forwarding while vswitchd is dead and vswitchd re-syncing on restart, and `vswitch stop`
// leaving no tap behind.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { requireRoot } from './helpers.js';
import { Instance, linkExists, sleep, type Host } from './instance.js';

const root = requireRoot();

describe.skipIf(!root)('switch end to end (tap ports, three hosts)', () => {
  let vs: Instance;
  let h1: Host, h2: Host, h3: Host;
  let br = '';

  beforeAll(() => {
    vs = new Instance();
    vs.ok('vswitch', 'start');
    br = `b${vs.id}`; // the bridge's internal port is a host device: unique name
    vs.ok('vsctl', 'add-br', br);
    h1 = vs.addHost(br, 1, '10.9.0.1');
    h2 = vs.addHost(br, 2, '10.9.0.2');
    h3 = vs.addHost(br, 3, '10.9.0.3');
  });

  afterAll(() => vs?.destroy());

  it('vsctl show lists the bridge and its tap ports', () => {
    const out = vs.ok('vsctl', 'show');
    expect(out).toContain(`Bridge ${br}`);
    for (const h of [h1, h2, h3]) expect(out).toMatch(new RegExp(`Port ${h.tap}\\n\\s+Interface ${h.tap}\\n\\s+type: tap`));
  });

  it('hosts ping each other through the switch', () => {
    const r = vs.inHost(h1, 'ping', '-c', '3', '-i', '0.2', '-W', '2', h2.ip);
    expect(r.stdout + vs.logs()).toMatch(/3 packets transmitted, 3 received/);
    const r3 = vs.inHost(h3, 'ping', '-c', '2', '-i', '0.2', '-W', '2', h1.ip);
    expect(r3.stdout).toMatch(/2 packets transmitted, 2 received/);
  });

  it('moves TCP data intact between namespaces', async () => {
    const server = vs.spawnInHost(h2, process.execPath, '-e', `
      const net = require('net'), crypto = require('crypto');
      const h = crypto.createHash('sha256'); let n = 0;
      const s = net.createServer((c) => {
        c.on('data', (d) => { h.update(d); n += d.length; });
        c.on('end', () => { process.stdout.write(n + ' ' + h.digest('hex') + '\\n'); c.end(); s.close(); });
      }).listen(5000, '${h2.ip}', () => process.stderr.write('listening\\n'));`);
    let serverOut = '';
    server.stdout!.on('data', (d) => { serverOut += d; });
    await new Promise<void>((resolve, reject) => {
      server.stderr!.on('data', (d) => { if (String(d).includes('listening')) resolve(); });
      server.once('exit', () => reject(new Error('server exited')));
    });
    const client = vs.inHost(h1, process.execPath, '-e', `
      const net = require('net'), crypto = require('crypto');
      const data = crypto.randomBytes(8 * 1024 * 1024);
      const c = net.connect(5000, '${h2.ip}', () => c.end(data));
      c.on('close', () => process.stdout.write(data.length + ' ' + crypto.createHash('sha256').update(data).digest('hex') + '\\n'));
      c.on('error', (e) => { console.error(e.message); process.exit(1); });`);
    expect(client.status, client.stderr).toBe(0);
    await once(server, 'exit');
    expect(serverOut.trim()).toBe(client.stdout.trim());
    expect(serverOut).toMatch(/^8388608 [0-9a-f]{64}/);
  });

  it('a third host sees unicast between two others only until their MACs are learned', async () => {
    // Static neighbours: no ARP, so the first frames go to still-unknown destinations.
    vs.inHost(h1, 'ip', 'neigh', 'replace', h2.ip, 'lladdr', h2.mac, 'dev', h1.tap, 'nud', 'permanent');
    vs.inHost(h2, 'ip', 'neigh', 'replace', h1.ip, 'lladdr', h1.mac, 'dev', h2.tap, 'nud', 'permanent');
    vs.ok('appctl', 'fdb/flush', br);
    vs.ok('dpctl', 'del-flows');
    const dump = vs.spawnInHost(h3, 'tcpdump', '-i', h3.tap, '-nn', '-e', '-l', '-p', 'icmp');
    let seen = '';
    dump.stdout!.on('data', (d) => { seen += d; });
    await new Promise<void>((resolve) => {
      dump.stderr!.on('data', (d) => { if (String(d).includes('listening on')) resolve(); });
    });
    const first = vs.inHost(h1, 'ping', '-c', '1', '-W', '2', h2.ip);
    expect(first.stdout).toMatch(/1 received/);
    await sleep(1500); // learning happened; give revalidation its pass
    const before = seen.split('\n').filter((l) => l.includes('ICMP echo')).length;
    const later = vs.inHost(h1, 'ping', '-c', '5', '-i', '0.2', '-W', '2', h2.ip);
    expect(later.stdout).toMatch(/5 received/);
    await sleep(500);
    dump.kill('SIGTERM');
    await once(dump, 'exit');
    const total = seen.split('\n').filter((l) => l.includes('ICMP echo')).length;
    expect(before, `h3 should have seen the first, flooded echo request:\n${seen}`).toBeGreaterThanOrEqual(1);
    expect(total - before, `h3 saw unicast after learning:\n${seen}`).toBe(0);
    const fdb = vs.ok('appctl', 'fdb/show', br);
    expect(fdb).toContain(h1.mac);
    expect(fdb).toContain(h2.mac);
  });

  it('keeps forwarding on cached flows while vswitchd is dead, and re-syncs on restart', async () => {
    expect(vs.inHost(h1, 'ping', '-c', '2', '-i', '0.2', '-W', '2', h2.ip).stdout).toMatch(/2 received/);
    const before = vs.ok('dpctl', 'dump-flows');
    expect(before).toMatch(/actions:/);
    process.kill(vs.pid('vswitchd'), 'SIGKILL');
    await sleep(300);
    expect(vs.tool('vswitch', 'status').stdout).toMatch(/vswitchd is not running/);
    const during = vs.inHost(h1, 'ping', '-c', '10', '-i', '0.2', '-W', '2', h2.ip);
    expect(during.stdout, vs.logs()).toMatch(/10 packets transmitted, 10 received/);
    vs.ok('vswitch', 'start');
    const taps = vs.ok('dpctl', 'show');
    for (const h of [h1, h2, h3]) expect(taps).toContain(h.tap);
    // The MACs come back from the cached flows, and new traffic still gets through.
    const fdb = vs.ok('appctl', 'fdb/show', br);
    expect(fdb).toContain(h1.mac);
    expect(vs.inHost(h3, 'ping', '-c', '2', '-i', '0.2', '-W', '2', h2.ip).stdout).toMatch(/2 received/);
    expect(vs.inHost(h1, 'ping', '-c', '2', '-i', '0.2', '-W', '2', h2.ip).stdout).toMatch(/2 received/);
    // The taps were not recreated: the hosts kept their addresses.
    expect(vs.inHost(h1, 'ip', 'addr', 'show', h1.tap).stdout).toContain(h1.ip);
  });

  it('vswitch stop removes every tap it created', () => {
    vs.ok('vswitch', 'stop');
    for (const h of [h1, h2, h3]) {
      expect(linkExists(h.tap, h.ns)).toBe(false);
      expect(linkExists(h.tap)).toBe(false);
    }
    expect(linkExists(br)).toBe(false);
    expect(vs.tool('vswitch', 'status').status).not.toBe(0);
  });
});
