// End to end, as root: a real instance, namespaces on tap ports. VLANs in NORMAL: access ports
// in VLAN 10 and 20 on one bridge are isolated; a trunk (a veth pair between two bridges, both
// ends trunks=10,20) carries both VLANs tagged; tagged frames arriving on an access port are
// dropped. A drop rule added with ofctl stops a running ping at once (and deleting it brings the
// ping back). TCP through a rewrite of addresses and ports (a virtual service address) arrives
// intact, with and without checksum offload on the sender.
// (This kernel has no 802.1Q devices, so the VLAN-aware peer of the trunk is a second bridge
// rather than a namespace with VLAN subinterfaces.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { spawn, spawnSync } from 'node:child_process';
import { requireRoot } from './helpers.js';
import { Instance, sh, sleep, type Host } from './instance.js';

const root = requireRoot();

describe.skipIf(!root)('OpenFlow and VLANs end to end', () => {
  let vs: Instance;
  let brA = '';
  let brB = '';
  let trunkA = '';
  let trapA = '';
  let h1: Host, h2: Host, h3: Host, h4: Host, h5: Host;
  const ping = (from: Host, ip: string, n = 2): boolean =>
    new RegExp(`${n} packets transmitted, ${n} received`).test(vs.inHost(from, 'ping', '-c', String(n), '-i', '0.2', '-W', '1', ip).stdout);
  const ofport = (h: Host): string => vs.ok('vsctl', 'get', 'Interface', h.tap, 'ofport').trim();

  beforeAll(() => {
    vs = new Instance();
    vs.ok('vswitch', 'start');
    brA = `a${vs.id}`;
    brB = `b${vs.id}`;
    vs.ok('vsctl', 'add-br', brA);
    vs.ok('vsctl', 'add-br', brB);
    // Same subnet everywhere: only the VLANs keep the hosts apart.
    h1 = vs.addHost(brA, 1, '10.10.0.1');
    h2 = vs.addHost(brA, 2, '10.10.0.2');
    h3 = vs.addHost(brA, 3, '10.10.0.3');
    h4 = vs.addHost(brB, 4, '10.10.0.4');
    h5 = vs.addHost(brB, 5, '10.10.0.5');
    vs.ok('vsctl', 'set', 'Port', h1.tap, 'tag=10', '--', 'set', 'Port', h2.tap, 'tag=20', '--', 'set', 'Port', h3.tap, 'tag=10',
      '--', 'set', 'Port', h4.tap, 'tag=10', '--', 'set', 'Port', h5.tap, 'tag=20');
    // The trunk between the bridges, and a trap: B sends VLAN 20 tagged into an access port of A.
    trunkA = `ta-${vs.id}`;
    trapA = `xa-${vs.id}`;
    for (const [a, b] of [[trunkA, `tb-${vs.id}`], [trapA, `xb-${vs.id}`]]) {
      sh('ip', 'link', 'add', a, 'type', 'veth', 'peer', 'name', b);
      sh('ip', 'link', 'set', a, 'up');
      sh('ip', 'link', 'set', b, 'up');
    }
    vs.ok('vsctl', 'add-port', brA, trunkA, 'trunks=10,20', '--', 'add-port', brB, `tb-${vs.id}`, 'trunks=10,20',
      '--', 'add-port', brA, trapA, 'tag=10', '--', 'add-port', brB, `xb-${vs.id}`, 'trunks=20');
  });

  afterAll(() => {
    for (const l of [trunkA, trapA]) if (l) spawnSync('ip', ['link', 'del', l], { stdio: 'ignore' });
    vs?.destroy();
  });

  it('keeps VLAN 10 and VLAN 20 apart on one bridge, and connects each VLAN', () => {
    expect(ping(h1, h3.ip), vs.logs()).toBe(true);
    expect(ping(h1, h2.ip)).toBe(false);
    expect(ping(h2, h3.ip)).toBe(false);
    const fdb = vs.ok('appctl', 'fdb/show', brA);
    expect(fdb).toMatch(new RegExp(`\\s10\\s+${h1.mac}`));
    expect(fdb).not.toMatch(new RegExp(`\\s20\\s+${h1.mac}`));
  });

  it('carries both VLANs tagged over a trunk, each only to its own VLAN', async () => {
    const dump = spawn('tcpdump', ['-i', trunkA, '-nn', '-e', '-l', '-p', 'vlan']);
    let seen = '';
    dump.stdout.on('data', (d) => { seen += d; });
    await new Promise<void>((resolve) => dump.stderr.on('data', (d) => { if (String(d).includes('listening on')) resolve(); }));
    try {
      expect(ping(h1, h4.ip), vs.logs()).toBe(true); // VLAN 10 across the trunk
      expect(ping(h2, h5.ip)).toBe(true); // VLAN 20 across the trunk
      expect(ping(h1, h5.ip)).toBe(false);
      expect(ping(h3, h5.ip)).toBe(false);
      await sleep(300);
    } finally {
      dump.kill('SIGTERM');
      await once(dump, 'exit');
    }
    expect(seen).toMatch(/vlan 10, p 0, ethertype IPv4.*10\.10\.0\.1 > 10\.10\.0\.4: ICMP echo request/);
    expect(seen).toMatch(/vlan 20, p 0, ethertype IPv4.*10\.10\.0\.2 > 10\.10\.0\.5: ICMP echo request/);
    expect(seen).not.toMatch(/vlan 10,.*10\.10\.0\.2 > /);
    const flows = vs.ok('appctl', 'dpif/dump-flows', brA);
    expect(flows).toMatch(/push_vlan\(vid=10,pcp=0\)/);
    expect(flows).toMatch(/push_vlan\(vid=20,pcp=0\)/);
    expect(flows).toMatch(/pop_vlan/);
  });

  it('drops tagged frames arriving on an access port', () => {
    // h5's broadcasts (VLAN 20) leave B through the trap tagged, into A's access port (VLAN 10).
    expect(ping(h5, '10.10.0.99', 1)).toBe(false);
    expect(vs.ok('appctl', 'coverage/show')).toMatch(new RegExp(`${brA}\\.drop_vlan_invalid\\s+[1-9]`));
    expect(ping(h1, h3.ip)).toBe(true);
  });

  it('stops a running ping at once when ofctl adds a drop rule, and resumes when it is deleted', async () => {
    const p = vs.spawnInHost(h1, 'ping', '-D', '-i', '0.05', '-W', '1', h3.ip);
    let out = '';
    p.stdout!.on('data', (d) => { out += d; });
    /** Times (s) of the replies received so far. */
    const replies = (): number[] => [...out.matchAll(/^\[(\d+\.\d+)\] \d+ bytes from/gm)].map((m) => Number(m[1]));
    const waitReplies = async (n: number, ms: number): Promise<boolean> => {
      const end = Date.now() + ms;
      while (replies().length < n && Date.now() < end) await sleep(20);
      return replies().length >= n;
    };
    expect(await waitReplies(10, 5000), out + vs.logs()).toBe(true);
    vs.ok('ofctl', 'add-flow', brA, `priority=100,icmp,in_port=${ofport(h1)},actions=drop`);
    const added = Date.now() / 1000;
    await sleep(1500);
    // Nothing gets through once add-flow returned (a reply already on its way may still land).
    expect(replies().filter((t) => t > added + 0.05), out).toEqual([]);
    const dump = vs.ok('ofctl', 'dump-flows', brA, 'icmp');
    expect(dump).toMatch(/n_packets=([1-9]\d*), .*priority=100,icmp,in_port=\d+ actions=drop/);
    vs.ok('ofctl', 'del-flows', brA, `icmp,in_port=${ofport(h1)}`);
    const n = replies().length;
    expect(await waitReplies(n + 5, 3000), out).toBe(true);
    p.kill('SIGINT');
    await once(p, 'exit');
  });

  it('rewrites addresses and ports for TCP (a virtual service) with the bytes intact', async () => {
    const vip = '10.10.0.100';
    vs.inHost(h1, 'ip', 'neigh', 'replace', vip, 'lladdr', h3.mac, 'dev', h1.tap, 'nud', 'permanent');
    const p1 = ofport(h1);
    const p3 = ofport(h3);
    vs.ok('ofctl', 'add-flow', brA, `priority=200,tcp,in_port=${p1},nw_dst=${vip},tp_dst=8080,actions=mod_nw_dst:${h3.ip},mod_tp_dst:5000,NORMAL`);
    vs.ok('ofctl', 'add-flow', brA, `priority=200,tcp,in_port=${p3},nw_src=${h3.ip},tp_src=5000,actions=mod_nw_src:${vip},mod_tp_src:8080,NORMAL`);
    const transfer = async (label: string): Promise<void> => {
      const server = vs.spawnInHost(h3, process.execPath, '-e', `
        const net = require('net'), crypto = require('crypto');
        const h = crypto.createHash('sha256'); let n = 0;
        const s = net.createServer((c) => {
          c.on('data', (d) => { h.update(d); n += d.length; });
          c.on('end', () => { process.stdout.write(n + ' ' + h.digest('hex') + '\\n'); c.end(); s.close(); });
        }).listen(5000, '${h3.ip}', () => process.stderr.write('listening\\n'));`);
      let serverOut = '';
      server.stdout!.on('data', (d) => { serverOut += d; });
      await new Promise<void>((resolve, reject) => {
        server.stderr!.on('data', (d) => { if (String(d).includes('listening')) resolve(); });
        server.once('exit', () => reject(new Error('server exited')));
      });
      const client = vs.inHost(h1, process.execPath, '-e', `
        const net = require('net'), crypto = require('crypto');
        const data = crypto.randomBytes(4 * 1024 * 1024);
        const c = net.connect(8080, '${vip}', () => c.end(data));
        c.setTimeout(20000, () => { console.error('timeout'); process.exit(1); });
        c.on('close', () => process.stdout.write(data.length + ' ' + crypto.createHash('sha256').update(data).digest('hex') + '\\n'));
        c.on('error', (e) => { console.error(e.message); process.exit(1); });`);
      expect(client.status, `${label}: ${client.stderr}${vs.logs()}`).toBe(0);
      await once(server, 'exit');
      expect(serverOut.trim(), label).toBe(client.stdout.trim());
    };
    await transfer('offloads on');
    // Full checksums from the sender: the receiving kernel verifies every rewritten one.
    sh('ip', 'netns', 'exec', h1.ns, 'ethtool', '-K', h1.tap, 'tx', 'off');
    sh('ip', 'netns', 'exec', h3.ns, 'ethtool', '-K', h3.tap, 'tx', 'off');
    await transfer('offloads off');
    const trace = vs.ok('appctl', 'ofproto/trace', brA, `in_port=${p1},tcp,nw_src=${h1.ip},nw_dst=${vip},tp_dst=8080`);
    expect(trace).toMatch(/Datapath actions: set\(ipv4\(dst=10\.10\.0\.3\)\),set\(tcp\(dst=5000\)\)/);
    const stats = vs.ok('ofctl', 'dump-flows', brA, 'tcp');
    expect(stats).toMatch(/n_packets=[1-9]\d*, .*tp_dst=8080 actions=mod_nw_dst/);
  });
});
