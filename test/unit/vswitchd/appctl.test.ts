import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { connectUnix, RpcError } from '../../../src/lib/jsonrpc.js';
import { Appctl } from '../../../src/vswitchd/appctl.js';
import { formatFdb } from '../../../src/vswitchd/bridge-commands.js';
import { Bridge, BridgePort, OFPP_LOCAL, TRUNK_ALL } from '../../../src/vswitchd/bridge.js';

function setup(): { ctl: Appctl; mods: Map<string, pino.Logger>; exits: number[] } {
  const root = pino({ level: 'info' }, pino.destination('/dev/null'));
  const mods = new Map<string, pino.Logger>([['vswitchd', root], ['upcall', root.child({ module: 'upcall' })]]);
  const exits: number[] = [];
  const ctl = new Appctl(root, mods, () => exits.push(1));
  ctl.register('fdb/show', 'bridge', 1, 1, ([b]) => `fdb of ${b}\n`);
  return { ctl, mods, exits };
}

describe('Appctl', () => {
  it('answers over its socket; errors come back as plain strings like unixctl', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'appctl-'));
    const { ctl } = setup();
    try {
      await ctl.listen(join(dir, 'vswitchd.ctl'));
      const c = await connectUnix(join(dir, 'vswitchd.ctl'));
      expect(await c.request('fdb/show', ['br0'])).toBe('fdb of br0\n');
      const e = (await c.request('fdb/show', []).catch((x) => x)) as RpcError;
      expect(e).toBeInstanceOf(RpcError);
      expect(e.error).toBe('"fdb/show" command requires at least 1 arguments');
      const u = (await c.request('bogus', []).catch((x) => x)) as RpcError;
      expect(u.error).toBe('"bogus" is not a valid command (use "list-commands" to see a list of valid commands)');
      const m = (await c.request('fdb/show', ['a', 'b']).catch((x) => x)) as RpcError;
      expect(m.error).toBe('"fdb/show" command takes at most 1 arguments');
      c.close();
    } finally {
      await ctl.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('lists commands with usage, reports its version, and exits on request', async () => {
    const { ctl, exits } = setup();
    const list = await ctl.run('list-commands', []);
    expect(list.split('\n')[0]).toBe('The available commands are:');
    expect(list).toContain(`  ${'fdb/show'.padEnd(23)} bridge\n`);
    expect(list).toContain('  version\n');
    expect(await ctl.run('version', [])).toMatch(/^vswitchd \(vswitch\) \d+\.\d+\.\d+$/);
    expect(await ctl.run('exit', [])).toBe('');
    await new Promise((r) => setImmediate(r));
    expect(exits).toEqual([1]);
  });

  it('sets log levels per module with vlog/set and shows them with vlog/list', async () => {
    const { ctl, mods } = setup();
    await ctl.run('vlog/set', ['upcall:file:dbg']);
    expect(mods.get('upcall')!.level).toBe('debug');
    expect(mods.get('vswitchd')!.level).toBe('info');
    await ctl.run('vlog/set', ['ANY:warn']);
    expect(mods.get('vswitchd')!.level).toBe('warn');
    expect(await ctl.run('vlog/list', [])).toMatch(/upcall\s+WARN\n/);
    await expect(ctl.run('vlog/set', ['nosuch:dbg'])).rejects.toThrow('"nosuch": unknown module, destination, or level');
  });
});

describe('formatFdb', () => {
  it('prints like ovs-appctl fdb/show: right-aligned port (LOCAL), VLAN, MAC, age', () => {
    const br = new Bridge('br0', 'u');
    br.portsByOfport.set(OFPP_LOCAL, new BridgePort(br, 'br0', 'internal', 'br0', OFPP_LOCAL, 1, TRUNK_ALL));
    br.macs.learn(0x0200000000aa, 0, 1, 1000);
    br.macs.learn(0x0200000000bb, 10, OFPP_LOCAL, 2000);
    expect(formatFdb(br, 13500)).toBe(
      ' port  VLAN  MAC                Age\n' +
        '    1     0  02:00:00:00:00:aa   12\n' +
        'LOCAL    10  02:00:00:00:00:bb   11\n',
    );
  });
});

describe('ofctl/dump-flows (formatOfctlFlows)', () => {
  it('prints the tables like ovs-ofctl, filtered as a non-strict dump', async () => {
    const { formatOfctlFlows } = await import('../../../src/vswitchd/bridge-commands.js');
    const { parseFlow } = await import('../../../src/vswitchd/ofp/flow-syntax.js');
    const { Bridge } = await import('../../../src/vswitchd/bridge.js');
    const br = new Bridge('br0', 'u');
    const t0 = br.tables.select({ table: 0 })[0].created;
    br.tables.apply(parseFlow('table=1,priority=5,cookie=0x7,tcp,tp_dst=80,actions=drop'), t0);
    const all = formatOfctlFlows(br, undefined, t0 + 1500);
    expect(all).toBe(
      ' cookie=0x0, duration=1.500s, table=0, n_packets=0, n_bytes=0, priority=0 actions=NORMAL\n' +
      ' cookie=0x7, duration=1.500s, table=1, n_packets=0, n_bytes=0, priority=5,tcp,tp_dst=80 actions=drop\n',
    );
    expect(formatOfctlFlows(br, 'table=0', t0)).toMatch(/^ cookie=0x0, duration=0s, table=0, .*actions=NORMAL\n$/);
    expect(formatOfctlFlows(br, 'tcp', t0)).toMatch(/table=1/);
    expect(formatOfctlFlows(br, 'udp', t0)).toBe('');
  });
});
