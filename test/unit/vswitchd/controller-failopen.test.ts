/*
 * Fail-open in standalone mode as Open vSwitch does it: only an admitted controller counts
 * (one that is connected but has sent nothing a controller in charge sends leaves the bridge
 * failed open and gets bogus RARP packet-ins every 2 s); entering fail-open flushes the flows;
 * the first admitting message ends fail-open before it is applied; listening targets alone
 * never fail open. Real vsdb, datapath (dummy ports) and vswitchd in-process; fake controllers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bogusRarp } from '../../../src/vswitchd/controllers.js';
import { failOpenAfterMs } from '../../../src/vswitchd/fail-mode.js';
import { admitsSwitch } from '../../../src/vswitchd/ofconn.js';
import { parseFlow } from '../../../src/vswitchd/ofp/flow-syntax.js';
import { OFPP_LOCAL } from '../../../src/vswitchd/ofp/layout.js';
import { NO_BUFFER } from '../../../src/vswitchd/packet-in-limit.js';
import { FakeCtl, setControllers, sleep, wireMod } from './controller-fixture.js';
import { frame, SwitchFixture, until } from './switch-fixture.js';

describe('fail-open rules', () => {
  it('fails open after three probe intervals, or 1 s with probes off', () => {
    expect(failOpenAfterMs(5000)).toBe(15000);
    expect(failOpenAfterMs(200)).toBe(600);
    expect(failOpenAfterMs(0)).toBe(1000);
  });

  it('counts flow mods, packet outs, barriers, stats and role requests as admission, not the handshake', () => {
    for (const b of ['flowMod', 'packetOut', 'barrierRequest', 'multipartRequest', 'roleRequest', 'setAsync', 'portMod']) expect(admitsSwitch(b)).toBe(true);
    for (const b of ['featuresRequest', 'getConfigRequest', 'setConfig', 'getAsyncRequest', 'echoRequest', 'echoReply', 'error', undefined]) expect(admitsSwitch(b)).toBe(false);
  });

  it('makes a RARP request from a Nicira-range MAC', () => {
    const f = bogusRarp();
    expect(f.length).toBe(42);
    expect(Array.from(f.subarray(0, 6))).toEqual([255, 255, 255, 255, 255, 255]);
    expect(Array.from(f.subarray(6, 9))).toEqual([0x00, 0x23, 0x20]);
    expect([(f[12] << 8) | f[13], (f[20] << 8) | f[21]]).toEqual([0x8035, 3]);
    expect(Array.from(f.subarray(22, 28))).toEqual(Array.from(f.subarray(6, 12)));
  });
});

describe('standalone fail-open with a real vswitchd', () => {
  const sw = new SwitchFixture();
  const fakes: FakeCtl[] = [];

  beforeAll(async () => {
    await sw.start('controller-fo-');
  });
  afterAll(async () => {
    await sw.stop();
    for (const f of fakes) await f.server.close();
  });

  it('a connected but not admitted controller: fails open, flushes, gets bogus packet-ins; admission ends it', async () => {
    const f = await new FakeCtl().listen();
    fakes.push(f);
    await setControllers(sw, [{ target: `tcp:127.0.0.1:${f.port}`, inactivity_probe: 200, max_backoff: 1000 }], 'standalone');
    await until('connection', () => f.live().length === 1);
    const c = f.live()[0];
    const br = sw.bridge();
    br.tables.apply(parseFlow('priority=5,actions=drop'));
    expect(br.tables.count).toBe(1);
    await until('fail open although connected', () => br.failOpen, 3000);
    expect(br.tables.count).toBe(0); // flushed on entering fail-open
    const p2 = sw.dev('p2');
    p2.takeSent();
    sw.dev('p1').inject(frame('ff:ff:ff:ff:ff:ff', '02:00:00:00:00:71'));
    await until('flooded by NORMAL', () => p2.sent.length === 1);
    expect(f.packetIns(c).filter((p) => (p.reason ?? 0) !== 0)).toEqual([]); // real packets never reach it

    await until('bogus packet-in', () => f.packetIns(c).length >= 1, 5000);
    const bogus = f.packetIns(c)[0];
    expect([bogus.reason ?? 0, bogus.cookie, bogus.bufferId, bogus.data?.length]).toEqual([0, 0xffffffffffffffffn, NO_BUFFER, 42]);
    expect((bogus.data![12] << 8) | bogus.data![13]).toBe(0x8035);
    const inPort = (bogus.match as { fields: { field: number; value: Uint8Array }[] }).fields.find((x) => x.field === 1)!.value;
    expect((inPort[0] << 8) | inPort[1]).toBe(OFPP_LOCAL);

    // An echo from the controller does not admit it; a flow mod does, and lands in a table
    // that is no longer bypassed.
    await c.echo();
    await sleep(200);
    expect(br.failOpen).toBe(true);
    expect(await c.transact([wireMod('priority=5,actions=drop')])).toEqual([]);
    expect(br.failOpen).toBe(false);
    expect(br.tables.count).toBe(1);
    await sleep(300); // the revalidator replaces the NORMAL datapath flow
    p2.takeSent();
    sw.dev('p1').inject(frame('ff:ff:ff:ff:ff:ff', '02:00:00:00:00:72'));
    await sleep(300);
    expect(p2.sent.length).toBe(0);
    await setControllers(sw, [], '');
  });

  it('listening (ptcp:) targets alone never make the bridge fail open', async () => {
    await setControllers(sw, [{ target: 'ptcp:0:127.0.0.1', inactivity_probe: 100 }], 'standalone');
    await sleep(1200);
    expect(sw.bridge().failOpen).toBe(false);
    await setControllers(sw, [], '');
  });
});
