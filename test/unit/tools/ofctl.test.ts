/*
 * ofctl against a whole switch in-process (vsdb, datapath with dummy ports, vswitchd serving
 * br0.mgmt): every command's output in ovs-ofctl's shape, the syntax error pointer, the
 * switch's errors with the offending message, files and standard input, diff-flows and
 * replace-flows, monitor, packet-out and mod-port.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main as ofctlMain } from '../../../tools/ofctl.js';
import { frame, SwitchFixture, until } from '../vswitchd/switch-fixture.js';
import { capture } from './helpers.js';

describe('ofctl', () => {
  const sw = new SwitchFixture();
  /** Runs ofctl; returns [status, stdout, stderr]. */
  const ofctl = async (...argv: string[]): Promise<[number, string, string]> => {
    const io = capture();
    const code = await ofctlMain(argv, io, sw.env);
    return [code, io.stdout, io.stderr];
  };
  const withStdin = async (text: string, ...argv: string[]): Promise<[number, string, string]> => {
    const io = capture();
    const code = await ofctlMain(argv, io, sw.env, async () => text);
    return [code, io.stdout, io.stderr];
  };
  const file = (name: string, text: string): string => {
    const p = join(sw.dir, name);
    writeFileSync(p, text);
    return p;
  };
  const flows = async (): Promise<string[]> => (await ofctl('--no-stats', 'dump-flows', 'br0'))[1].split('\n').filter(Boolean);
  const reset = async (): Promise<void> => {
    expect((await ofctl('del-flows', 'br0'))[0]).toBe(0);
    expect((await ofctl('add-flow', 'br0', 'priority=0,actions=NORMAL'))[0]).toBe(0);
  };

  beforeAll(async () => {
    await sw.start('ofctl-');
  });
  afterAll(async () => {
    await sw.stop();
  });

  it('--help lists every command and --version prints the version', async () => {
    const [code, out] = await ofctl('--help');
    expect(code).toBe(0);
    for (const c of ['show', 'dump-desc', 'dump-tables', 'mod-port', 'dump-ports', 'dump-ports-desc', 'dump-flows', 'dump-aggregate', 'add-flow',
      'add-flows', 'mod-flows', 'del-flows', 'replace-flows', 'diff-flows', 'packet-out', 'monitor', '--strict', '--names', '--no-names',
      '--no-stats', '--protocols', '--timeout']) {
      expect(out).toContain(c);
    }
    expect((await ofctl('--version'))[1]).toMatch(/^ofctl \(vswitch\) \S+\n$/);
  });

  it('show prints the features, the ports and the config as ovs-ofctl does (OpenFlow 1.0 and 1.3 shapes)', async () => {
    const [code, out] = await ofctl('show', 'br0');
    expect(code).toBe(0);
    const lines = out.split('\n');
    expect(lines[0]).toMatch(/^OFPT_FEATURES_REPLY \(xid=0x[0-9a-f]+\): dpid:000002aa00000001$/);
    expect(lines[1]).toBe('n_tables:255, n_buffers:0');
    expect(lines[2]).toBe('capabilities: FLOW_STATS TABLE_STATS PORT_STATS');
    expect(lines[3]).toMatch(/^actions: output set_vlan_vid /);
    expect(lines.slice(4, 9)).toEqual([
      ' 1(p1): addr:02:aa:00:00:00:02', '     config:     0', '     state:      0', '     current:    10GB-FD COPPER', '     speed: 10000 Mbps now, 0 Mbps max',
    ]);
    expect(lines[14]).toBe(' LOCAL(br0): addr:02:aa:00:00:00:01');
    expect(lines[19]).toMatch(/^OFPT_GET_CONFIG_REPLY \(xid=0x[0-9a-f]+\): frags=normal miss_send_len=0$/);
    const [, out13] = await ofctl('-O', 'OpenFlow13', 'show', 'br0');
    expect(out13).toMatch(/^OFPT_FEATURES_REPLY \(OF1\.3\) \(xid=0x1\): dpid:000002aa00000001\n/);
    expect(out13).toMatch(/\nOFPST_PORT_DESC reply \(OF1\.3\) \(xid=0x2\):\n 1\(p1\): addr:02:aa:00:00:00:02\n     config:     0\n     state:      LIVE\n/);
    expect(out13).not.toContain('actions:');
    // Any target ovs-ofctl takes: unix:PATH.
    expect((await ofctl('show', `unix:${sw.mgmt()}`))[1]).toContain(' 2(p2): addr:');
  });

  it('add-flow and dump-flows: the raw reply, --names, --no-stats, a filter, --strict', async () => {
    await reset();
    expect(await ofctl('add-flow', 'br0', 'priority=100,ip,nw_dst=10.0.0.2,actions=output:2')).toEqual([0, '', '']);
    expect((await ofctl('add-flow', 'br0', 'table=1,priority=5,in_port=p1,tcp,tp_dst=80,actions=mod_vlan_vid:10,output:p2'))[0]).toBe(0);
    const [code, out] = await ofctl('dump-flows', 'br0');
    expect(code).toBe(0);
    const lines = out.split('\n');
    expect(lines[0]).toMatch(/^NXST_FLOW reply \(xid=0x[0-9a-f]+\):$/);
    expect(lines[1]).toMatch(/^ cookie=0x0, duration=\d+\.\d{3}s, table=0, n_packets=0, n_bytes=0, idle_age=\d+, priority=100,ip,nw_dst=10\.0\.0\.2 actions=output:2$/);
    expect(lines[2]).toMatch(/^ cookie=0x0, duration=\d+(\.\d{3})?s, table=0, n_packets=\d+, n_bytes=\d+, idle_age=\d+, priority=0 actions=NORMAL$/);
    expect(lines[3]).toMatch(/table=1, n_packets=0, n_bytes=0, idle_age=\d+, priority=5,tcp,in_port=1,tp_dst=80 actions=mod_vlan_vid:10,output:2$/);
    expect(lines[4]).toBe('');
    const [, named] = await ofctl('--names', 'dump-flows', 'br0');
    expect(named).not.toContain('NXST_FLOW');
    expect(named).toMatch(/^ cookie=0x0, duration=[\d.]+s, table=0, n_packets=0, n_bytes=0, priority=100,ip,nw_dst=10\.0\.0\.2 actions=output:p2\n/);
    expect(named).toContain('priority=5,tcp,in_port=p1,tp_dst=80 actions=mod_vlan_vid:10,output:p2');
    expect(await flows()).toEqual([' priority=100,ip,nw_dst=10.0.0.2 actions=output:2', ' priority=0 actions=NORMAL',
      ' table=1, priority=5,tcp,in_port=1,tp_dst=80 actions=mod_vlan_vid:10,output:2']);
    const [, filtered] = await ofctl('--no-stats', 'dump-flows', 'br0', 'tcp');
    expect(filtered).toBe(' table=1, priority=5,tcp,in_port=1,tp_dst=80 actions=mod_vlan_vid:10,output:2\n');
    expect((await ofctl('--no-stats', '--strict', 'dump-flows', 'br0', 'ip'))[1]).toBe('');
    expect((await ofctl('--no-stats', '--strict', 'dump-flows', 'br0', 'priority=100,ip,nw_dst=10.0.0.2'))[1]).toBe(' priority=100,ip,nw_dst=10.0.0.2 actions=output:2\n');
    const [, o13] = await ofctl('-O', 'OpenFlow13', 'dump-flows', 'br0', 'table=1');
    expect(o13).toMatch(/^OFPST_FLOW reply \(OF1\.3\) \(xid=0x[0-9a-f]+\):\n cookie=0x0, duration=[\d.]+s, table=1, n_packets=0, n_bytes=0, priority=5,/);
    const [, agg] = await ofctl('dump-aggregate', 'br0');
    expect(agg).toMatch(/^NXST_AGGREGATE reply \(xid=0x[0-9a-f]+\): packet_count=\d+ byte_count=\d+ flow_count=3\n$/);
    expect((await ofctl('-O', 'OpenFlow13', 'dump-aggregate', 'br0', 'table=1'))[1]).toMatch(/^OFPST_AGGREGATE reply \(OF1\.3\) \(xid=0x[0-9a-f]+\): packet_count=0 byte_count=0 flow_count=1\n$/);
  });

  it('points at the offending token of bad flow syntax and changes nothing', async () => {
    const before = await flows();
    expect(await ofctl('add-flow', 'br0', 'priority=1,nw_dstt=1,actions=drop')).toEqual([1, '',
      'ofctl: unknown keyword nw_dstt\n  priority=1,nw_dstt=1,actions=drop\n             ^~~~~~~\n']);
    const [, , e2] = await ofctl('add-flow', 'br0', 'priority=1,ip,actions=outptu:1');
    expect(e2).toBe(`ofctl: unknown action outptu\n  priority=1,ip,actions=outptu:1\n  ${' '.repeat('priority=1,ip,actions='.length)}^~~~~~\n`);
    const [, , e3] = await ofctl('add-flow', 'br0', 'priority=1,ip');
    expect(e3).toMatch(/^ofctl: must specify an action\n/);
    const [, , e4] = await ofctl('dump-flows', 'br0', 'in_port=p9');
    expect(e4).toMatch(/^ofctl: .*p9.*\n  in_port=p9\n          \^~\n$/);
    expect(await flows()).toEqual(before);
  });

  it('prints the switch error with the offending flow mod, as ovs-ofctl does', async () => {
    const [code, out, err] = await ofctl('add-flow', 'br0', 'check_overlap,priority=100,ip,actions=drop');
    expect([code, out]).toEqual([1, '']);
    expect(err).toMatch(/^OFPT_ERROR \(xid=0x[0-9a-f]+\): OFPFMFC_OVERLAP\n.*overlaps.*\nOFPT_FLOW_MOD \(xid=0x[0-9a-f]+\): ADD priority=100,ip check_overlap actions=drop\n$/);
  });

  it('add-flows reads a file (comments, blank lines, add/delete prefixes) or standard input; a syntax error names FILE:LINE and adds nothing', async () => {
    await reset();
    const f = file('flows.txt', '# flows\n\npriority=10,arp,actions=FLOOD\n  add priority=11,udp,actions=drop\npriority=12,icmp,actions=output:1\ndelete icmp\n');
    expect(await ofctl('add-flows', 'br0', f)).toEqual([0, '', '']);
    expect(await flows()).toEqual([' priority=11,udp actions=drop', ' priority=10,arp actions=FLOOD', ' priority=0 actions=NORMAL']);
    expect(await withStdin('priority=13,tcp,actions=drop\n', 'add-flows', 'br0', '-')).toEqual([0, '', '']);
    expect((await flows())[0]).toBe(' priority=13,tcp actions=drop');
    const bad = file('bad.txt', 'priority=20,ip,actions=drop\npriority=21,ipp,actions=drop\n');
    expect(await ofctl('add-flows', 'br0', bad)).toEqual([1, '', `ofctl: ${bad}:2: unknown keyword ipp\n  priority=21,ipp,actions=drop\n              ^~~\n`]);
    expect((await flows()).some((l) => l.includes('priority=20'))).toBe(false);
    expect((await ofctl('add-flows', 'br0', join(sw.dir, 'nonexistent')))[2]).toMatch(/^ofctl: .*nonexistent: open failed \(No such file or directory\)\n$/);
  });

  it('mod-flows and del-flows, strict and not', async () => {
    await reset();
    await ofctl('add-flow', 'br0', 'priority=5,udp,actions=drop');
    await ofctl('add-flow', 'br0', 'priority=6,udp,tp_dst=53,actions=drop');
    expect((await ofctl('mod-flows', 'br0', 'udp,actions=output:1'))[0]).toBe(0);
    expect(await flows()).toEqual([' priority=6,udp,tp_dst=53 actions=output:1', ' priority=5,udp actions=output:1', ' priority=0 actions=NORMAL']);
    expect((await ofctl('--strict', 'mod-flows', 'br0', 'priority=5,udp,actions=output:2'))[0]).toBe(0);
    expect((await flows())[1]).toBe(' priority=5,udp actions=output:2');
    expect((await ofctl('--strict', 'del-flows', 'br0', 'udp'))[0]).toBe(0); // priority 32768: selects nothing
    expect(await flows()).toHaveLength(3);
    expect((await ofctl('del-flows', 'br0', 'udp'))[0]).toBe(0);
    expect(await flows()).toEqual([' priority=0 actions=NORMAL']);
    expect((await ofctl('del-flows', 'br0'))[0]).toBe(0);
    expect(await flows()).toEqual([]);
  });

  it('diff-flows compares a switch with a file or two files; replace-flows makes the switch match the file', async () => {
    await reset();
    await ofctl('add-flow', 'br0', 'priority=1,ip,actions=drop');
    const f1 = file('want.txt', 'priority=100,ip,nw_dst=10.0.0.2,actions=output:2\npriority=7,arp,actions=FLOOD\n# comment\n\ntable=2,priority=9,actions=drop\n');
    const f2 = file('want2.txt', 'priority=100,ip,nw_dst=10.0.0.2,actions=output:1\ncookie=0x5,idle_timeout=10,priority=7,arp,actions=FLOOD\ntable=2,priority=9,actions=drop\n');
    expect(await ofctl('diff-flows', 'br0', f1)).toEqual([2, [
      '+priority=100,ip,nw_dst=10.0.0.2 actions=output:2', '+priority=7,arp actions=FLOOD', '-priority=1,ip actions=drop',
      '-priority=0 actions=NORMAL', '+table=2 priority=9 actions=drop', ''].join('\n'), '']);
    expect(await ofctl('replace-flows', 'br0', f1)).toEqual([0, '', '']);
    expect(await flows()).toEqual([' priority=100,ip,nw_dst=10.0.0.2 actions=output:2', ' priority=7,arp actions=FLOOD', ' table=2, priority=9 actions=drop']);
    expect(await ofctl('diff-flows', 'br0', f1)).toEqual([0, '', '']);
    const expected = ['-priority=100,ip,nw_dst=10.0.0.2 actions=output:2', '+priority=100,ip,nw_dst=10.0.0.2 actions=output:1',
      '-priority=7,arp actions=FLOOD', '+priority=7,arp cookie=0x5 idle_timeout=10 actions=FLOOD', ''].join('\n');
    expect(await ofctl('diff-flows', 'br0', f2)).toEqual([2, expected, '']);
    expect(await ofctl('diff-flows', f1, f2)).toEqual([2, expected, '']);
    expect((await ofctl('--names', 'diff-flows', f2, 'br0'))[1]).toContain('-priority=100,ip,nw_dst=10.0.0.2 actions=output:p1\n+priority=100,ip,nw_dst=10.0.0.2 actions=output:p2\n');
  });

  it('dump-ports, dump-ports-desc, dump-tables and dump-desc', async () => {
    sw.dev('p1').inject(frame('ff:ff:ff:ff:ff:ff', '02:00:00:00:00:0b'));
    await until('p1 counted', async () => /port {2}1: rx pkts=1,/.test((await ofctl('dump-ports', 'br0', 'p1'))[1]));
    const [, ports] = await ofctl('dump-ports', 'br0');
    expect(ports).toMatch(/^OFPST_PORT reply \(xid=0x[0-9a-f]+\): 3 ports\n {2}port {2}1: rx pkts=1, bytes=60, drop=0, errs=0, frame=0, over=0, crc=0\n {11}tx pkts=\d+, bytes=\d+, drop=0, errs=0, coll=0\n {2}port {2}2: /);
    expect(ports).toContain('  port LOCAL: rx pkts=');
    expect((await ofctl('-O', 'OpenFlow13', 'dump-ports', 'br0', '1'))[1]).toMatch(/\n {11}duration=\d+\.\d{3}s\n$/);
    expect(await ofctl('dump-ports', 'br0', 'p9')).toEqual([1, '', "ofctl: br0: couldn't find port `p9'\n"]);
    const [, desc] = await ofctl('dump-ports-desc', 'br0', 'p2');
    expect(desc).toMatch(/^OFPST_PORT_DESC reply \(xid=0x[0-9a-f]+\):\n 2\(p2\): addr:02:aa:00:00:00:03\n {5}config: {5}0\n/);
    const [, tables] = await ofctl('dump-tables', 'br0');
    expect(tables).toMatch(/^OFPST_TABLE reply \(xid=0x[0-9a-f]+\):\n {2}table 0:\n {4}active=\d+, lookup=\d+, matched=\d+\n {4}max_entries=1000000\n\n/);
    expect(tables).toMatch(/\n {2}tables \d+\.\.\.254: ditto\n$/);
    expect((await ofctl('dump-desc', 'br0'))[1]).toMatch(/^OFPST_DESC reply \(xid=0x1\):\nManufacturer: vswitch\nHardware: .+\nSoftware: .+\nSerial Num: None\nDP Description: br0\n$/);
  });

  it('mod-port changes the port config and refuses unknown ports and actions', async () => {
    expect(await ofctl('mod-port', 'br0', 'p1', 'no-flood')).toEqual([0, '', '']);
    expect((await ofctl('dump-ports-desc', 'br0', 'p1'))[1]).toContain('     config:     NO_FLOOD\n');
    expect(await ofctl('mod-port', 'br0', '1', 'down')).toEqual([0, '', '']);
    expect((await ofctl('dump-ports-desc', 'br0', '1'))[1]).toContain('     config:     PORT_DOWN NO_FLOOD\n');
    await ofctl('mod-port', 'br0', 'p1', 'up');
    await ofctl('mod-port', 'br0', 'p1', 'flood');
    expect((await ofctl('dump-ports-desc', 'br0', 'p1'))[1]).toContain('     config:     0\n');
    expect(await ofctl('mod-port', 'br0', 'p9', 'up')).toEqual([1, '', "ofctl: br0: couldn't find port `p9'\n"]);
    expect(await ofctl('mod-port', 'br0', 'p1', 'bogus')).toEqual([1, '', "ofctl: unknown mod-port command 'bogus'\n"]);
  });

  it('packet-out sends a frame, in both of ovs-ofctl forms', async () => {
    const p2 = sw.dev('p2');
    p2.takeSent();
    const hex = Buffer.from(frame('02:00:00:00:00:02', '02:00:00:00:00:01')).toString('hex');
    expect(await ofctl('packet-out', 'br0', `in_port=1 packet=${hex} actions=output:2`)).toEqual([0, '', '']);
    expect(await ofctl('packet-out', 'br0', 'LOCAL', 'output:p2', hex, hex)).toEqual([0, '', '']);
    await until('p2 got 3 frames', () => p2.sent.length === 3);
    expect(Buffer.from(p2.sent[0]).toString('hex')).toBe(hex);
    expect(await ofctl('packet-out', 'br0', 'in_port=1 packet=zz actions=drop')).toEqual([1, '', 'ofctl: packet: Trailing garbage in packet data\n']);
    const [code, , err] = await ofctl('packet-out', 'br0', `in_port=1 packet=${hex} actions=set_field:1->tcp_dst`);
    expect(code).toBe(1);
    expect(err).toMatch(/^OFPT_ERROR \(xid=0x[0-9a-f]+\): OFPBAC_MATCH_INCONSISTENT\n/);
  });

  it('monitor prints flow monitor updates, flow removed and port status until --timeout ends it', async () => {
    await reset();
    const io = capture();
    const mon = ofctlMain(['--timeout=2', 'monitor', 'br0', '128', 'watch:'], io, sw.env);
    await until('monitor running', () => io.stdout.includes('NXST_FLOW_MONITOR reply'));
    await ofctl('add-flow', 'br0', 'send_flow_rem,priority=50,udp,actions=drop');
    await ofctl('mod-flows', 'br0', 'udp,actions=output:1');
    await ofctl('del-flows', 'br0', 'udp');
    await ofctl('mod-port', 'br0', 'p2', 'no-flood');
    expect(await mon).toBe(142);
    await ofctl('mod-port', 'br0', 'p2', 'flood');
    const out = io.stdout;
    expect(out).toMatch(/^NXST_FLOW_MONITOR reply \(xid=0x[0-9a-f]+\):\n event=ADDED table=0 cookie=0 priority=0 actions=NORMAL\n/);
    expect(out).toContain('NXST_FLOW_MONITOR reply (xid=0x0):\n event=ADDED table=0 cookie=0 priority=50,udp actions=drop\n');
    expect(out).toContain(' event=MODIFIED table=0 cookie=0 priority=50,udp actions=output:1\n');
    expect(out).toContain(' event=DELETED reason=delete table=0 cookie=0 priority=50,udp\n');
    expect(out).toMatch(/NXT_FLOW_REMOVED \(xid=0x0\): priority=50,udp reason=delete table_id=0 duration\d+\.\d{3}s idle0 pkts0 bytes0\n/);
    expect(out).toContain('OFPT_PORT_STATUS (xid=0x0): MOD: 2(p2): addr:02:aa:00:00:00:03\n     config:     NO_FLOOD\n');
  });

  it('fails as ovs-ofctl does on bad command lines and unknown switches', async () => {
    expect(await ofctl('show', 'br9')).toEqual([1, '', 'ofctl: br9 is not a bridge or a socket\n']);
    expect(await ofctl('show', 'br0', 'x')).toEqual([1, '', "ofctl: 'show' command takes at most 1 arguments\n"]);
    expect(await ofctl('frob', 'br0')).toEqual([1, '', "ofctl: unknown command 'frob'; use --help for help\n"]);
    expect(await ofctl()).toEqual([1, '', 'ofctl: missing command name; use --help for help\n']);
    expect(await ofctl('-O', 'OpenFlow99', 'show', 'br0')).toEqual([1, '', 'ofctl: Unknown OpenFlow version: "OpenFlow99"\n']);
    expect((await ofctl('dump-flows', `unix:${join(sw.dir, 'nope.sock')}`))[2]).toMatch(/^ofctl: unix:.*nope\.sock: failed to connect to socket \(No such file or directory\)\n$/);
    expect(await ofctl('probe', 'br0')).toEqual([0, '', '']);
  });
});
