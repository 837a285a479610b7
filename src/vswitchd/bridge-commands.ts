/*
 * The appctl commands about bridges, shaped like their OVS counterparts so scripts carry over:
 * fdb/show, fdb/flush, dpif/show, dpif/dump-flows, ofctl/show, ofctl/dump-flows (the bridge's
 * OpenFlow tables) and coverage/show; ofproto-commands.ts adds ofproto/trace, fdb/stats-show,
 * upcall/* and memory/show. Registered on the Appctl table by vswitchd.ts; they read the
 * SwitchState and ask the datapath for ports, stats and flows (flows stream in dump pages, so a
 * 200k-flow table is never one message). Control path.
 */
import type { DpStats } from '../lib/dp-stats.js';
import type { DpifClient } from '../lib/dpif-client.js';
import { KEY_WORDS, W_IN_PORT, macToString } from '../lib/flow-key.js';
import { formatFlow } from '../lib/odp-format.js';
import { commandError, type Appctl } from './appctl.js';
import { OFPP_LOCAL, ofportName, type Bridge } from './bridge.js';
import { MacTable } from './mac-learning.js';
import type { DpPort, SwitchState } from './state.js';
import { OFPTT_ALL } from './ofp/layout.js';
import { formatFlowStats, parseFlow } from './ofp/flow-syntax.js';
import { bridgeNamer, registerOfprotoCommands } from './ofproto-commands.js';
import { udpifOf } from './udpif.js';

export function formatFdb(br: Bridge, now: number): string {
  let out = ' port  VLAN  MAC                Age\n';
  for (const e of br.macs.entries()) {
    out += `${ofportName(e.port).padStart(5)}  ${String(e.vlan).padStart(4)}  ${macToString(e.mac)}  ${String(MacTable.age(e, now)).padStart(3)}\n`;
  }
  return out;
}

export function formatDpifShow(st: SwitchState, stats: DpStats): string {
  let out = `netdev@${stats.name}: hit:${stats.hit} missed:${stats.missed}\n`;
  for (const name of [...st.bridges.keys()].sort()) {
    const br = st.bridges.get(name)!;
    out += `  ${name}:\n`;
    const ports = [...br.ordered].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const p of ports) out += `    ${p.name} ${p.ofport}/${p.odpPort}: (${p.type})\n`;
  }
  return out;
}

function macHex(mac: string | undefined): string {
  return (mac ?? '').replace(/:/g, '').toLowerCase();
}

/** The bridge's datapath id: other_config:datapath-id if set, else 0000 + its LOCAL port's MAC. */
export function bridgeDpid(br: Bridge, dpPorts: DpPort[], configured?: string): string {
  if (configured && /^[0-9a-fA-F]{16}$/.test(configured)) return configured.toLowerCase();
  const local = br.port(OFPP_LOCAL);
  const mac = local ? dpPorts.find((p) => p.port_no === local.odpPort)?.mac : undefined;
  const hex = macHex(mac);
  return hex.length === 12 ? `0000${hex}` : '0'.repeat(16);
}

export function formatOfctlShow(br: Bridge, dpPorts: DpPort[], dpid: string): string {
  let out = `OFPT_FEATURES_REPLY (xid=0x2): dpid:${dpid}\n`;
  out += 'n_tables:254, n_buffers:0\n';
  out += 'capabilities: FLOW_STATS TABLE_STATS PORT_STATS\n';
  out += 'actions: output set_vlan_vid strip_vlan\n';
  for (const p of br.ordered) {
    const dp = dpPorts.find((d) => d.port_no === p.odpPort);
    out += ` ${ofportName(p.ofport)}(${p.name}): addr:${dp?.mac ?? '00:00:00:00:00:00'}\n`;
    out += '     config:     0\n';
    out += '     state:      0\n';
    out += '     speed: 0 Mbps now, 0 Mbps max\n';
  }
  out += 'OFPT_GET_CONFIG_REPLY (xid=0x4): frags=normal miss_send_len=0\n';
  return out;
}

/** The bridge's flows as ofctl dump-flows prints them (`filter`: a dump-flows FLOW, optional). */
export function formatOfctlFlows(br: Bridge, filter: string | undefined, now: number): string {
  const names = bridgeNamer(br);
  let sel: Parameters<Bridge['tables']['select']>[0] = { table: OFPTT_ALL };
  if (filter !== undefined && filter.trim() !== '') {
    const fm = parseFlow(filter, { command: 'dump', names });
    sel = { table: fm.table, match: fm.match, cookie: fm.cookie, cookieMask: fm.cookieMask, outPort: fm.outPort };
  }
  let out = '';
  for (const e of br.tables.select(sel)) {
    out += `${formatFlowStats({
      table: e.table, priority: e.priority, match: e.match, actions: e.actions, cookie: e.cookie, durationMs: now - e.created,
      packets: e.packets, bytes: e.bytes, idleTimeout: e.idleTimeout, hardTimeout: e.hardTimeout, flags: e.flags,
      importance: e.importance, idleAge: Math.floor((now - e.used) / 1000), hardAge: Math.floor((now - e.modified) / 1000),
    })}\n`;
  }
  return out;
}

function needBridge(st: SwitchState, name: string): Bridge {
  const br = st.bridges.get(name);
  if (!br) throw commandError('no such bridge');
  return br;
}

function needOfctlBridge(st: SwitchState, name: string): Bridge {
  const br = st.bridges.get(name);
  if (!br) throw commandError(`${name} is not a bridge or a socket`);
  return br;
}

/** Registers the bridge commands; `dp()` is the current datapath connection or null. */
export function registerBridgeCommands(ctl: Appctl, st: SwitchState, dp: () => DpifClient | null, bridgeOtherConfig: (br: string, key: string) => string | undefined): void {
  const needDp = (): DpifClient => {
    const c = dp();
    if (c === null || c.isClosed) throw commandError('not connected to the datapath (is it running?)');
    return c;
  };

  ctl.register('fdb/show', 'bridge', 1, 1, ([name]) => formatFdb(needBridge(st, name), Date.now()));
  ctl.register('fdb/flush', '[bridge]', 0, 1, ([name]) => {
    const brs = name === undefined ? [...st.bridges.values()] : [needBridge(st, name)];
    for (const br of brs) br.macs.flush();
    return 'table successfully flushed\n';
  });
  ctl.register('dpif/show', '', 0, 0, async () => {
    const stats = (await needDp().request('dp_stats')) as DpStats;
    return formatDpifShow(st, stats);
  });
  ctl.register('dpif/dump-flows', 'bridge', 1, 1, async ([name]) => {
    const br = needBridge(st, name);
    const names = new Map<number, string>();
    for (const p of st.dpPorts) names.set(p.port_no, p.name);
    let out = '';
    const now = Date.now();
    const key = new Uint32Array(KEY_WORDS);
    const mask = new Uint32Array(KEY_WORDS);
    await needDp().dumpFlows((pg) => {
      for (let i = 0; i < pg.n; i++) {
        const b = i * KEY_WORDS;
        const bp = st.portsByOdp.get(pg.keys[b + W_IN_PORT]);
        if (bp === undefined || bp.bridge !== br) continue;
        key.set(pg.keys.subarray(b, b + KEY_WORDS));
        mask.set(pg.masks.subarray(b, b + KEY_WORDS));
        out += `${formatFlow(key, pg.actionsOf(i), { packets: pg.packets[i], bytes: pg.bytes[i], used: pg.used[i] }, { names, now, mask })}\n`;
      }
    });
    return out;
  });
  ctl.register('ofctl/show', 'bridge', 1, 1, async ([name]) => {
    const br = needOfctlBridge(st, name);
    const ports = (await needDp().request('port_list')) as DpPort[];
    return formatOfctlShow(br, ports, bridgeDpid(br, ports, bridgeOtherConfig(name, 'datapath-id')));
  });
  ctl.register('ofctl/dump-flows', 'bridge [flow]', 1, 2, ([name, filter]) => {
    const br = needOfctlBridge(st, name);
    try {
      return formatOfctlFlows(br, filter, Date.now());
    } catch (e) {
      throw commandError((e as Error).message);
    }
  });
  registerOfprotoCommands(ctl, st, async () => {
    await needDp().request('flow_flush');
  });
  ctl.register('coverage/show', '', 0, 0, () => {
    let out = 'Event counters:\n';
    for (const [k, v] of Object.entries(st.counters)) out += `${k.padEnd(28)} ${v}\n`;
    const u = udpifOf(st);
    for (const [k, v] of Object.entries(u.counters)) out += `${k.padEnd(28)} ${v}\n`;
    for (const [k, v] of Object.entries(u.xlateCounters)) out += `${k.padEnd(28)} ${v}\n`;
    out += `${'flow_limit'.padEnd(28)} ${u.flowLimit}\n`;
    for (const name of [...st.bridges.keys()].sort()) {
      const br = st.bridges.get(name)!;
      for (const [k, v] of Object.entries(br.counters)) out += `${`${name}.${k}`.padEnd(28)} ${v}\n`;
      for (const [k, v] of Object.entries(br.macs.counters)) out += `${`${name}.mac_${k}`.padEnd(28)} ${v}\n`;
    }
    return out;
  });
}
