/*
 * Reconciliation: makes the datapath and vswitchd's bridges match the database, and writes back
 * what happened. Run by vswitchd.ts after every change of the replica, after a reconnect and at
 * start; idempotent (running it twice changes nothing the second time). Control path.
 *
 * Steps: read the wanted interfaces (Open_vSwitch.bridges -> Bridge.ports -> Port.interfaces),
 * check their types (system or "", tap, internal, stream and dummy are supported; anything else
 * gets Interface.error and is skipped, never fatal; a stream port needs an absolute
 * options:path); delete datapath ports that no wanted interface has (by name, type and stream
 * options: ports belong to bridges by name); add the missing ones (port_add is idempotent for
 * an existing name+type+options, so a restarted vswitchd adopts the devices as they are); assign
 * OpenFlow port numbers (ofport.ts); update the Bridge objects, flushing MAC entries of ports
 * that went away or changed; then one transaction writes Interface.ofport / error /
 * link_state / mac_in_use where they differ and Open_vSwitch.cur_cfg = next_cfg.
 *
 * Devices come and go under system ports (a veth deleted, a guest stopped): the datapath keeps
 * such a port and reports its link state and why it is not working in port_list; this writes
 * them to Interface.link_state and Interface.error (and logs the change). PortStatusWatch polls
 * port_list once a second and reconciles when a port's state changed, and every few seconds
 * while a system interface is waiting for its device to appear (or a stream interface for the
 * directory of its socket).
 */
import type { DpifClient } from '../lib/dpif-client.js';
import type { VswitchError } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import { sameStreamOptions, STREAM_OPTION_KEYS, streamOptionsError, type StreamOptions } from '../lib/stream-options.js';
import { atoms, mapOf, scalar, set, uuid, uuidStr } from '../ovsdb/datum.js';
import { Bridge, BridgePort, type VlanConfig, type VlanMode } from './bridge.js';
import { DEFAULT_MAC_AGING_S, DEFAULT_MAC_TABLE_SIZE } from './mac-learning.js';
import { assignOfports } from './ofport.js';
import { OFPPC_PORT_DOWN, portConfig } from './ofport-config.js';
import { DEFAULT_MAX_IDLE_MS, type DpPort, type SwitchState } from './state.js';

export type Row = Record<string, unknown> & { _uuid?: unknown };

/** The part of the database replica reconciliation needs (an Idl provides it). */
export interface ConfigDb {
  rows(table: string): Map<string, Row>;
  get(table: string, uuid: string): Row | undefined;
  /** Runs `ops` on the Open_vSwitch database; rejects on failure. */
  transact(ops: object[]): Promise<unknown>;
}

interface Wanted {
  name: string;
  type: string;
  /** The datapath port type: "" is "system", as in OVS. */
  dpType: string;
  /** stream: options path, mode and group of the socket the datapath listens on ({} for
   *  other types). */
  options: StreamOptions;
  ifaceUuid: string;
  iface: Row;
  bridge: string;
  port: Row;
  error: string;
  /** Why the device of a configured port is not working now (the port stays on its bridge). */
  devError: string;
  linkState: string;
  odpPort: number;
}

/** A datapath port as port_list reports it, with its device's state. */
interface DpPortStatus extends DpPort {
  link_state?: string;
  error?: string;
  options?: StreamOptions;
}

/** True if datapath port `p` is what `w` asks for (name, type and, for stream, options). */
function isWanted(p: DpPortStatus, w: Wanted): boolean {
  return p.name === w.name && p.type === w.dpType && sameStreamOptions(p.options ?? {}, w.options);
}

/** The stream options of an Interface row (path, mode, group; other keys are not ours). */
function streamOptions(iface: Row): StreamOptions {
  const m = mapOf(iface.options);
  const o: StreamOptions = {};
  for (const k of STREAM_OPTION_KEYS) {
    const v = m.get(k);
    if (typeof v === 'string') o[k] = v;
  }
  return o;
}

/** Interface types vswitchd can create; `dummy` (no device, frames injected by tests) as in OVS;
 *  "" means system. */
export const SUPPORTED_TYPES = new Set(['system', '', 'tap', 'internal', 'stream', 'dummy']);

/** The datapath port type for an Interface type. */
export function datapathType(type: string): string {
  return type === '' ? 'system' : type;
}

export function interfaceTypeError(name: string, type: string): string {
  return `could not open network device ${name} (unknown type "${type}"; use type=system, type=tap or type=internal)`;
}

function str(v: unknown): string {
  const s = scalar(v);
  return typeof s === 'string' ? s : '';
}
function int(v: unknown): number | undefined {
  const s = scalar(v);
  if (typeof s === 'number' && Number.isInteger(s)) return s;
  if (typeof s === 'string' && /^-?\d+$/.test(s)) return Number(s);
  return undefined;
}
function otherConfig(row: Row | undefined, key: string): string | undefined {
  if (!row) return undefined;
  const v = mapOf(row.other_config).get(key);
  return typeof v === 'string' ? v : undefined;
}
function positiveInt(s: string | undefined, dflt: number): number {
  if (s === undefined || !/^\d+$/.test(s)) return dflt;
  const n = Number(s);
  return n > 0 ? n : dflt;
}

/** Resolves a Port row's VLAN columns the way OVS documents them. */
export function portVlanConfig(port: Row): VlanConfig {
  const tag = int(port.tag);
  const trunks = atoms(port.trunks).filter((t): t is number => typeof t === 'number');
  const modeCol = str(port.vlan_mode);
  const mode: VlanMode =
    modeCol === 'access' || modeCol === 'trunk' || modeCol === 'native-tagged' || modeCol === 'native-untagged'
      ? modeCol
      : tag !== undefined ? 'access' : 'trunk';
  return {
    mode,
    tag: mode === 'trunk' ? -1 : tag ?? 0,
    trunks: trunks.length === 0 ? null : new Set(trunks),
  };
}

function sameVlan(a: VlanConfig, b: VlanConfig): boolean {
  if (a.mode !== b.mode || a.tag !== b.tag) return false;
  if (a.trunks === null || b.trunks === null) return a.trunks === b.trunks;
  if (a.trunks.size !== b.trunks.size) return false;
  for (const t of a.trunks) if (!b.trunks.has(t)) return false;
  return true;
}

/** Reads the wanted interfaces from the replica (sorted by bridge then name). */
function wantedInterfaces(db: ConfigDb, ovs: Row | undefined, log: Logger): { bridges: Row[]; wanted: Map<string, Wanted> } {
  const bridges: Row[] = [];
  const wanted = new Map<string, Wanted>();
  const seenBridge = new Set<string>();
  const brRows = ovs ? atoms(ovs.bridges).map((a) => db.get('Bridge', uuidStr(a))).filter((r): r is Row => !!r) : [];
  brRows.sort((a, b) => (str(a.name) < str(b.name) ? -1 : 1));
  for (const br of brRows) {
    const brName = str(br.name);
    if (seenBridge.has(brName)) {
      log.warn({ bridge: brName }, 'duplicate bridge name ignored');
      continue;
    }
    seenBridge.add(brName);
    bridges.push(br);
    for (const pa of atoms(br.ports)) {
      const port = db.get('Port', uuidStr(pa));
      if (!port) continue;
      const ifaces = atoms(port.interfaces);
      ifaces.forEach((ia, i) => {
        const iu = uuidStr(ia);
        const iface = db.get('Interface', iu);
        if (!iface) return;
        const name = str(iface.name);
        const type = str(iface.type);
        let error = '';
        const options = type === 'stream' ? streamOptions(iface) : {};
        const prior = wanted.get(name);
        if (prior) error = `could not add interface ${name} to bridge ${brName}: it is already on bridge ${prior.bridge}`;
        else if (i > 0) error = `port ${str(port.name)} has more than one interface; bonds are not supported yet`;
        else if (!SUPPORTED_TYPES.has(type)) error = interfaceTypeError(name, type);
        else if (type === 'stream') error = streamOptionsError(name, options);
        const w: Wanted = { name, type, dpType: datapathType(type), options, ifaceUuid: iu, iface, bridge: brName, port, error, devError: '', linkState: '', odpPort: 0 };
        if (prior) wanted.set(`${name}\u0000${iu}`, w);
        else wanted.set(name, w);
      });
    }
  }
  return { bridges, wanted };
}

/**
 * Runs one reconciliation. Returns true when bridges or ports changed. `beforeWriteBack` runs
 * once the bridges are updated and before cur_cfg is written (vswitchd opens the bridges'
 * flow-protocol sockets there, so they exist when vsctl returns).
 */
export async function reconcile(st: SwitchState, db: ConfigDb, dp: DpifClient, log: Logger, beforeWriteBack?: () => Promise<void>): Promise<boolean> {
  const ovs = [...db.rows('Open_vSwitch').values()][0];
  const { bridges, wanted } = wantedInterfaces(db, ovs, log);
  st.counters.reconfigures++;

  // Datapath ports: remove the unwanted, add the missing.
  let list = (await dp.request('port_list')) as DpPortStatus[];
  for (const p of list) {
    const w = wanted.get(p.name);
    if (w && !w.error && isWanted(p, w)) continue;
    try {
      await dp.request('port_del', { port_no: p.port_no });
      log.info({ port: p.name, port_no: p.port_no }, 'deleted datapath port');
    } catch (e) {
      log.warn({ port: p.name, err: (e as Error).message }, 'could not delete datapath port');
    }
  }
  let added = false;
  // Bridge by bridge, its own interface first, then by name: port numbers come out predictable.
  const order = [...wanted.values()].sort((a, b) =>
    a.bridge !== b.bridge ? (a.bridge < b.bridge ? -1 : 1)
      : (a.name === a.bridge) !== (b.name === b.bridge) ? (a.name === a.bridge ? -1 : 1)
        : a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  for (const w of order) {
    if (w.error) continue;
    const have = list.find((p) => isWanted(p, w));
    if (have) {
      w.odpPort = have.port_no;
      continue;
    }
    try {
      const r = (await dp.request('port_add', { name: w.name, type: w.dpType, ...(w.dpType === 'stream' ? { options: w.options } : {}) })) as { port_no: number };
      w.odpPort = r.port_no;
      added = true;
      log.info({ port: w.name, type: w.dpType, port_no: r.port_no }, 'added datapath port');
    } catch (e) {
      const msg = (e as Error).message;
      // NO_SUCH_DEVICE, stream: the datapath's message already names the port and what to do.
      w.error = (e as VswitchError).code === 'NO_SUCH_DEVICE' || w.dpType === 'stream' ? msg : `could not open network device ${w.name} (${msg})`;
      // Retried every few seconds while the device is missing: say it once.
      if (str(w.iface.error) === w.error) log.debug({ port: w.name, err: msg }, 'could not add datapath port');
      else log.warn({ port: w.name, err: msg }, 'could not add datapath port');
    }
  }
  list = (await dp.request('port_list')) as DpPortStatus[];
  for (const p of list) {
    const w = wanted.get(p.name);
    if (!w || w.error) continue;
    w.devError = p.error ?? '';
    w.linkState = p.link_state === 'up' ? 'up' : p.link_state ? 'down' : '';
    const before = st.dpPorts.find((q) => q.port_no === p.port_no) as DpPortStatus | undefined;
    if (before && before.name === p.name && (before.error ?? '') !== w.devError) {
      if (w.devError) log.warn({ port: p.name, err: w.devError }, 'interface device is gone');
      else log.info({ port: p.name }, 'interface device is back');
    }
  }
  if (added) log.debug({ ports: list.length }, 'datapath ports after reconciliation');
  st.dpPorts = list;

  // Bridges and OpenFlow port numbers.
  let changed = false;
  const keep = new Set<string>();
  for (const row of bridges) {
    const name = str(row.name);
    const rowUuid = uuidStr(row._uuid ?? '');
    keep.add(name);
    let br = st.bridges.get(name);
    if (!br || br.uuid !== rowUuid) {
      br = new Bridge(name, rowUuid);
      st.bridges.set(name, br);
      changed = true;
      log.info({ bridge: name }, 'created bridge');
    }
    br.macs.agingS = positiveInt(otherConfig(row, 'mac-aging-time'), DEFAULT_MAC_AGING_S);
    const size = positiveInt(otherConfig(row, 'mac-table-size'), DEFAULT_MAC_TABLE_SIZE);
    if (size !== br.macs.maxEntries) br.macs.resize(size);
    br.forwardBpdu = otherConfig(row, 'forward-bpdu') === 'true';

    const mine = [...wanted.values()].filter((w) => w.bridge === name && !w.error);
    const ofports = assignOfports(
      name,
      mine.map((w) => ({ name: w.name, request: int(w.iface.ofport_request), current: int(w.iface.ofport) })),
    );
    const next = new Map<number, BridgePort>();
    for (const w of mine) {
      const ofport = ofports.get(w.name);
      if (ofport === undefined) {
        w.error = `could not add interface ${w.name}: no OpenFlow port number left on bridge ${name}`;
        continue;
      }
      const vlan = portVlanConfig(w.port);
      const old = br.port(ofport);
      if (old && old.name === w.name && old.type === w.dpType && old.odpPort === w.odpPort) {
        if (!sameVlan(old.vlan, vlan)) {
          old.vlan = vlan;
          br.macs.flush(ofport);
          changed = true;
        }
        old.portName = str(w.port.name);
        next.set(ofport, old);
      } else {
        next.set(ofport, new BridgePort(br, w.name, w.dpType, str(w.port.name), ofport, w.odpPort, vlan));
        changed = true;
      }
    }
    for (const [ofport, p] of br.portsByOfport) {
      if (next.get(ofport) !== p) {
        br.macs.flush(ofport);
        changed = true;
      }
    }
    br.portsByOfport.clear();
    for (const [k, v] of next) br.portsByOfport.set(k, v);
    br.reindex();
  }
  for (const name of [...st.bridges.keys()]) {
    if (!keep.has(name)) {
      st.bridges.delete(name);
      changed = true;
      log.info({ bridge: name }, 'deleted bridge');
    }
  }
  st.reindexPorts();

  // Daemon-wide settings.
  st.maxIdleMs = positiveInt(otherConfig(ovs, 'max-idle'), DEFAULT_MAX_IDLE_MS);
  const flowLimit = otherConfig(ovs, 'flow-limit');
  if (flowLimit !== undefined && /^\d+$/.test(flowLimit) && Number(flowLimit) !== st.flowLimit) {
    try {
      await dp.request('set_config', { flow_limit: Number(flowLimit) });
      st.flowLimit = Number(flowLimit);
    } catch (e) {
      log.warn({ err: (e as Error).message }, 'could not set flow-limit');
    }
  }

  if (beforeWriteBack) await beforeWriteBack();
  await writeBack(db, ovs, wanted, st, list, log);
  return changed;
}

/** Writes Interface ofport/error/mac_in_use where they differ, and cur_cfg. */
async function writeBack(db: ConfigDb, ovs: Row | undefined, wanted: Map<string, Wanted>, st: SwitchState, list: DpPortStatus[], log: Logger): Promise<void> {
  const ops: object[] = [];
  for (const w of wanted.values()) {
    const row: Record<string, unknown> = {};
    const bp = w.error ? undefined : st.bridges.get(w.bridge)?.portByName(w.name);
    const ofport = bp ? bp.ofport : -1;
    if ('ofport' in w.iface && int(w.iface.ofport) !== ofport) row.ofport = ofport;
    const error = w.error || w.devError;
    if ('error' in w.iface && str(w.iface.error) !== error) row.error = error ? error : set([]);
    const link = bp ? w.linkState : '';
    if ('link_state' in w.iface && str(w.iface.link_state) !== link) row.link_state = link ? link : set([]);
    const admin = bp ? ((portConfig(bp) & OFPPC_PORT_DOWN) !== 0 ? 'down' : 'up') : '';
    if ('admin_state' in w.iface && str(w.iface.admin_state) !== admin) row.admin_state = admin ? admin : set([]);
    const mac = bp ? list.find((p) => p.port_no === bp.odpPort)?.mac ?? '' : '';
    if ('mac_in_use' in w.iface && str(w.iface.mac_in_use) !== mac) row.mac_in_use = mac ? mac : set([]);
    if (Object.keys(row).length > 0) {
      ops.push({ op: 'update', table: 'Interface', where: [['_uuid', '==', uuid(w.ifaceUuid)]], row });
    }
  }
  if (ovs) {
    const next = int(ovs.next_cfg) ?? 0;
    if (int(ovs.cur_cfg) !== next) {
      ops.push({ op: 'update', table: 'Open_vSwitch', where: [['_uuid', '==', uuid(uuidStr(ovs._uuid ?? ''))]], row: { cur_cfg: next } });
    }
  }
  if (ops.length === 0) return;
  try {
    await db.transact(ops);
  } catch (e) {
    log.warn({ err: (e as Error).message }, 'could not write interface status to the database');
  }
}

/** True if a port's device state in `now` differs from what the last reconciliation saw. */
export function portStatusChanged(before: DpPort[], now: DpPort[]): boolean {
  if (before.length !== now.length) return true;
  const old = new Map(before.map((p) => [p.port_no, p as DpPortStatus]));
  for (const p of now as DpPortStatus[]) {
    const o = old.get(p.port_no);
    if (!o || o.name !== p.name || (o.link_state ?? '') !== (p.link_state ?? '') || (o.error ?? '') !== (p.error ?? '')) return true;
  }
  return false;
}

/** True if a system interface could not be added because its device was missing, or a stream
 *  interface because its socket could not be created (a directory that may appear later). */
export function waitingForDevices(ifaces: Map<string, Row>): boolean {
  for (const row of ifaces.values()) {
    const t = str(row.type);
    if ((t === '' || t === 'system') && str(row.error).startsWith('could not open network device')) return true;
    if (t === 'stream' && str(row.error).includes(': cannot listen on ')) return true;
  }
  return false;
}

/**
 * Polls the datapath's port list once a second (vswitchd runs one): when a port's device state
 * changed (gone, back, link up/down) it asks for a reconciliation, which writes it to the
 * database; every RETRY_TICKS polls it also asks while a system interface waits for its
 * device to appear, so `add-port` of a device created later starts working. Control path.
 */
export class PortStatusWatch {
  static readonly RETRY_TICKS = 3;
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  private ticks = 0;

  constructor(
    private readonly st: SwitchState,
    private readonly dp: () => DpifClient | null,
    private readonly ifaces: () => Map<string, Row> | null,
    private readonly reconfigure: () => Promise<void>,
    private readonly intervalMs = 1000,
  ) {}

  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** One poll (the timer's; tests call it directly). */
  async tick(): Promise<void> {
    const dp = this.dp();
    if (this.busy || dp === null || !this.st.ready) return;
    this.busy = true;
    try {
      const list = (await dp.request('port_list')) as DpPort[];
      let go = portStatusChanged(this.st.dpPorts, list);
      if (!go && ++this.ticks % PortStatusWatch.RETRY_TICKS === 0) {
        const ifaces = this.ifaces();
        go = ifaces !== null && waitingForDevices(ifaces);
      }
      if (go) await this.reconfigure();
    } catch {
      // the datapath went away: the reconnect logic takes over
    } finally {
      this.busy = false;
    }
  }
}
