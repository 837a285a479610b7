// The vswitch scraper: parsing the datapath's and vswitchd's coverage/show text (the datapath's
// as its own Counters class prints it), rendering valid Prometheus families, and scraping two
// control sockets (JSON-RPC, as appctl does) with one daemon answering and one absent.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseDatapathCoverage, parseVswitchdCoverage, renderDatapath, scrapeVswitch } from '../../../src/controller/vswitch-scrape.js';
import { C_HIT, C_UPCALL_LOST, COUNTERS, Counters } from '../../../src/datapath/counters.js';
import { JsonRpcServer } from '../../../src/lib/jsonrpc.js';

const rundir = mkdtempSync(join(tmpdir(), 'vscrape-'));
afterAll(() => rmSync(rundir, { recursive: true, force: true }));

const VSWITCHD_TEXT = 'Event counters:\nupcalls                      17\nflow_limit                   200000\nbr0.mac_learned              2\nbr-x.flows_installed         5\n';

describe('coverage/show parsing', () => {
  it('reads every datapath counter with its drop mark, from the datapath\'s own text', () => {
    const c = new Counters();
    c.v[C_HIT] = 1234;
    c.v[C_UPCALL_LOST] = 7;
    const samples = parseDatapathCoverage(c.coverage());
    expect(samples).toHaveLength(COUNTERS.length);
    expect(samples.find((s) => s.name === 'hit')).toEqual({ name: 'hit', value: 1234, bridge: '', drop: false });
    expect(samples.find((s) => s.name === 'upcall_lost')).toEqual({ name: 'upcall_lost', value: 7, bridge: '', drop: true });
    expect(renderDatapath(samples)).toMatch(/^vswitch_datapath_events_total\{event="upcall_lost",drop="true"\} 7$/m);
  });

  it('reads vswitchd counters, per bridge where named so', () => {
    expect(parseVswitchdCoverage(VSWITCHD_TEXT)).toEqual([
      { name: 'upcalls', bridge: '', value: 17, drop: false },
      { name: 'flow_limit', bridge: '', value: 200000, drop: false },
      { name: 'mac_learned', bridge: 'br0', value: 2, drop: false },
      { name: 'flows_installed', bridge: 'br-x', value: 5, drop: false },
    ]);
  });
});

describe('scrapeVswitch', () => {
  it('asks both control sockets; a missing daemon shows as down', async () => {
    const c = new Counters();
    c.v[C_HIT] = 42;
    const seen: string[] = [];
    const srv = new JsonRpcServer((conn) => conn.onRequest((method) => {
      seen.push(method);
      if (method !== 'coverage/show') throw new Error('unexpected');
      return c.coverage();
    }));
    await srv.listenUnix(join(rundir, 'datapath.ctl'));
    try {
      const text = await scrapeVswitch(rundir, 500);
      expect(seen).toEqual(['coverage/show']);
      expect(text).toMatch(/^vswitch_scrape_up\{daemon="vswitchd"\} 0$/m);
      expect(text).toMatch(/^vswitch_scrape_up\{daemon="datapath"\} 1$/m);
      expect(text).toMatch(/^vswitch_datapath_events_total\{event="hit",drop="false"\} 42$/m);
      expect(text).not.toMatch(/vswitch_vswitchd_counter\{/);
      const v = new JsonRpcServer((conn) => conn.onRequest(() => VSWITCHD_TEXT));
      await v.listenUnix(join(rundir, 'vswitchd.ctl'));
      try {
        const both = await scrapeVswitch(rundir, 500);
        expect(both).toMatch(/^vswitch_scrape_up\{daemon="vswitchd"\} 1$/m);
        expect(both).toMatch(/^vswitch_vswitchd_counter\{counter="mac_learned",bridge="br0"\} 2$/m);
        expect(both.match(/^# TYPE /gm)).toHaveLength(4);
      } finally {
        await v.close();
      }
    } finally {
      await srv.close();
    }
  });
});
