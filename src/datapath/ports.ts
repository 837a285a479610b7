/*
 * The datapath's port registry: port_no → Netdev plus that port's transmit queue. add/del are
 * control path (dpif port_add/port_del); get() is hot (once per output action). Owned by the
 * Datapath; the action runner fills the tx queues and flushes them (src/datapath/actions.ts).
 * Port numbers start at 1 (0 is never used) and are the datapath's own.
 */
import { VswitchError } from '../lib/errors.js';
import { sameStreamOptions } from '../lib/stream-options.js';
import { BATCH_MAX, VNET_WORDS } from './batch.js';
import type { Netdev, NetdevOptions, NetdevType } from './netdev.js';

/** Frames a port's tx queue holds before it is flushed early. */
export const TXQ_MAX = BATCH_MAX * 4;
export const MAX_PORT_NO = 65535;

/** Thrown when port_del or a port lookup names a port that does not exist. */
export class NoSuchPortError extends VswitchError {
  constructor(what: string) {
    super('NO_SUCH_PORT', `no such port: ${what}`);
    this.name = 'NoSuchPortError';
  }
}

/** Thrown when port_add asks for a name or number already taken by a different port. */
export class PortExistsError extends VswitchError {
  constructor(message: string) {
    super('PORT_EXISTS', message);
    this.name = 'PortExistsError';
  }
}

/** Thrown when a request is malformed (bad name, type or port number). */
export class BadRequestError extends VswitchError {
  constructor(message: string) {
    super('BAD_REQUEST', message);
    this.name = 'BadRequestError';
  }
}

/** What port_add may configure on a port (stream: the socket's path, mode and group). */
export type PortOptions = Pick<NetdevOptions, 'path' | 'mode' | 'group'>;

export type OpenNetdevFn = (name: string, type: NetdevType, options?: PortOptions) => Netdev;

/** Slots of Port.offload, counted by the action runner for frames sent on the port. */
export const PO_TX_GSO = 0;
export const PO_TX_SW_SEGMENTED = 1;
export const PO_TX_SW_SEGMENTS = 2;
export const PO_TX_SW_CSUM = 3;
export const PO_TX_OFFLOAD_BAD = 4;
export const PORT_OFFLOAD_NAMES: readonly string[] = [
  'tx_gso', 'tx_sw_segmented', 'tx_sw_segments', 'tx_sw_csum', 'tx_offload_bad',
];

export class Port {
  readonly portNo: number;
  readonly name: string;
  readonly type: NetdevType;
  readonly netdev: Netdev;
  /** As given to port_add ({} for most types). */
  readonly options: PortOptions;
  /** Tx queue: frame k is batch buffer [txOffs[k], txOffs[k]+txLens[k]). */
  readonly txOffs: Int32Array;
  readonly txLens: Int32Array;
  /** Virtio header of queued frame k: txVnet[k*VNET_WORDS ..]; the same bytes as txVnetBytes. */
  readonly txVnet: Uint16Array;
  readonly txVnetBytes: Uint8Array;
  /** Offload counters (PO_*): GSO frames sent whole; frames segmented in software and the
   *  segments made; checksums finished in software; frames dropped for bad offload metadata. */
  readonly offload: Float64Array;
  txCount: number;
  /** On the action runner's dirty list (has queued frames). */
  dirty: boolean;
  closed: boolean;
  /** A frame sent here may be answered before txBurst returns (the kernel runs the receiving
   *  host's stack inside the write), so Pipeline.runPort looks for that answer at once: tap,
   *  internal and system ports (and dummies, for tests); not streams, whose peer is a process. */
  readonly pickup: boolean;

  /** The netdev's counters by reason plus the offload counters (control path; allocates). */
  counters(): Record<string, number> {
    const out = this.netdev.dropCounters();
    for (let i = 0; i < PORT_OFFLOAD_NAMES.length; i++) out[PORT_OFFLOAD_NAMES[i]] = this.offload[i];
    return out;
  }

  constructor(portNo: number, name: string, type: NetdevType, netdev: Netdev, options: PortOptions = {}) {
    this.portNo = portNo;
    this.name = name;
    this.type = type;
    this.netdev = netdev;
    this.options = options;
    this.txOffs = new Int32Array(TXQ_MAX);
    this.txLens = new Int32Array(TXQ_MAX);
    this.txVnet = new Uint16Array(TXQ_MAX * VNET_WORDS);
    this.txVnetBytes = new Uint8Array(this.txVnet.buffer);
    this.offload = new Float64Array(PORT_OFFLOAD_NAMES.length);
    this.txCount = 0;
    this.dirty = false;
    this.closed = false;
    this.pickup = type !== 'stream';
  }
}

export class PortTable {
  /** Indexed by port number; null where there is no port. */
  private byNo: (Port | null)[] = [null];
  private readonly byName = new Map<string, Port>();
  constructor(private readonly open: OpenNetdevFn) {}

  /** The port numbered `portNo`, or null. Hot. */
  get(portNo: number): Port | null {
    return portNo >= 0 && portNo < this.byNo.length ? this.byNo[portNo] : null;
  }

  byNameGet(name: string): Port | undefined {
    return this.byName.get(name);
  }

  /**
   * Adds port `name` (opening its device), or returns the existing port of that name, type and
   * options untouched. Throws BadRequestError, PortExistsError, or the netdev's NETDEV_OPEN error.
   */
  add(name: string, type: NetdevType, portNo?: number, options: PortOptions = {}): { port: Port; created: boolean } {
    const existing = this.byName.get(name);
    if (existing) {
      if (existing.type !== type) throw new PortExistsError(`port '${name}' already exists with type ${existing.type} (port ${existing.portNo})`);
      if (!sameStreamOptions(existing.options, options)) throw new PortExistsError(`port '${name}' already exists with other options (port ${existing.portNo}); delete it first`);
      return { port: existing, created: false };
    }
    let no: number;
    if (portNo !== undefined) {
      if (!Number.isInteger(portNo) || portNo < 1 || portNo > MAX_PORT_NO) throw new BadRequestError(`port_no ${portNo} out of range 1..${MAX_PORT_NO}`);
      const taken = this.get(portNo);
      if (taken) throw new PortExistsError(`port number ${portNo} is already used by '${taken.name}'`);
      no = portNo;
    } else {
      no = 1;
      while (this.get(no)) no++;
      if (no > MAX_PORT_NO) throw new BadRequestError('no free port number');
    }
    const netdev = this.open(name, type, options);
    const port = new Port(no, name, type, netdev, options);
    while (this.byNo.length <= no) this.byNo.push(null);
    this.byNo[no] = port;
    this.byName.set(name, port);
    return { port, created: true };
  }

  /** Removes and closes a port (a tap/internal device disappears). Throws NoSuchPortError. */
  del(portNo: number): Port {
    const port = this.get(portNo);
    if (!port) throw new NoSuchPortError(`port number ${portNo}`);
    this.byNo[portNo] = null;
    this.byName.delete(port.name);
    port.closed = true;
    port.netdev.close();
    return port;
  }

  /** Ports in port number order (control path). */
  list(): Port[] {
    return this.byNo.filter((p): p is Port => p !== null);
  }

  get size(): number {
    return this.byName.size;
  }

  /** Closes every port (shutdown). */
  closeAll(): void {
    for (const p of this.list()) {
      try {
        this.del(p.portNo);
      } catch {
        /* closing is best effort at shutdown */
      }
    }
  }
}
