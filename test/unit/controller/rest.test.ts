// The REST API through fastify's inject (and once over a real socket): switches, ports, port and
// table stats, flows (list, add, modify, delete), roles, packet-out, apps, /metrics; schema
// validation errors, flow syntax errors with a pointer, switch refusals, unknown switches and
// routes as JSON errors with codes; the bearer token; no listening beyond loopback without one.
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { L2Learning, parseL2Options } from '../../../src/controller/apps/l2-learning.js';
import { buildRest, startRest } from '../../../src/controller/rest.js';
import { OFPP_LOCAL } from '../../../src/vswitchd/ofp/layout.js';
import { FakeSwitch, frame, until, wirePort } from './fake-switch.js';
import { cleanup, connectSwitch, quietLog, removeDir, startController, type TestController } from './helpers.js';

afterAll(removeDir);

let t: TestController;
let fs: FakeSwitch;
let api: FastifyInstance;
const DPID = '00000000000000a1';

beforeEach(async () => {
  t = await startController([new L2Learning(parseL2Options('table_miss=no'))]);
  fs = await connectSwitch(t, 0xa1n);
  fs.ports.push(wirePort(OFPP_LOCAL, 'br0'));
  await t.ctrl.switch(0xa1n)!.refreshPorts();
  api = await buildRest({ controller: t.ctrl, log: quietLog(), version: '9.9' });
});
afterEach(async () => {
  await api.close();
  await cleanup();
});

const get = async (url: string) => {
  const r = await api.inject({ method: 'GET', url });
  return { status: r.statusCode, body: r.headers['content-type']?.toString().startsWith('application/json') ? r.json() : r.body, headers: r.headers };
};
const send = async (method: 'POST' | 'DELETE', url: string, payload?: unknown) => {
  const r = await api.inject({ method, url, payload: payload as never });
  return { status: r.statusCode, body: r.json() };
};

describe('REST API', () => {
  it('lists switches and describes one', async () => {
    const root = await get('/');
    expect(root.body).toMatchObject({ name: 'vscontroller', version: '9.9', apps: ['l2-learning'], switches: 1 });
    const list = await get('/switches');
    expect(list.status).toBe(200);
    expect(list.body.switches).toEqual([expect.objectContaining({ dpid: DPID, agent: 'fake switch', n_tables: 255, n_ports: 4, role: 'equal' })]);
    for (const form of [DPID, '0xa1', '161', '00:00:00:00:00:00:00:a1']) {
      const one = await get(`/switches/${form}`);
      expect(one.status).toBe(200);
      expect(one.body.dpid).toBe(DPID);
    }
    const one = await get(`/switches/${DPID}`);
    expect(one.body.ports[3]).toEqual({ port_no: OFPP_LOCAL, name: 'br0', hw_addr: '02:00:00:00:00:fe', config: 0, state: 4, up: true, curr_speed: 10000000, max_speed: 0 });
    expect(one.body.desc).toMatchObject({ sw: 'fake switch' });
  });

  it('answers unknown switches, bad dpids and unknown routes with JSON errors', async () => {
    expect(await get('/switches/00000000000000ff')).toMatchObject({ status: 404, body: { error: { code: 'NO_SUCH_SWITCH' } } });
    expect(await get('/switches/xyz/flows')).toMatchObject({ status: 400, body: { error: { code: 'BAD_DPID' } } });
    expect(await get('/nope')).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND', message: 'no route GET /nope' } } });
  });

  it('shows ports (cached or refreshed), port stats and table stats', async () => {
    const ports = await get(`/switches/${DPID}/ports`);
    expect(ports.body.ports.map((p: { name: string }) => p.name)).toEqual(['p1', 'p2', 'p3', 'br0']);
    fs.ports.push(wirePort(9, 'late'));
    expect((await get(`/switches/${DPID}/ports`)).body.ports).toHaveLength(4);
    expect((await get(`/switches/${DPID}/ports?refresh=true`)).body.ports).toHaveLength(5);
    const stats = await get(`/switches/${DPID}/ports/stats`);
    expect(stats.body.stats[0]).toEqual({ port_no: 1, name: 'p1', rx_packets: 10, tx_packets: 20, rx_bytes: 1000, tx_bytes: 2000, rx_dropped: 0, tx_dropped: 0, rx_errors: 0, tx_errors: 0, duration_sec: 0 });
    expect(stats.body.stats).toHaveLength(5);
    expect((await get(`/switches/${DPID}/ports/stats?port=p2`)).body.stats.map((s: { port_no: number }) => s.port_no)).toEqual([2]);
    expect((await get(`/switches/${DPID}/ports/stats?port=LOCAL`)).body.stats.map((s: { name: string }) => s.name)).toEqual(['br0']);
    expect(await get(`/switches/${DPID}/ports/stats?port=bogus`)).toMatchObject({ status: 400, body: { error: { code: 'BAD_PORT' } } });
    expect((await get(`/switches/${DPID}/tables`)).body.tables[0]).toMatchObject({ table_id: 0, active_count: 1 });
  });

  it('adds, lists, modifies and deletes flows', async () => {
    const add = await send('POST', `/switches/${DPID}/flows`, { flow: 'priority=100,in_port=p1,tcp,tp_dst=22,actions=output:p2' });
    expect(add).toEqual({ status: 200, body: { applied: 1 } });
    expect((await send('POST', `/switches/${DPID}/flows`, { flows: ['table=1,priority=1,actions=drop', 'table=1,priority=2,cookie=0x5,actions=drop'] })).body).toEqual({ applied: 2 });
    const flows = await get(`/switches/${DPID}/flows`);
    expect(flows.body.flows).toHaveLength(4);
    expect(flows.body.flows[0]).toMatchObject({
      table: 0, priority: 100, cookie: '0x0', idle_timeout: 0, packet_count: 0, match: 'tcp,in_port=p1,tp_dst=22', actions: 'output:p2',
    });
    expect(flows.body.flows[0].flow).toMatch(/^cookie=0x0, duration=[\d.]+s, table=0, n_packets=0, n_bytes=0, priority=100,tcp,in_port=p1,tp_dst=22 actions=output:p2$/);
    expect((await get(`/switches/${DPID}/flows?filter=${encodeURIComponent('table=1')}`)).body.flows.map((f: { priority: number }) => f.priority)).toEqual([2, 1]);
    expect((await get(`/switches/${DPID}/flows/aggregate?filter=table=1`)).body).toEqual({ packet_count: 0, byte_count: 0, flow_count: 2 });
    // modify: new actions for what the match covers
    expect((await send('POST', `/switches/${DPID}/flows`, { command: 'modify', flow: 'table=1,actions=output:3' })).body).toEqual({ applied: 1 });
    expect(fs.flows(1).map((e) => e.actions)).toEqual([[{ type: 'output', port: 3 }], [{ type: 'output', port: 3 }]]);
    // delete with a body, strict
    expect((await send('DELETE', `/switches/${DPID}/flows`, { filter: 'table=1,priority=2', strict: true })).body).toEqual({ deleted: true, filter: 'table=1,priority=2' });
    expect(fs.flows(1).map((e) => e.priority)).toEqual([1]);
    // delete with the query string, no body
    expect((await send('DELETE', `/switches/${DPID}/flows?filter=table=1`)).status).toBe(200);
    expect(fs.flows(1)).toHaveLength(0);
    // delete everything
    expect((await send('DELETE', `/switches/${DPID}/flows`)).status).toBe(200);
    expect(fs.tables.count).toBe(0);
  });

  it('validates bodies with the schemas', async () => {
    const url = `/switches/${DPID}/flows`;
    const cases: [unknown, RegExp][] = [
      [{}, /must match exactly one schema in oneOf|must have required property/],
      [{ flow: 'actions=drop', flows: ['actions=drop'] }, /oneOf/],
      [{ flow: 'actions=drop', extra: 1 }, /must NOT have additional properties/],
      [{ flow: 'actions=drop', command: 'replace' }, /must be equal to one of the allowed values/],
      [{ flows: [] }, /must NOT have fewer than 1 items/],
      [{ flow: '' }, /must NOT have fewer than 1 characters/],
    ];
    for (const [body, re] of cases) {
      const r = await send('POST', url, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.code).toBe('BAD_REQUEST');
      expect(r.body.error.message).toMatch(re);
      expect(Array.isArray(r.body.error.details)).toBe(true);
    }
    const notJson = await api.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: '{"flow": ' });
    expect(notJson.statusCode).toBe(400);
    expect(notJson.json().error.code).toBe('BAD_JSON');
    const role = await send('POST', `/switches/${DPID}/role`, { role: 'boss' });
    expect(role.status).toBe(400);
    expect(fs.flowMods).toHaveLength(0);
  });

  it('reports a flow syntax error with where it is, and sends nothing', async () => {
    const r = await send('POST', `/switches/${DPID}/flows`, { flows: ['priority=1,actions=drop', 'priority=2,tcp,nw_dst=10.0.0.1,tp_dst=80,actions=outptu:2'] });
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: 'FLOW_SYNTAX', index: 1, message: 'unknown action outptu' });
    const input = 'priority=2,tcp,nw_dst=10.0.0.1,tp_dst=80,actions=outptu:2';
    expect(r.body.error.pointer).toBe(`${input}\n${' '.repeat(input.indexOf('outptu'))}^~~~~~`);
    expect(fs.flowMods).toHaveLength(0);
  });

  it('passes on what the switch refused (409) with the OpenFlow error, and what it applied', async () => {
    await send('POST', `/switches/${DPID}/flows`, { flow: 'priority=5,in_port=1,actions=drop' });
    const r = await send('POST', `/switches/${DPID}/flows`, { flows: ['priority=6,actions=drop', 'priority=5,check_overlap,actions=drop'] });
    expect(r.status).toBe(409);
    expect(r.body.error).toMatchObject({ code: 'OFPFMFC_OVERLAP', applied: 1, failed: [{ index: 1, code: 'OFPFMFC_OVERLAP' }] });
  });

  it('sets roles and sends packets out', async () => {
    const r = await send('POST', `/switches/${DPID}/role`, { role: 'master', generation_id: '0x10' });
    expect(r).toEqual({ status: 200, body: { role: 'master', generation_id: '16' } });
    const stale = await send('POST', `/switches/${DPID}/role`, { role: 'slave', generation_id: '3' });
    expect(stale).toMatchObject({ status: 409, body: { error: { code: 'OFPRRFC_STALE' } } });
    const data = Buffer.from(frame('02:00:00:00:00:02', '02:00:00:00:00:01')).toString('hex');
    const po = await send('POST', `/switches/${DPID}/packet-out`, { in_port: 'p1', actions: 'output:p2', data });
    expect(po).toEqual({ status: 200, body: { sent: true, bytes: 64 } });
    expect(fs.packetOuts[0].packetOut).toMatchObject({ inPort: 1, actions: [{ kind: 'output', output: { port: 2 } }] });
    expect(Buffer.from(fs.packetOuts[0].packetOut!.data!).toString('hex')).toBe(data);
    expect((await send('POST', `/switches/${DPID}/packet-out`, { actions: 'output:1', data: 'abc' })).status).toBe(400);
  });

  it('lists apps and shows their state', async () => {
    expect((await get('/apps')).body).toEqual({ apps: [{ name: 'l2-learning', description: expect.stringMatching(/MAC learning/) }] });
    fs.packetIn(2, frame('ff:ff:ff:ff:ff:ff', '02:00:00:00:00:33'));
    await until(() => fs.packetOuts.length === 1);
    const st = await get('/apps/l2-learning');
    expect(st.body.state.switches[DPID]).toEqual([{ mac: '02:00:00:00:00:33', port: 2 }]);
    expect(st.body.state.options.cookie).toBe('0x4c32');
    expect(await get('/apps/none')).toMatchObject({ status: 404, body: { error: { code: 'NO_SUCH_APP' } } });
  });

  it('serves Prometheus metrics', async () => {
    fs.packetIn(1, frame('ff:ff:ff:ff:ff:ff', '02:00:00:00:00:01'));
    await until(() => fs.packetOuts.length === 1);
    const m = await get('/metrics');
    expect(m.status).toBe(200);
    expect(m.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(m.body).toMatch(/^# TYPE vscontroller_switches_connected gauge\nvscontroller_switches_connected 1$/m);
    expect(m.body).toMatch(/^vscontroller_packet_ins_total\{dpid="00000000000000a1"\} 1$/m);
    expect(m.body).toMatch(/^vscontroller_packet_outs_total\{dpid="00000000000000a1"\} 1$/m);
    expect(m.body).toMatch(/^vscontroller_app_l2_floods_total\{app="l2-learning"\} 1$/m);
    expect(m.body).toMatch(/^vscontroller_app_l2_macs\{app="l2-learning"\} 1$/m);
    expect(m.body).toMatch(/^vscontroller_packet_in_handling_seconds_count 1$/m);
  });

  it('answers 503 when the switch goes away during a request, and 404 after', async () => {
    fs.conns[0].conn.onMessage(() => new Promise<void>(() => undefined)); // the switch stops answering
    const pending = get(`/switches/${DPID}/flows`);
    await until(() => fs.conns.length === 1);
    setTimeout(() => fs.close(), 50);
    expect(await pending).toMatchObject({ status: 503, body: { error: { code: 'SWITCH_DISCONNECTED' } } });
    await until(() => t.ctrl.switch(0xa1n) === undefined);
    expect((await get(`/switches/${DPID}/flows`)).status).toBe(404);
  });
});

describe('REST API access', () => {
  afterEach(cleanup);

  it('requires the bearer token when one is set', async () => {
    const t2 = await startController([]);
    const app = await buildRest({ controller: t2.ctrl, log: quietLog(), token: 's3cret' });
    try {
      const no = await app.inject({ method: 'GET', url: '/switches' });
      expect(no.statusCode).toBe(401);
      expect(no.headers['www-authenticate']).toBe('Bearer');
      expect(no.json().error.code).toBe('UNAUTHORIZED');
      expect((await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer wrong!' } })).statusCode).toBe(401);
      expect((await app.inject({ method: 'GET', url: '/switches', headers: { authorization: 'Bearer s3cret' } })).statusCode).toBe(200);
    } finally {
      await app.close();
    }
  });

  it('refuses to listen beyond loopback without a token, and serves HTTP on loopback', async () => {
    const t2 = await startController([]);
    await expect(startRest({ controller: t2.ctrl, log: quietLog(), host: '0.0.0.0', port: 0 })).rejects.toMatchObject({ code: 'INSECURE_REST' });
    const srv = await startRest({ controller: t2.ctrl, log: quietLog(), host: '127.0.0.1', port: 0 });
    try {
      expect(srv.url).toBe(`http://127.0.0.1:${srv.port}`);
      const r = await fetch(`${srv.url}/switches`);
      expect(r.status).toBe(200);
      expect(await r.json()).toEqual({ switches: [] });
    } finally {
      await srv.close();
    }
  });
});
