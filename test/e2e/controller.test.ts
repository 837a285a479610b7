// End to end, as root: vscontroller (the real process) programming a real instance's bridge
// over the flow protocol. Hosts in namespaces on tap ports; the bridge in fail mode secure
// with `vsctl set-controller`. Controller-driven forwarding where, once warm, steady traffic
// makes no packet-in; a controller restart (flows keep forwarding, the switch reconnects);
// standalone versus secure without a controller; two controllers with roles; the REST API
// changing what the switch does.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bridgeWithHosts, json, metric, pingOk, startCtl, waitSwitches, type Ctl } from './controller-helpers.js';
import { requireRoot } from './helpers.js';
import { sleep, type Host, type Instance } from './instance.js';

const root = requireRoot('controller end-to-end tests');
describe.skipIf(!root)('vscontroller with a real switch', () => {
  let vs: Instance;
  let h1: Host, h2: Host, h3: Host;
  let br = '';
  const ctls: Ctl[] = [];

  const ping = (from: Host, to: Host, n = 3): boolean => pingOk(vs, from, to, n);

  beforeAll(() => {
    ({ vs, br, hosts: [h1, h2, h3] } = bridgeWithHosts('c', '10.19.0', 'secure'));
  });

  afterAll(async () => {
    for (const c of ctls) await c.stop();
    vs?.destroy();
  });

  it('forwards with l2-learning, and once warm steady traffic makes no packet-in', async () => {
    const c = await startCtl(['--app', 'l2-learning:idle_timeout=60']);
    ctls.push(c);
    vs.ok('vsctl', 'set-controller', br, `tcp:127.0.0.1:${c.port}`);
    const [sw] = await waitSwitches(c, 1);
    expect(ping(h1, h2), vs.logs() + c.log()).toBe(true);
    const flows = await json(`${c.rest}/switches/${sw.dpid}/flows`);
    expect(flows.body.flows.filter((f: { cookie: string }) => f.cookie === '0x4c32').length).toBeGreaterThanOrEqual(3);
    const before = await metric(c, 'vscontroller_packet_ins_total');
    expect(ping(h1, h2, 20)).toBe(true);
    const tcp = vs.spawnInHost(h2, 'iperf3', '-s', '-1');
    await sleep(500);
    const r = vs.inHost(h1, 'iperf3', '-c', h2.ip, '-t', '2');
    tcp.kill();
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(await metric(c, 'vscontroller_packet_ins_total')).toBe(before);
  });

  it('keeps forwarding while the controller restarts, and the switch reconnects to the new one', async () => {
    const old = ctls.pop()!;
    const port = old.port;
    await old.stop();
    expect(ping(h1, h2)).toBe(true); // learned flows, fail mode secure: no NORMAL fallback needed
    const c = await startCtl(['--app', 'l2-learning'], port);
    ctls.push(c);
    await waitSwitches(c, 1, 30000);
    expect(ping(h3, h1)).toBe(true); // a new pair, learned by the new controller
    expect(await metric(c, 'vscontroller_packet_ins_total')).toBeGreaterThan(0);
  });

  it('lets the REST API change what the switch does', async () => {
    const c = ctls[ctls.length - 1];
    const [sw] = await waitSwitches(c, 1);
    const url = `${c.rest}/switches/${sw.dpid}/flows`;
    const add = await json(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ flow: `priority=60000,ip,nw_dst=${h2.ip},actions=drop` }) });
    expect(add).toEqual({ status: 200, body: { applied: 1 } });
    expect(ping(h1, h2, 2)).toBe(false);
    const del = await json(url, { method: 'DELETE', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ filter: 'priority=60000,ip', strict: false }) });
    expect(del.status).toBe(200);
    expect(ping(h1, h2)).toBe(true);
    const stats = await json(`${c.rest}/switches/${sw.dpid}/ports/stats`);
    expect(stats.body.stats.some((s: { rx_packets: number }) => s.rx_packets > 0)).toBe(true);
  });

  it('two controllers with roles: the newer master programs the switch, the older one is refused', async () => {
    const a = ctls[ctls.length - 1];
    const b = await startCtl(['--role', 'master', '--generation-id', '100']);
    ctls.push(b);
    vs.ok('vsctl', 'set-controller', br, `tcp:127.0.0.1:${a.port}`, `tcp:127.0.0.1:${b.port}`);
    const [sw] = await waitSwitches(b, 1);
    await waitSwitches(a, 1);
    expect(sw.role).toBe('master');
    const body = JSON.stringify({ role: 'slave', generation_id: '50' });
    const stale = await json(`${a.rest}/switches/${sw.dpid}/role`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(stale.body.error?.code).toBe('OFPRRFC_STALE');
    await json(`${a.rest}/switches/${sw.dpid}/role`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ role: 'slave', generation_id: '101' }) });
    const refused = await json(`${a.rest}/switches/${sw.dpid}/flows`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ flow: 'priority=1,actions=drop' }) });
    expect(refused).toMatchObject({ status: 409, body: { error: { code: 'OFPBRC_IS_SLAVE' } } });
    const ok = await json(`${b.rest}/switches/${sw.dpid}/flows`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ flow: 'priority=1,cookie=0x77,actions=drop' }) });
    expect(ok.status).toBe(200);
    vs.ok('vsctl', 'set-controller', br, `tcp:127.0.0.1:${a.port}`);
    await b.stop();
  });

  it('without a controller: secure drops new traffic, standalone falls back to NORMAL', async () => {
    for (const c of ctls.splice(0)) await c.stop();
    vs.ok('vsctl', 'set-controller', br, 'tcp:127.0.0.1:9'); // nobody listens there
    vs.ok('ofctl', 'del-flows', br);
    expect(ping(h1, h3, 2)).toBe(false);
    vs.ok('vsctl', 'set-fail-mode', br, 'standalone');
    let ok = false;
    for (let i = 0; i < 30 && !ok; i++) {
      ok = ping(h1, h3, 2);
      if (!ok) await sleep(1000);
    }
    expect(ok, vs.logs()).toBe(true);
  });
});
