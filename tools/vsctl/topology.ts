/*
 * The bridge/port/interface view of the database that vsctl's bridge, port, interface and
 * controller commands work on (ovs-vsctl's cache): found by following Open_vSwitch.bridges ->
 * Bridge.ports -> Port.interfaces, so rows nothing reaches are not part of it. Rebuilt from
 * the working model by each command. Control path only.
 */
import { ToolError } from '../common.js';
import { str, type DbModel, type MRow } from './model.js';

export interface PortInfo {
  port: MRow;
  bridge: MRow;
}

export interface Topology {
  ovs: MRow | undefined;
  bridges: Map<string, MRow>;
  ports: Map<string, PortInfo>;
  ifaces: Map<string, PortInfo & { iface: MRow }>;
}

export const nameOf = (r: MRow): string => str(r.cols.get('name'));

export function topology(m: DbModel): Topology {
  const ovs = m.rows('Open_vSwitch')[0];
  const t: Topology = { ovs, bridges: new Map(), ports: new Map(), ifaces: new Map() };
  if (!ovs) return t;
  for (const bridge of m.refs(ovs, 'bridges')) {
    t.bridges.set(nameOf(bridge), bridge);
    for (const port of m.refs(bridge, 'ports')) {
      t.ports.set(nameOf(port), { port, bridge });
      for (const iface of m.refs(port, 'interfaces')) t.ifaces.set(nameOf(iface), { port, bridge, iface });
    }
  }
  return t;
}

/** The Open_vSwitch row, created if the database has none yet (as ovs-vsctl does). */
export function ovsRow(m: DbModel): MRow {
  return m.rows('Open_vSwitch')[0] ?? m.insert('Open_vSwitch');
}

export function findBridge(t: Topology, name: string): MRow {
  const br = t.bridges.get(name);
  if (!br) throw new ToolError(`no bridge named ${name}`);
  return br;
}

/** Fails if `name` is already a bridge, port or interface ("cannot create a port named x
 * because a bridge named x already exists"). */
export function checkConflicts(t: Topology, name: string, what: string): void {
  if (t.bridges.has(name)) throw new ToolError(`${what} because a bridge named ${name} already exists`);
  const p = t.ports.get(name);
  if (p) throw new ToolError(`${what} because a port named ${name} already exists on bridge ${nameOf(p.bridge)}`);
  const i = t.ifaces.get(name);
  if (i) throw new ToolError(`${what} because an interface named ${name} already exists on bridge ${nameOf(i.bridge)}`);
}
