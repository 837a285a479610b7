import { describe, expect, it } from 'vitest';
import { ACT_OUTPUT } from '../../../src/lib/dpif-proto.js';
import { KEY_WORDS, W_IN_PORT, W_TYPE_TCI } from '../../../src/lib/flow-key.js';
import { dpName, formatFlows, formatShow, humanSize, main, type DpPort } from '../../../tools/dpctl.js';
import { capture } from './helpers.js';

const stats = {
  name: 'vswitch', hit: 12, missed: 3, lost: 1, flows: 2, flow_limit: 200000,
  masks: { hit: 20, total: 2 },
  emc: { hit: 5, megaflow_hit: 7, inserted: 1, entries: 1, size: 8192, insert_inv_prob: 100 },
  upcall: { queued_bytes: 0, unsent_bytes: 10, max_bytes: 4194304, port_max_bytes: 262144 },
  counters: { upcall_lost: 1, rx_runt: 0, hit: 12 },
  drops: ['upcall_lost', 'rx_runt'],
};
const ports: DpPort[] = [
  { port_no: 2, name: 'p1', type: 'tap', stats: { rx_packets: 5, rx_bytes: 2048, tx_packets: 7, tx_bytes: 100, rx_dropped: 1, tx_dropped: 0, rx_errors: 0, tx_errors: 2 } },
  { port_no: 1, name: 'br0', type: 'internal' },
];

describe('dpctl output', () => {
  it('show: datapath, lookups, flows, masks as OVS prints them, caches, ports sorted by number', () => {
    expect(formatShow(stats, ports, false)).toBe(
      'netdev@vswitch:\n  lookups: hit:12 missed:3 lost:1\n  flows: 2\n  masks: hit:20 total:2 hit/pkt:1.33\n' +
        '  caches: emc-hit:5 megaflow-hit:7 emc-entries:1/8192 emc-inserted:1 emc-insert-inv-prob:100\n' +
        '  port 1: br0 (internal)\n  port 2: p1 (tap)\n',
    );
    expect(formatShow({ name: 'x', hit: 0, missed: 0, lost: 0, flows: 0 }, [], false)).toBe('netdev@x:\n  lookups: hit:0 missed:0 lost:0\n  flows: 0\n');
  });

  it('show -s: per-port counters as ovs-dpctl prints them, and the named counters', () => {
    expect(formatShow(stats, ports, true)).toBe(
      [
        'netdev@vswitch:',
        '  lookups: hit:12 missed:3 lost:1',
        '  flows: 2',
        '  masks: hit:20 total:2 hit/pkt:1.33',
        '  caches: emc-hit:5 megaflow-hit:7 emc-entries:1/8192 emc-inserted:1 emc-insert-inv-prob:100',
        '  limits: flows:200000 upcall-bytes:4194304 upcall-bytes-per-port:262144',
        '  upcall queue: queued:0 unsent:10',
        '  counters:',
        '    upcall_lost: 1 (drop)',
        '    rx_runt: 0 (drop)',
        '    hit: 12',
        '  port 1: br0 (internal)',
        '    RX packets:? errors:? dropped:? overruns:? frame:?',
        '    TX packets:? errors:? dropped:? aborted:? carrier:?',
        '    collisions:?',
        '    RX bytes:?  TX bytes:?',
        '  port 2: p1 (tap)',
        '    RX packets:5 errors:0 dropped:1 overruns:? frame:?',
        '    TX packets:7 errors:2 dropped:0 aborted:? carrier:?',
        '    collisions:?',
        '    RX bytes:2048 (2.0 KiB)  TX bytes:100',
        '',
      ].join('\n'),
    );
  });

  it('sizes and names', () => {
    expect(humanSize(1023)).toBe('');
    expect(humanSize(1536)).toBe(' (1.5 KiB)');
    expect(humanSize(3 * 1024 ** 3)).toBe(' (3.0 GiB)');
    expect(dpName({ name: 'vswitch' })).toBe('netdev@vswitch');
    expect(dpName({ name: 'netdev@x' })).toBe('netdev@x');
  });

  it('dump-flows: one line per flow, port names with --names', () => {
    const key = new Array(KEY_WORDS).fill(0);
    key[W_IN_PORT] = 2;
    key[W_TYPE_TCI] = 0x88b5 << 16;
    const flows = [{ key, actions: [ACT_OUTPUT, 1], packets: 3, bytes: 180, used: 9500, created: 1000 }];
    const byNumber = formatFlows(flows, null, 10000);
    expect(byNumber).toMatch(/^in_port\(2\),eth\(src=00:00:00:00:00:00,dst=00:00:00:00:00:00\),eth_type\(0x88b5\), packets:3, bytes:180, used:0\.500s, actions:1\n$/);
    const byName = formatFlows(flows, ports, 10000);
    expect(byName).toMatch(/^in_port\(p1\),.*, actions:br0\n$/);
    expect(formatFlows([], ports)).toBe('');
    // A megaflow: wildcarded fields left out, recirc_id first.
    const mask = new Array(KEY_WORDS).fill(0);
    mask[W_IN_PORT] = 0xffffffff;
    mask[W_TYPE_TCI] = 0xffff0000;
    const mega = formatFlows([{ ...flows[0], mask }], null, 10000);
    expect(mega).toBe('recirc_id(0),in_port(2),eth_type(0x88b5), packets:3, bytes:180, used:0.500s, actions:1\n');
  });
});

describe('dpctl command line', () => {
  it('help, unknown commands, argument counts, unreachable datapath', async () => {
    const env = { VSWITCH_RUNDIR: '/nonexistent-rundir' };
    let io = capture();
    expect(await main(['--help'], io, env)).toBe(0);
    for (const s of ['show [DP]', 'dump-flows [DP]', 'del-flows [DP]', '--statistics', '--names', '--dp-sock=PATH', '/nonexistent-rundir/datapath.sock']) expect(io.stdout).toContain(s);
    io = capture();
    expect(await main(['frob'], io, env)).toBe(1);
    expect(io.stderr).toBe("dpctl: unknown command 'frob'; use --help for help\n");
    io = capture();
    expect(await main(['show', 'a', 'b'], io, env)).toBe(1);
    expect(io.stderr).toBe("dpctl: 'show' command takes at most 1 arguments\n");
    io = capture();
    expect(await main(['show', '-s'], io, env)).toBe(1);
    expect(io.stderr).toBe('dpctl: cannot connect to the datapath at "/nonexistent-rundir/datapath.sock" (No such file or directory); is it running?\n');
  });
});
