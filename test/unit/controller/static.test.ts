// The static app: reading JSON and YAML flow files (dpid keys in every form, "*", errors that
// point at the bad flow), applying them to a switch (cookie, port names), reapplying on
// reconnect, and making the switch's static flows exactly the file's after a reload.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { loadApp } from '../../../src/controller/app.js';
import { parseStaticFlows, STATIC_COOKIE, StaticFlowsApp } from '../../../src/controller/apps/static.js';
import { ControllerError } from '../../../src/controller/errors.js';
import { F_IN_PORT } from '../../../src/vswitchd/ofp/fields.js';
import { parseFlow } from '../../../src/vswitchd/ofp/flow-syntax.js';
import { FakeSwitch, until } from './fake-switch.js';
import { cleanup, connectSwitch, dir, removeDir, startController } from './helpers.js';

afterEach(cleanup);
afterAll(removeDir);

describe('static flow files', () => {
  it('reads YAML with dpids in every form and "*"', () => {
    const f = parseStaticFlows([
      '# comment',
      '"*":',
      '  - priority=0,actions=NORMAL',
      '0000000000000001:',
      '  - priority=100,in_port=1,actions=output:2',
      '0x2:',
      '  - priority=5,actions=drop',
      '00:00:00:00:00:00:00:01:',
      '  - priority=6,actions=drop',
      '3: []',
    ].join('\n'), 'flows.yaml');
    expect([...f.keys()].sort()).toEqual(['*', '0000000000000001', '0000000000000002', '0000000000000003']);
    expect(f.get('0000000000000001')).toEqual(['priority=100,in_port=1,actions=output:2', 'priority=6,actions=drop']);
  });

  it('reads JSON, and tries JSON then YAML for other names', () => {
    const json = JSON.stringify({ '*': ['actions=drop'], 10: ['priority=1,actions=NORMAL'] });
    // A short number is decimal (as Ryu writes dpids); 16 hex digits or 0x are hex.
    expect([...parseStaticFlows(json, 'f.json').keys()]).toEqual(['000000000000000a', '*']);
    expect(parseStaticFlows(json, 'flows').get('*')).toEqual(['actions=drop']);
    expect(parseStaticFlows('"*": [actions=drop]', 'flows').get('*')).toEqual(['actions=drop']);
    expect(parseStaticFlows('', 'f.yaml').size).toBe(0);
  });

  it('refuses a bad file, naming the flow and pointing at the mistake', () => {
    const bad = (text: string, name = 'f.yaml') => {
      try {
        parseStaticFlows(text, name);
      } catch (e) {
        expect(e).toBeInstanceOf(ControllerError);
        expect((e as ControllerError).code).toBe('STATIC_FILE');
        return (e as Error).message;
      }
      throw new Error('accepted');
    };
    expect(bad('"*":\n  - priority=1,actions=drop\n  - tp_dst=80,actions=drop\n')).toMatch(/f\.yaml: "\*" flow 2: tp_dst requires tcp, udp or sctp\n {2}tp_dst=80,actions=drop\n {2}\^~~~~~~~/);
    expect(bad('- a\n- b\n')).toMatch(/expected a mapping/);
    expect(bad('{"*": "actions=drop"}', 'f.json')).toMatch(/expected a list of flows/);
    expect(bad('{"*": [5]}', 'f.json')).toMatch(/flow 1: expected a flow string/);
    expect(bad('{"zz": []}', 'f.json')).toMatch(/"zz" is not a datapath id/);
    expect(bad('{"*": [', 'f.json')).toMatch(/f\.json: /);
  });

  it('is an app: --app static needs a file that exists', async () => {
    await expect(loadApp('static')).rejects.toThrow(/give the flow file/);
    await expect(loadApp(`static:${join(dir, 'missing.yaml')}`)).rejects.toThrow(/cannot read .*missing\.yaml: ENOENT/);
  });
});

describe('static flows on switches', () => {
  it('applies "*" and per-switch flows with port names, and tags them with its cookie', async () => {
    const file = join(dir, 'a.yaml');
    writeFileSync(file, '"*":\n  - priority=0,actions=NORMAL\n  - priority=10,cookie=0x77,dl_type=0x88cc,actions=drop\n"1":\n  - priority=100,in_port=p1,actions=output:p2\n');
    const app = new StaticFlowsApp(file);
    const t = await startController([app]);
    const s1 = await connectSwitch(t, 1n);
    const s2 = await connectSwitch(t, 2n);
    await until(() => app.lastResult.size === 2);
    expect(app.lastResult.get('0000000000000001')).toEqual({ added: 3, deleted: 0, failed: [] });
    const f1 = s1.flows();
    expect(f1.map((e) => [e.priority, e.cookie])).toEqual([[100, STATIC_COOKIE], [10, 0x77n], [0, STATIC_COOKIE]]);
    expect(f1[0].match.fieldValueNum(F_IN_PORT)).toBe(1);
    expect(f1[0].actions).toEqual([{ type: 'output', port: 2 }]);
    expect(s2.flows().map((e) => e.priority)).toEqual([10, 0]);
    expect(t.ctrl.metrics.registry.render()).toMatch(/vscontroller_app_static_flows_applied_total\{app="static"\} 5/);
  });

  it('reports flows a switch cannot take and applies the rest', async () => {
    const file = join(dir, 'b.yaml');
    writeFileSync(file, '"*":\n  - priority=1,in_port=vm7,actions=drop\n  - priority=2,actions=drop\n  - table=3,priority=3,actions=goto_table:4\n');
    const app = new StaticFlowsApp(file);
    const t = await startController([app]);
    const sw = await connectSwitch(t, 3n);
    await until(() => app.lastResult.size === 1);
    const r = app.lastResult.get('0000000000000003')!;
    expect(r.added).toBe(2);
    expect(r.failed).toEqual([{ flow: 'priority=1,in_port=vm7,actions=drop', error: expect.stringMatching(/vm7/) }]);
    expect(sw.flows().map((e) => e.priority)).toEqual([2, 0]);
    expect(sw.flows(3)).toHaveLength(1);
    expect(t.ctrl.metrics.registry.render()).toMatch(/vscontroller_app_static_flow_failures_total\{app="static"\} 1/);
  });

  it('reapplies on reconnect and, after a reload, removes what the file no longer lists', async () => {
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ '*': ['priority=50,in_port=1,actions=output:2', 'priority=51,in_port=2,actions=output:1'] }));
    const app = new StaticFlowsApp(file);
    const t = await startController([app]);
    const sw = await connectSwitch(t, 4n);
    await until(() => sw.flows().length === 3);
    // Someone deletes a static flow behind the controller's back; the switch reconnects.
    sw.tables.apply(parseFlow('priority=50,in_port=1', { command: 'delete_strict' }));
    expect(sw.flows().map((e) => e.priority)).toEqual([51, 0]);
    sw.close();
    await until(() => t.ctrl.switch(4n) === undefined);
    await sw.connect(t.target);
    await until(() => sw.flows().length === 3);
    expect(sw.flows().map((e) => e.priority)).toEqual([51, 50, 0]);
    // Someone else's flow (another cookie) is left alone by the reload below.
    sw.tables.apply(parseFlow('priority=7,cookie=0x1,actions=drop'));
    writeFileSync(file, JSON.stringify({ '*': ['priority=51,in_port=2,actions=output:3', 'priority=60,actions=drop'] }));
    await t.ctrl.reload();
    expect(sw.flows().map((e) => [e.priority, e.actions])).toEqual([
      [60, []], [51, [{ type: 'output', port: 3 }]], [7, []], [0, [{ type: 'output', port: 0xfffa }]],
    ]);
    expect(app.lastResult.get('0000000000000004')).toEqual({ added: 2, deleted: 1, failed: [] });
    // A broken file on reload keeps the flows and the previous list.
    writeFileSync(file, '{"*": [');
    await t.ctrl.reload();
    expect(app.flowsFor('0000000000000004')).toEqual(['priority=51,in_port=2,actions=output:3', 'priority=60,actions=drop']);
  });

  it('reapplies to a second fake switch instance with the same dpid', async () => {
    const file = join(dir, 'd.yaml');
    writeFileSync(file, '"5":\n  - priority=9,actions=drop\n');
    const t = await startController([new StaticFlowsApp(file)]);
    const a = await connectSwitch(t, 5n);
    await until(() => a.flows().length === 2);
    const b = new FakeSwitch(5n);
    await b.connect(t.target);
    await until(() => b.flows().length === 2);
    b.close();
  });
});
