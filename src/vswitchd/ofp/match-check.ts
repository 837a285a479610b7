/*
 * Checks a Match that did not come through the flow syntax (the flow protocol, learned flows):
 * every bit it constrains must belong to a field whose prerequisites the match meets, and the
 * reserved word must be free. Throws OfpError(BAD_MATCH, BAD_PREREQ | BAD_FIELD). Called by
 * tables.ts before a flow mod is applied. Control path.
 */
import { W_ARP_MID, W_ARP_SHA_HI, W_ARP_THA_LO, W_IPV6_LABEL, W_ND_TARGET, W_NW, W_NW_DST, W_NW_SRC, W_RESERVED, W_TP } from '../../lib/flow-key.js';
import { OFPBMC_BAD_FIELD, OFPBMC_BAD_PREREQ, OFPET_BAD_MATCH } from '../../lib/flowproto/error-codes.js';
import { OfpError } from './errors.js';
import { P_ARP, P_ICMP_ANY, P_IP_ANY, P_IP_ANY_ARP, P_IP_ARP, P_IPV6, P_L4, P_ND, PREREQ_TEXT, prereqMet } from './fields.js';
import type { Match } from './match.js';

function need(m: Match, p: number, name: string): void {
  if (!prereqMet(p, m.value, m.mask)) throw new OfpError(OFPET_BAD_MATCH, OFPBMC_BAD_PREREQ, `${name} requires ${PREREQ_TEXT[p]}`);
}

/** Throws OfpError when `m` constrains a field without its prerequisites. */
export function validateMatch(m: Match): void {
  const k = m.mask;
  if ((k[0] & 0xffff0000) !== 0 || k[W_RESERVED] !== 0) {
    throw new OfpError(OFPET_BAD_MATCH, OFPBMC_BAD_FIELD, 'the match uses bits that belong to no field');
  }
  // The first word of nw_src/nw_dst is an IPv4 (or ARP) address or the start of an IPv6 one.
  const v6 = prereqMet(P_IPV6, m.value, k);
  if (k[W_NW_SRC] !== 0 && !v6) need(m, P_IP_ARP, 'nw_src');
  if (k[W_NW_DST] !== 0 && !v6) need(m, P_IP_ARP, 'nw_dst');
  for (let i = 1; i < 4; i++) {
    if (k[W_NW_SRC + i] !== 0) need(m, P_IPV6, 'ipv6_src');
    if (k[W_NW_DST + i] !== 0) need(m, P_IPV6, 'ipv6_dst');
  }
  const nw = k[W_NW];
  if ((nw & 0xff000000) !== 0) need(m, P_IP_ANY_ARP, 'nw_proto');
  if ((nw & 0x00ff0000) !== 0) need(m, P_IP_ANY, 'nw_tos');
  if ((nw & 0x0000ff00) !== 0) need(m, P_IP_ANY, 'nw_ttl');
  if ((nw & 0x000000ff) !== 0) need(m, P_IP_ANY, 'nw_frag');
  if (k[W_TP] !== 0 && !prereqMet(P_ICMP_ANY, m.value, k)) need(m, P_L4, (k[W_TP] & 0xffff0000) !== 0 ? 'tp_src' : 'tp_dst');
  if ((k[W_ARP_SHA_HI] | k[W_ARP_MID] | k[W_ARP_THA_LO]) !== 0 && !prereqMet(P_ND, m.value, k)) need(m, P_ARP, 'arp_sha');
  if (k[W_IPV6_LABEL] !== 0) need(m, P_IPV6, 'ipv6_label');
  for (let i = W_ND_TARGET; i < W_ND_TARGET + 4; i++) if (k[i] !== 0) need(m, P_ND, 'nd_target');
  // Metadata and registers (words KEY_WORDS..) have no prerequisites.
}
