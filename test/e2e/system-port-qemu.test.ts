// End to end, as root: a QEMU guest's own tap as a system port. QEMU creates the tap (with its
// virtio-net offloads) and runs scripts/vswitch-ifup, which adds it to the bridge as type
// system; a namespace on a veth system port and the guest ping each other and move TCP data
// both ways with matching sizes and SHA-256. Stopping the guest removes its tap: the port says
// so in `vsctl show`, and nothing crashes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { requireRoot } from './helpers.js';
import { Instance, sh, sleep, type Host } from './instance.js';
import { buildGuestImage, Guest, parseTransfer, requireQemu, step, stopAllGuests, tapNetdev, type GuestImage } from './qemu.js';

const root = requireRoot('the QEMU system-port tests');

describe.skipIf(!root)('a QEMU guest on a system port', () => {
  let vs: Instance;
  let image: GuestImage;
  let br = '';
  let host: Host & { peer: string };

  beforeAll(() => {
    requireQemu();
    image = buildGuestImage();
    vs = new Instance();
    vs.ok('vswitch', 'start');
    br = `b${vs.id}`;
    vs.ok('vsctl', 'add-br', br);
    host = { ns: `vse-${vs.id}-q`, tap: `vq-${vs.id}`, peer: `vqp-${vs.id}`, ip: '10.63.0.1', mac: '' };
    sh('ip', 'netns', 'add', host.ns);
    vs.hosts.push(host);
    sh('ip', 'netns', 'exec', host.ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
    sh('ip', 'link', 'add', host.tap, 'type', 'veth', 'peer', 'name', host.peer, 'netns', host.ns);
    sh('ip', 'link', 'set', host.tap, 'up');
    sh('ip', '-n', host.ns, 'addr', 'add', `${host.ip}/24`, 'dev', host.peer);
    sh('ip', '-n', host.ns, 'link', 'set', host.peer, 'up');
    vs.ok('vsctl', 'add-port', br, host.tap);
  }, 300_000);

  afterAll(async () => {
    await stopAllGuests();
    vs?.destroy();
  });

  it('pings and moves TCP data both ways, then reports the tap gone when the guest stops', async () => {
    const tap = `gt-${vs.id}`;
    const bytes = 8 * 1024 * 1024 + 77;
    // A receiver in the namespace for the guest's transfer.
    const server = vs.spawnInHost(host, process.execPath, '-e', `
      const net = require('net'), crypto = require('crypto');
      const h = crypto.createHash('sha256'); let n = 0;
      const s = net.createServer((c) => {
        c.on('data', (d) => { h.update(d); n += d.length; });
        c.on('end', () => { process.stdout.write('bytes=' + n + ' sha256=' + h.digest('hex') + '\\n'); c.end(); s.close(); });
      }).listen(5005, '${host.ip}', () => process.stderr.write('listening\\n'));`);
    const serverExit = once(server, 'exit'); // it may exit before the guest's marker is read
    let serverOut = '';
    server.stdout!.on('data', (d) => { serverOut += d; });
    await new Promise<void>((resolve) => server.stderr!.on('data', (d) => { if (String(d).includes('listening')) resolve(); }));

    const g = Guest.start({
      image, netdev: tapNetdev(tap), ip: '10.63.0.2/24',
      env: { ...vs.env, VSWITCH_BRIDGE: br },
      steps: [step.recv(5001), step.ping(host.ip), step.send(host.ip, 5005, bytes), step.wait, step.stay],
    });
    await g.waitFor(/^VSGUEST: ping 10\.63\.0\.1 ok$/, 60_000);
    expect(vs.ok('vsctl', 'get', 'Interface', tap, 'type').trim()).toBe('system');
    const sent = parseTransfer((await g.waitFor(/^VSGUEST: send .* ok$/, 40_000))[0]);
    await serverExit;
    expect(parseTransfer(serverOut)).toEqual(sent);
    expect(sent.bytes).toBe(bytes);

    // The other way: the namespace sends to the guest's receiver.
    const client = vs.inHost(host, 'timeout', '60', process.execPath, '-e', `
      const net = require('net'), crypto = require('crypto');
      const data = crypto.randomBytes(${bytes});
      const c = net.connect(5001, '10.63.0.2', () => c.end(data));
      c.on('close', () => process.stdout.write('bytes=' + data.length + ' sha256=' + crypto.createHash('sha256').update(data).digest('hex') + '\\n'));
      c.on('error', (e) => { console.error(e.message); process.exit(1); });`);
    expect(client.status, `${client.stderr}\n${g.output()}\n${vs.ok('dpctl', 'show', '-s')}`).toBe(0);
    const got = parseTransfer((await g.waitFor(/^VSGUEST: recv 5001 .*$/, 30_000))[0]);
    expect(got).toEqual(parseTransfer(client.stdout));

    // QEMU gone, its tap gone: reported, not fatal.
    await g.stop();
    const end = Date.now() + 10_000;
    while (!vs.ok('vsctl', 'show').includes(`network device ${tap} disappeared`) && vs.ok('vsctl', 'list-ports', br).includes(tap)) {
      if (Date.now() > end) throw new Error(`no error for ${tap}:\n${vs.ok('vsctl', 'show')}`);
      await sleep(200);
    }
    expect(vs.tool('vswitch', 'status').status).toBe(0);
  }, 240_000);
});
