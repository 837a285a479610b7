// Apps: --app values (built-in names, module paths, ARG), loading modules that export a
// factory, a class, an object or createApp, refusing modules that export no app, option
// strings, and the example app from docs/controller.md working in front of l2-learning.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { builtinApps, loadApp, parseAppSpec, registerApp } from '../../../src/controller/app.js';
import { L2Learning } from '../../../src/controller/apps/l2-learning.js';
import { parseAppOptions } from '../../../src/controller/apps/options.js';
import { ipv4Frame } from '../../../src/lib/packet.js';
import { formatMatch } from '../../../src/vswitchd/ofp/match-syntax.js';
import { frame, until } from './fake-switch.js';
import { cleanup, connectSwitch, dir, removeDir, startController } from './helpers.js';

afterEach(cleanup);
afterAll(removeDir);

const EXAMPLE = resolve(__dirname, '../../../examples/block-tcp-port.js');

function writeModule(name: string, text: string): string {
  const d = join(dir, 'apps');
  mkdirSync(d, { recursive: true });
  const f = join(d, name);
  writeFileSync(f, text);
  return f;
}

describe('--app values', () => {
  it('splits built-in names, module paths and ARG', () => {
    expect(parseAppSpec('l2-learning')).toEqual({ name: 'l2-learning', path: null, arg: undefined });
    expect(parseAppSpec('static:/etc/vs/flows.yaml')).toEqual({ name: 'static', path: null, arg: '/etc/vs/flows.yaml' });
    expect(parseAppSpec('./my-app.js')).toEqual({ name: null, path: './my-app.js', arg: undefined });
    expect(parseAppSpec('my-app.mjs:a=1,b=2')).toEqual({ name: null, path: 'my-app.mjs', arg: 'a=1,b=2' });
    expect(parseAppSpec('/opt/apps/fw:23')).toEqual({ name: null, path: '/opt/apps/fw', arg: '23' });
    expect(parseAppSpec('unknown-name')).toEqual({ name: 'unknown-name', path: null, arg: undefined });
    expect(() => parseAppSpec(':x')).toThrow(/an app name or module path is needed/);
    expect(builtinApps().map((a) => a.name)).toEqual(expect.arrayContaining(['l2-learning', 'static']));
  });

  it('loads built-in apps with their ARG, and registered ones', async () => {
    const l2 = await loadApp('l2-learning:idle_timeout=9');
    expect(l2).toBeInstanceOf(L2Learning);
    expect((l2 as L2Learning).opts.idleTimeout).toBe(9);
    await expect(loadApp('l2-learning:bogus=1')).rejects.toMatchObject({ code: 'APP_ARG' });
    await expect(loadApp('nosuch')).rejects.toMatchObject({ code: 'NO_SUCH_APP', message: expect.stringMatching(/built in: .*l2-learning/) });
    registerApp('test-registered', (arg) => ({ name: `reg-${arg}` }), 'for tests');
    expect((await loadApp('test-registered:x')).name).toBe('reg-x');
  });

  it('loads modules exporting a factory, a class, an object or createApp, relative to cwd', async () => {
    writeModule('factory.js', 'export default (arg) => ({ name: "f-" + arg });\n');
    writeModule('klass.mjs', 'export default class { constructor(arg) { this.name = "c-" + arg; } }\n');
    writeModule('object.js', 'export default { name: "o" };\n');
    writeModule('named.js', 'export async function createApp(arg) { return { name: "n-" + (arg ?? "none") }; }\n');
    const cwd = join(dir, 'apps');
    expect((await loadApp('./factory.js:1', cwd)).name).toBe('f-1');
    expect((await loadApp('klass.mjs:2', cwd)).name).toBe('c-2');
    expect((await loadApp(join(cwd, 'object.js'))).name).toBe('o');
    expect((await loadApp('./named.js', cwd)).name).toBe('n-none');
  });

  it('refuses modules that are missing, broken or export no app', async () => {
    writeModule('nothing.js', 'export const x = 1;\n');
    writeModule('noname.js', 'export default () => ({ onPacketIn() {} });\n');
    writeModule('broken.js', 'export default {{;\n');
    const cwd = join(dir, 'apps');
    await expect(loadApp('./nothing.js', cwd)).rejects.toMatchObject({ code: 'APP_LOAD', message: expect.stringMatching(/export a factory/) });
    await expect(loadApp('./noname.js', cwd)).rejects.toMatchObject({ code: 'APP_LOAD', message: expect.stringMatching(/did not return an app/) });
    await expect(loadApp('./broken.js', cwd)).rejects.toMatchObject({ code: 'APP_LOAD', message: expect.stringMatching(/cannot load/) });
    await expect(loadApp('./absent.js', cwd)).rejects.toMatchObject({ code: 'NO_SUCH_APP', message: expect.stringMatching(/no such file/) });
  });

  it('parses key=value options', () => {
    const spec = { n: { type: 'int', min: 1, max: 9 }, b: { type: 'bool' }, s: { type: 'string' }, c: { type: 'bigint' } } as const;
    expect(parseAppOptions('x', 'n=3, b, s=hello,c=0xffffffffffffffff', spec)).toEqual({ n: 3, b: true, s: 'hello', c: 2n ** 64n - 1n });
    expect(parseAppOptions('x', 'b=off', spec)).toEqual({ b: false });
    expect(() => parseAppOptions('x', 'n=10', spec)).toThrow(/x: n=10: out of range \(1-9\)/);
    expect(() => parseAppOptions('x', 'n=-1', spec)).toThrow(/not a non-negative integer/);
    expect(() => parseAppOptions('x', 'c=0x10000000000000000', spec)).toThrow(/more than 64 bits/);
    expect(() => parseAppOptions('x', 's', spec)).toThrow(/s needs a value/);
  });
});

describe('the example app (examples/block-tcp-port.js)', () => {
  it('installs drop flows and stops blocked packets before l2-learning', async () => {
    const block = await loadApp(`${EXAMPLE}:2323`);
    await expect(loadApp(`${EXAMPLE}:http`)).rejects.toThrow(/"http" is not a TCP port/);
    const l2 = await loadApp('l2-learning');
    const t = await startController([block, l2]);
    const sw = await connectSwitch(t, 0x99n);
    await until(() => sw.flows().length === 3);
    expect(sw.flows().slice(0, 2).map((e) => [e.priority, e.actions.length])).toEqual([[40000, 0], [40000, 0]]);
    const eth = { src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' };
    const ip = { src: '10.0.0.1', dst: '10.0.0.2' };
    sw.packetIn(1, ipv4Frame(eth, ip, { tcp: { src: 5000, dst: 2323 } }));
    sw.packetIn(1, ipv4Frame(eth, ip, { tcp: { src: 5000, dst: 80 } }));
    sw.packetIn(1, frame('ff:ff:ff:ff:ff:ff', '02:00:00:00:00:01'));
    await until(() => sw.packetOuts.length === 2);
    const ports = sw.packetOuts.map((m) => Buffer.from(m.packetOut!.data!).readUInt16BE(36));
    expect(ports[0]).toBe(80);
    expect(block.describe?.()).toEqual({ port: 2323, blocked: 1 });
    // The switch itself drops the blocked port now.
    expect(sw.flows().slice(0, 2).map((e) => formatMatch(e.match, e.priority)).sort()).toEqual(['priority=40000,tcp,tp_dst=2323', 'priority=40000,tcp6,tp_dst=2323']);
    // A VLAN-tagged blocked packet is recognized too.
    sw.packetIn(1, ipv4Frame({ ...eth, vlan: { vid: 5 } }, ip, { tcp: { src: 1, dst: 2323 } }));
    await until(() => (block.describe?.() as { blocked: number }).blocked === 2);
    expect(sw.packetOuts).toHaveLength(2);
  });
});
