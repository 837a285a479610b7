// End to end, as root: fail mode standalone with a real vscontroller. Traffic runs while the
// controller is killed: the bridge keeps forwarding (the controller's flows until it fails
// open after three inactivity probes, then NORMAL with the flows flushed), a new pair of hosts
// can talk without any controller, and a restarted controller admits the switch again (it
// leaves fail-open and the controller's apps decide again).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bridgeWithHosts, metric, pingOk, startCtl, waitSwitches, type Ctl } from './controller-helpers.js';
import { requireRoot } from './helpers.js';
import { sleep, type Host, type Instance } from './instance.js';

const root = requireRoot('controller fail-mode end-to-end tests');

describe.skipIf(!root)('standalone fail mode with a real controller', () => {
  let vs: Instance;
  let h1: Host, h2: Host, h3: Host;
  let br = '';
  const ctls: Ctl[] = [];

  const ping = (from: Host, to: Host, n = 3): boolean => pingOk(vs, from, to, n);
  const flows = (): string[] => vs.ok('ofctl', 'dump-flows', br).split('\n').filter((l) => l.includes('actions='));

  beforeAll(() => {
    ({ vs, br, hosts: [h1, h2, h3] } = bridgeWithHosts('f', '10.21.0'));
  });

  afterAll(async () => {
    for (const c of ctls) await c.stop();
    vs?.destroy();
  });

  it('killing the controller while traffic runs: forwarding carries on, by NORMAL once failed open', async () => {
    const c = await startCtl(['--app', 'l2-learning']);
    ctls.push(c);
    vs.ok('vsctl', '--inactivity-probe=1000', 'set-controller', br, `tcp:127.0.0.1:${c.port}`);
    await waitSwitches(c, 1);
    expect(ping(h1, h2), vs.logs() + c.log()).toBe(true);
    expect(flows().some((l) => l.includes('CONTROLLER'))).toBe(true);

    const traffic = vs.spawnInHost(h1, 'ping', '-c', '80', '-i', '0.1', '-W', '1', h2.ip);
    let out = '';
    traffic.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const done = new Promise<void>((r) => traffic.once('exit', () => r()));
    await sleep(1500);
    c.child.kill('SIGKILL');
    ctls.pop();
    await done;
    const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
    expect(m, out).not.toBeNull();
    expect(Number(m![2]), out).toBeGreaterThanOrEqual(72); // at most a few lost around the switch-over

    // Failed open: the controller's flows are gone, and a pair it never saw talks by NORMAL.
    expect(flows()).toEqual([]);
    expect(ping(h3, h1), vs.logs()).toBe(true);
  });

  it('a restarted controller admits the switch: fail-open ends and the controller decides again', async () => {
    const c = await startCtl(['--app', 'l2-learning']);
    ctls.push(c);
    vs.ok('vsctl', '--inactivity-probe=1000', 'set-controller', br, `tcp:127.0.0.1:${c.port}`);
    await waitSwitches(c, 1, 30000);
    let table: string[] = [];
    for (let i = 0; i < 50 && !(table = flows()).some((l) => l.includes('CONTROLLER')); i++) await sleep(100);
    expect(table.some((l) => l.includes('CONTROLLER')), table.join('\n')).toBe(true); // l2-learning's table-miss flow is used again
    expect(ping(h2, h3), vs.logs() + c.log()).toBe(true);
    expect(await metric(c, 'vscontroller_packet_ins_total')).toBeGreaterThan(0);
  });
});
