/*
 * appctl commands about the OpenFlow pipeline and the flow cache, shaped like Open vSwitch's:
 * ofproto/trace (a translation shown step by step), fdb/stats-show, upcall/show,
 * upcall/disable-megaflows and upcall/enable-megaflows, memory/show. Registered by
 * bridge-commands.ts; they read the SwitchState and its udpif. Control path.
 *
 * ofproto/trace BRIDGE FLOW [PACKET]: FLOW is a match in ovs-ofctl syntax
 * ("in_port=1,tcp,nw_dst=10.0.0.2,tp_dst=80"; port names work); PACKET, if given, is the frame
 * in hex and the flow is extracted from it (FLOW then only supplies in_port). The translation
 * runs without side effects (nothing learned, no counters), as in OVS, and the output has OVS's
 * sections: Flow, the bridge and each table visited with the rule, its actions and notes,
 * Final flow, Megaflow (the datapath flow that would be installed, in match syntax) and
 * Datapath actions. Ports print as numbers, as OVS prints them.
 */
import { extractKey } from '../datapath/extract.js';
import { formatActions as formatOdpActions } from '../lib/odp-format.js';
import {
  ETH_TYPE_ARP, ETH_TYPE_IP, ETH_TYPE_IPV6, FRAG_LATER, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, KEY_WORDS,
  W_ARP_MID, W_ARP_SHA_HI, W_ARP_THA_LO, W_ETH_DST_HI, W_ETH_MID, W_ETH_SRC_LO, W_IPV6_LABEL, W_ND_TARGET, W_NW, W_NW_DST,
  W_NW_SRC, W_TP, W_TYPE_TCI,
} from '../lib/flow-key.js';
import { commandError, type Appctl } from './appctl.js';
import type { Bridge } from './bridge.js';
import { ETH_TYPE_RARP, IPPROTO_SCTP } from './ofp/fields.js';
import { OF_W_METADATA, OF_WORDS } from './ofp/layout.js';
import { Match } from './ofp/match.js';
import { formatMatch, parseMatch } from './ofp/match-syntax.js';
import type { PortNamer } from './ofp/values.js';
import type { SwitchState } from './state.js';
import { flowLimitCeiling, udpifOf } from './udpif.js';
import { Xlator } from './xlate.js';
import { XlateTrace } from './xlate-trace.js';

/** Port names of a bridge, for parsing and printing. */
export function bridgeNamer(br: Bridge): PortNamer {
  return {
    number: (name) => br.portByName(name)?.ofport,
    name: (port) => br.port(port)?.name,
  };
}

/** Mask words of the fields a packet of this flow has (what "Flow:" prints). */
function presentMask(flow: Uint32Array, out: Uint32Array): void {
  out.fill(0);
  out[0] = 0xffff;
  out[W_ETH_DST_HI] = out[W_ETH_MID] = out[W_ETH_SRC_LO] = out[W_TYPE_TCI] = 0xffffffff;
  const type = flow[W_TYPE_TCI] >>> 16;
  const proto = flow[W_NW] >>> 24;
  const later = (flow[W_NW] & 0xff) === FRAG_LATER;
  const l4 = !later && (proto === IPPROTO_TCP || proto === IPPROTO_UDP || proto === IPPROTO_SCTP);
  if (type === ETH_TYPE_IP) {
    out[W_NW_SRC] = out[W_NW_DST] = out[W_NW] = 0xffffffff;
    if (l4 || (!later && proto === IPPROTO_ICMP)) out[W_TP] = 0xffffffff;
  } else if (type === ETH_TYPE_IPV6) {
    for (let i = 0; i < 4; i++) out[W_NW_SRC + i] = out[W_NW_DST + i] = 0xffffffff;
    out[W_NW] = 0xffffffff;
    out[W_IPV6_LABEL] = 0xfffff;
    if (l4 || (!later && proto === IPPROTO_ICMPV6)) out[W_TP] = 0xffffffff;
    const t = (flow[W_TP] >>> 16) & 0xff;
    if (!later && proto === IPPROTO_ICMPV6 && (t === 135 || t === 136)) {
      for (let i = 0; i < 4; i++) out[W_ND_TARGET + i] = 0xffffffff;
      if (t === 135) { out[W_ARP_SHA_HI] = 0xffffffff; out[W_ARP_MID] = 0xffff0000; }
      else { out[W_ARP_MID] = 0x0000ffff; out[W_ARP_THA_LO] = 0xffffffff; }
    }
  } else if (type === ETH_TYPE_ARP || type === ETH_TYPE_RARP) {
    out[W_NW_SRC] = out[W_NW_DST] = 0xffffffff;
    out[W_NW] = 0xff000000;
    out[W_ARP_SHA_HI] = out[W_ARP_MID] = out[W_ARP_THA_LO] = 0xffffffff;
  }
  if (flow[OF_W_METADATA] !== 0 || flow[OF_W_METADATA + 1] !== 0) out[OF_W_METADATA] = out[OF_W_METADATA + 1] = 0xffffffff;
  for (let w = OF_W_METADATA + 2; w < OF_WORDS; w++) if (flow[w] !== 0) out[w] = 0xffffffff;
}

/** A whole flow as ofproto/trace prints it ("tcp,in_port=1,vlan_tci=0x0000,dl_src=..."). */
export function formatTraceFlow(flow: Uint32Array, names?: PortNamer): string {
  const m = new Match();
  presentMask(flow, m.mask);
  for (let w = 0; w < OF_WORDS; w++) m.value[w] = (flow[w] & m.mask[w]) >>> 0;
  return formatMatch(m, 32768, names);
}

/** The datapath flow a translation would install, as a match ("recirc_id=0,eth,ip,in_port=1,..."). */
export function formatMegaflow(key: Uint32Array, mask: Uint32Array, ofInPort: number, names?: PortNamer): string {
  const m = new Match();
  for (let w = 1; w < KEY_WORDS; w++) {
    m.mask[w] = mask[w];
    m.value[w] = (key[w] & mask[w]) >>> 0;
  }
  m.mask[0] = 0xffff;
  m.value[0] = ofInPort & 0xffff;
  return `recirc_id=0,eth,${formatMatch(m, 32768, names)}`;
}

function parseHex(s: string): Uint8Array {
  const hex = s.replace(/[\s:.]/g, '');
  if (hex.length === 0 || hex.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(hex)) throw commandError(`${s.slice(0, 40)}: packet must be hex digits (an even number of them)`);
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Runs ofproto/trace on `br` (see the header). */
export function traceFlow(br: Bridge, flowText: string, packetHex?: string): string {
  const names = bridgeNamer(br);
  let m: Match;
  try {
    m = parseMatch(flowText, names);
  } catch (e) {
    throw commandError(`${(e as Error).message}`);
  }
  const ofIn = m.value[0] & 0xffff;
  const bp = br.port(ofIn);
  const key = new Uint32Array(KEY_WORDS);
  if (packetHex !== undefined && packetHex !== '-generate') {
    const pkt = parseHex(packetHex);
    if (extractKey(pkt, 0, pkt.length, bp?.odpPort ?? 0, key, 0) === 1) throw commandError('packet is shorter than an Ethernet header');
  } else {
    for (let w = 1; w < KEY_WORDS; w++) key[w] = m.value[w];
    key[0] = bp?.odpPort ?? 0;
  }
  const trace = new XlateTrace();
  const x = new Xlator();
  x.translate(br, key, ofIn, { sideEffects: false, now: Date.now(), trace }, m.value);
  let out = `Flow: ${formatTraceFlow(x.initial)}\n`;
  out += trace.format();
  let same = true;
  for (let w = 0; w < OF_WORDS; w++) if (x.flow[w] !== x.initial[w]) same = false;
  out += `\nFinal flow: ${same ? 'unchanged' : formatTraceFlow(x.flow)}\n`;
  out += `Megaflow: ${formatMegaflow(key, x.mask, ofIn)}\n`;
  out += `Datapath actions: ${formatOdpActions(x.out.buf.subarray(0, x.out.n))}\n`;
  return out;
}

export function formatFdbStats(br: Bridge): string {
  const m = br.macs;
  const c = m.counters;
  return `Statistics for bridge "${br.name}":\n` +
    `  Current/maximum MAC entries in the table: ${m.size}/${m.maxEntries}\n` +
    '  Current static MAC entries in the table : 0\n' +
    `  Total number of learned MAC entries     : ${c.learned}\n` +
    `  Total number of expired MAC entries     : ${c.aged}\n` +
    `  Total number of evicted MAC entries     : ${c.evicted}\n` +
    `  Total number of port moved MAC entries  : ${c.moved}\n`;
}

/** Registers the commands of this module; `flush()` empties the datapath's flow table. */
export function registerOfprotoCommands(ctl: Appctl, st: SwitchState, flush: () => Promise<void>): void {
  const needBridge = (name: string): Bridge => {
    const br = st.bridges.get(name);
    if (!br) throw commandError('no such bridge');
    return br;
  };
  ctl.register('ofproto/trace', 'bridge flow [packet]', 2, 3, ([name, flow, packet]) => {
    const br = st.bridges.get(name);
    if (!br) throw commandError(`${name}: unknown bridge`);
    return traceFlow(br, flow, packet);
  });
  ctl.register('fdb/stats-show', 'bridge', 1, 1, ([name]) => formatFdbStats(needBridge(name)));
  ctl.register('upcall/show', '', 0, 0, () => {
    const u = udpifOf(st);
    return `system@vswitch:\n  flows         : (current ${u.nFlows}) (avg ${u.nFlows}) (max ${u.nFlows}) (limit ${u.flowLimit})\n` +
      `  dump duration : ${u.lastPassMs}ms\n  ufid enabled : false\n  megaflows     : ${u.megaflows ? 'enabled' : 'disabled'}\n` +
      `  configured flow limit: ${flowLimitCeiling(st)}\n\n  0: (keys ${u.ukeys.size})\n`;
  });
  ctl.register('upcall/disable-megaflows', '', 0, 0, async () => {
    const u = udpifOf(st);
    u.megaflows = false;
    await flush();
    u.ukeys.clear();
    return 'megaflows disabled\n';
  });
  ctl.register('upcall/enable-megaflows', '', 0, 0, async () => {
    const u = udpifOf(st);
    u.megaflows = true;
    await flush();
    u.ukeys.clear();
    return 'megaflows enabled\n';
  });
  ctl.register('memory/show', '', 0, 0, () => {
    let rules = 0;
    let macs = 0;
    let ports = 0;
    for (const br of st.bridges.values()) {
      rules += br.tables.count;
      macs += br.macs.size;
      ports += br.ordered.length;
    }
    const mem = process.memoryUsage();
    const kb = (n: number): number => Math.round(n / 1024);
    return `handlers:1 ports:${ports} revalidators:1 rules:${rules} udpif keys:${udpifOf(st).ukeys.size} mac entries:${macs}\n` +
      `rss:${kb(mem.rss)}kB heap used:${kb(mem.heapUsed)}kB heap total:${kb(mem.heapTotal)}kB external:${kb(mem.external)}kB\n`;
  });
}
