// ofproto/trace output against what Open vSwitch 3.1 prints for the same tables (captured from
// ovs-vswitchd with datapath_type=dummy; only datapath port numbers differ).
import { describe, expect, it } from 'vitest';
import { Bridge, BridgePort, TRUNK_ALL, type VlanConfig } from '../../../src/vswitchd/bridge.js';
import { parseFlow } from '../../../src/vswitchd/ofp/flow-syntax.js';
import { traceFlow } from '../../../src/vswitchd/ofproto-commands.js';

function bridge(vlans: VlanConfig[] = [TRUNK_ALL, TRUNK_ALL, TRUNK_ALL]): Bridge {
  const br = new Bridge('tbr0', 'u');
  vlans.forEach((v, i) => br.portsByOfport.set(i + 1, new BridgePort(br, `p${i + 1}`, 'dummy', `p${i + 1}`, i + 1, i + 2, v)));
  br.reindex();
  return br;
}
function flows(br: Bridge, ...f: string[]): void {
  for (const s of f) br.tables.apply(parseFlow(s));
}
/** The part between "Flow:" and "Final flow:". */
const body = (t: string): string => t.slice(t.indexOf('\n') + 1, t.indexOf('\nFinal flow:'));

describe('ofproto/trace', () => {
  it('nests resubmits the way OVS prints them (tail resubmits one level up)', () => {
    const br = bridge();
    br.tables.apply(parseFlow('priority=0', { command: 'delete_strict' }));
    flows(br, 'table=0,actions=resubmit(,1),output:1', 'table=1,actions=resubmit(,2),output:2', 'table=2,actions=output:3,resubmit(,3)',
      'table=3,actions=output:1,output:2');
    const t = traceFlow(br, 'in_port=3');
    expect(t.split('\n')[0]).toBe('Flow: in_port=3,vlan_tci=0x0000,dl_src=00:00:00:00:00:00,dl_dst=00:00:00:00:00:00,dl_type=0x0000');
    expect(body(t)).toBe(`
bridge("tbr0")
--------------
 0. priority 32768
    resubmit(,1)
     1. priority 32768
            resubmit(,2)
             2. priority 32768
                    output:3
                     >> skipping output to input port
                    resubmit(,3)
                 3. priority 32768
                    output:1
                    output:2
            output:2
    output:1
`);
    expect(t).toContain('\nFinal flow: unchanged\nMegaflow: recirc_id=0,eth,in_port=3,dl_type=0x0000\nDatapath actions: 2,3,3,2\n');
  });

  it('shows goto_table chains flat, rewrites, learn, controller and a table miss', () => {
    const br = bridge();
    flows(br,
      'table=0,priority=100,cookie=0x5,tcp,nw_dst=10.0.0.2,actions=set_field:10.0.0.9->ip_dst,set_field:8080->tcp_dst,resubmit(,1),goto_table:2',
      'table=1,priority=10,ip,actions=load:0x5->NXM_NX_REG0[],learn(table=10,hard_timeout=300,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:NXM_OF_IN_PORT[]->NXM_NX_REG0[0..15]),output:2',
      'table=2,priority=5,tcp,tp_dst=8080,actions=dec_ttl,CONTROLLER:100,push_vlan:0x8100,set_field:4106->vlan_vid,output:3,write_metadata:0x3/0xff,goto_table:3');
    const t = traceFlow(br, 'in_port=1,tcp,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_dst=80,nw_ttl=64,dl_src=02:00:00:00:00:01');
    expect(body(t)).toBe(`
bridge("tbr0")
--------------
 0. tcp,nw_dst=10.0.0.2, priority 100, cookie 0x5
    set_field:10.0.0.9->ip_dst
    set_field:8080->tcp_dst
    resubmit(,1)
     1. ip, priority 10
            load:0x5->NXM_NX_REG0[]
            learn(table=10,hard_timeout=300,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:NXM_OF_IN_PORT[]->NXM_NX_REG0[0..15])
             >> suppressing side effects, so learn action ignored
            output:2
    goto_table:2
 2. tcp,tp_dst=8080, priority 5
    dec_ttl
    CONTROLLER:100
    push_vlan:0x8100
    set_field:4106->vlan_vid
    output:3
    write_metadata:0x3/0xff
    goto_table:3
 3. No match.
    drop
`);
    const lines = t.split('\n');
    expect(lines.find((l) => l.startsWith('Final flow:'))).toBe(
      'Final flow: tcp,reg0=0x5,metadata=0x3,in_port=1,dl_vlan=10,dl_vlan_pcp=0,dl_src=02:00:00:00:00:01,dl_dst=00:00:00:00:00:00,nw_src=10.0.0.1,nw_dst=10.0.0.9,nw_tos=0,nw_ecn=0,nw_ttl=63,nw_frag=no,tp_src=0,tp_dst=8080');
    // OVS prints recirc_id=0,eth,tcp,in_port=1,dl_src=02:00:00:00:00:01,nw_dst=10.0.0.2,nw_ttl=64,nw_frag=no,tp_dst=80:
    // its datapath stacks tags, ours keeps one, so pushing a tag depends on there being none (vlan_tci).
    expect(lines.find((l) => l.startsWith('Megaflow:'))).toBe(
      'Megaflow: recirc_id=0,eth,tcp,in_port=1,vlan_tci=0x0000,dl_src=02:00:00:00:00:01,nw_dst=10.0.0.2,nw_ttl=64,nw_frag=no,tp_dst=80');
    expect(lines.find((l) => l.startsWith('Datapath actions:'))).toBe(
      'Datapath actions: set(ipv4(dst=10.0.0.9)),set(tcp(dst=8080)),3,set(ipv4(ttl=63)),' +
      'userspace(pid=2,controller(reason=1,table=2,rule_cookie=0x0,controller_id=0,max_len=100)),push_vlan(vid=10,pcp=0),4');
  });

  it('reports what NORMAL decided, VLAN drops included', () => {
    const access10: VlanConfig = { mode: 'access', tag: 10, trunks: null };
    const br = bridge([TRUNK_ALL, access10, { mode: 'trunk', tag: -1, trunks: new Set([10, 20]) }]);
    expect(body(traceFlow(br, 'in_port=2,dl_src=02:00:00:00:00:02,dl_dst=ff:ff:ff:ff:ff:ff'))).toBe(`
bridge("tbr0")
--------------
 0. priority 0
    NORMAL
     -> no learned MAC for destination, flooding
`);
    const drop = traceFlow(br, 'in_port=2,dl_vlan=10,dl_src=02:00:00:00:00:03,dl_dst=02:00:00:00:00:02');
    expect(body(drop)).toBe(`
bridge("tbr0")
--------------
 0. priority 0
    NORMAL
     >>>> dropping VLAN 10 tagged packet received on port p2 configured as VLAN 10 access port <<<<
     >> disallowed VLAN VID for this input port, dropping
`);
    expect(drop).toMatch(/\nDatapath actions: drop\n$/);
    br.macs.learn(0x020000000002, 10, 2, Date.now());
    const uni = traceFlow(br, 'in_port=3,dl_vlan=10,dl_src=02:00:00:00:00:03,dl_dst=02:00:00:00:00:02');
    expect(uni).toContain('     -> forwarding to learned port\n');
    expect(uni).toContain('\nMegaflow: recirc_id=0,eth,in_port=3,dl_vlan=10,dl_vlan_pcp=0,dl_src=02:00:00:00:00:03,dl_dst=02:00:00:00:00:02,dl_type=0x0000\nDatapath actions: pop_vlan,3\n');
  });

  it('takes the flow from a packet given in hex', () => {
    const br = bridge();
    const pkt = 'ffffffffffff020000000001080045000020000100004011f9c60a0000010a000002' + '0fa0138800000000' + '00000000';
    const t = traceFlow(br, 'in_port=1', pkt);
    expect(t.split('\n')[0]).toMatch(/^Flow: udp,in_port=1,vlan_tci=0x0000,dl_src=02:00:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,nw_src=10.0.0.1,nw_dst=10.0.0.2,.*tp_src=4000,tp_dst=5000$/);
    expect(() => traceFlow(br, 'in_port=1', 'zz')).toThrow(/hex/);
    expect(() => traceFlow(br, 'in_port=1,nw_dst=1.2.3.4')).toThrow(/nw_dst requires ip or arp/);
  });
});
