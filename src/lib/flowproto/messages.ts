/*
 * TypeScript shapes of the flow protocol's messages (proto/vswitch-flow.proto), as decoded by
 * codec.ts: protobufjs field names in camelCase, uint64 as bigint, bytes as Uint8Array, and
 * `kind`/`body` naming the member set in a oneof. Every field is optional: a field at its
 * proto3 default (0, '', false, empty) is absent after decoding, as on the wire (filling in
 * defaults costs more than the rest of decoding), so read scalars with `?? 0`. What is sent
 * may leave anything out (Input<T>). Types only; shared by vswitchd, ofctl and controllers.
 */

/** Deeply optional form of a message, for sending. */
export type Input<T> = T extends bigint ? bigint | number
  : T extends Uint8Array ? Uint8Array
  : T extends (infer U)[] ? Input<U>[]
  : T extends object ? { [K in keyof T]?: Input<T[K]> | null }
  : T;

export interface Hello { versions?: number[]; agent?: string }
export interface EchoData { data?: Uint8Array }
export interface ErrorMsg { type?: number; code?: number; data?: Uint8Array; detail?: string }
export interface Empty { [k: string]: never }

export interface Port {
  portNo?: number; hwAddr?: Uint8Array; name?: string; config?: number; state?: number; curr?: number;
  advertised?: number; supported?: number; peer?: number; currSpeed?: number; maxSpeed?: number;
}
export interface FeaturesReply {
  datapathId?: bigint; nBuffers?: number; nTables?: number; auxiliaryId?: number; capabilities?: number; ports?: Port[];
}
export interface SwitchConfig { flags?: number; missSendLen?: number }
export interface AsyncConfig { packetInMask?: number; portStatusMask?: number; flowRemovedMask?: number }
export interface Role { role?: number; generationId?: bigint }

export interface MatchField { field?: number; value?: Uint8Array; mask?: Uint8Array }
export interface Match { fields?: MatchField[] }
export interface FieldRef { field?: number; offset?: number; nBits?: number }

export interface Controller { maxLen?: number; reason?: number; controllerId?: number; userdata?: Uint8Array }
export interface LearnSpec { kind?: number; dst?: FieldRef | null; src?: FieldRef | null; value?: Uint8Array }
export interface Learn {
  tableId?: number; priority?: number; idleTimeout?: number; hardTimeout?: number; finIdleTimeout?: number;
  finHardTimeout?: number; cookie?: bigint; sendFlowRem?: boolean; deleteLearned?: boolean; limit?: number; specs?: LearnSpec[];
}
export interface Action {
  kind?: string;
  output?: { port?: number };
  outputField?: FieldRef;
  controller?: Controller;
  modVlanVid?: { vid?: number };
  modVlanPcp?: { pcp?: number };
  popVlan?: { stripVlan?: boolean };
  pushVlan?: { ethertype?: number };
  modDlSrc?: { mac?: Uint8Array };
  modDlDst?: { mac?: Uint8Array };
  modNwSrc?: { ip?: number };
  modNwDst?: { ip?: number };
  modNwTos?: { value?: number };
  modNwEcn?: { value?: number };
  modNwTtl?: { value?: number };
  modTpSrc?: { value?: number };
  modTpDst?: { value?: number };
  decTtl?: { controllerIds?: number[] };
  setField?: { field?: MatchField | null };
  load?: { dst?: FieldRef | null; value?: Uint8Array };
  move?: { src?: FieldRef | null; dst?: FieldRef | null };
  resubmit?: { inPort?: number; tableId?: number };
  note?: { data?: Uint8Array };
  learn?: Learn;
}
export interface Instruction {
  kind?: string;
  applyActions?: { actions?: Action[] };
  writeMetadata?: { metadata?: bigint; metadataMask?: bigint };
  gotoTable?: { tableId?: number };
}

export interface FlowMod {
  cookie?: bigint; cookieMask?: bigint; tableId?: number; command?: number; idleTimeout?: number; hardTimeout?: number;
  priority?: number; bufferId?: number; outPort?: number; flags?: number; match?: Match | null; instructions?: Instruction[];
  importance?: number; newCookie?: bigint;
}
export interface FlowRemoved {
  cookie?: bigint; priority?: number; reason?: number; tableId?: number; durationSec?: number; durationNsec?: number;
  idleTimeout?: number; hardTimeout?: number; packetCount?: bigint; byteCount?: bigint; match?: Match | null;
}
export interface PacketIn {
  bufferId?: number; totalLen?: number; reason?: number; tableId?: number; cookie?: bigint; match?: Match | null; data?: Uint8Array; userdata?: Uint8Array;
}
export interface PacketOut { bufferId?: number; inPort?: number; actions?: Action[]; data?: Uint8Array }
export interface PortStatus { reason?: number; desc?: Port | null }
export interface PortMod { portNo?: number; hwAddr?: Uint8Array; config?: number; mask?: number; advertise?: number }

export interface FlowStatsRequest {
  tableId?: number; outPort?: number; cookie?: bigint; cookieMask?: bigint; match?: Match | null; strict?: boolean; priority?: number;
}
export interface FlowStats {
  tableId?: number; durationSec?: number; durationNsec?: number; priority?: number; idleTimeout?: number; hardTimeout?: number;
  flags?: number; importance?: number; cookie?: bigint; packetCount?: bigint; byteCount?: bigint; match?: Match | null;
  instructions?: Instruction[]; idleAge?: number; hardAge?: number;
}
export interface DescReply { mfrDesc?: string; hwDesc?: string; swDesc?: string; serialNum?: string; dpDesc?: string }
export interface AggregateStatsReply { packetCount?: bigint; byteCount?: bigint; flowCount?: number }
export interface TableStats { tableId?: number; activeCount?: number; lookupCount?: bigint; matchedCount?: bigint; name?: string; maxEntries?: number }
export interface PortStats {
  portNo?: number; rxPackets?: bigint; txPackets?: bigint; rxBytes?: bigint; txBytes?: bigint; rxDropped?: bigint; txDropped?: bigint;
  rxErrors?: bigint; txErrors?: bigint; rxFrameErr?: bigint; rxOverErr?: bigint; rxCrcErr?: bigint; collisions?: bigint;
  durationSec?: number; durationNsec?: number;
}
export interface FlowMonitorRequest { monitorId?: number; outPort?: number; tableId?: number; flags?: number; match?: Match | null }
export interface FlowUpdate {
  event?: number; tableId?: number; reason?: number; idleTimeout?: number; hardTimeout?: number; priority?: number; cookie?: bigint;
  match?: Match | null; instructions?: Instruction[];
}

export interface MultipartRequest {
  flags?: number;
  body?: string;
  desc?: Empty;
  flow?: FlowStatsRequest;
  aggregate?: FlowStatsRequest;
  table?: Empty;
  portStats?: { portNo?: number };
  portDesc?: Empty;
  flowMonitor?: FlowMonitorRequest;
}
export interface MultipartReply {
  more?: boolean;
  body?: string;
  desc?: DescReply;
  flow?: { stats?: FlowStats[] };
  aggregate?: AggregateStatsReply;
  table?: { stats?: TableStats[] };
  portStats?: { stats?: PortStats[] };
  portDesc?: { ports?: Port[] };
  flowMonitor?: { updates?: FlowUpdate[] };
}

/** The members of Message's `body` oneof. */
export interface Body {
  hello?: Hello;
  error?: ErrorMsg;
  echoRequest?: EchoData;
  echoReply?: EchoData;
  featuresRequest?: Empty;
  featuresReply?: FeaturesReply;
  getConfigRequest?: Empty;
  getConfigReply?: SwitchConfig;
  setConfig?: SwitchConfig;
  packetIn?: PacketIn;
  flowRemoved?: FlowRemoved;
  portStatus?: PortStatus;
  packetOut?: PacketOut;
  flowMod?: FlowMod;
  portMod?: PortMod;
  multipartRequest?: MultipartRequest;
  multipartReply?: MultipartReply;
  barrierRequest?: Empty;
  barrierReply?: Empty;
  roleRequest?: Role;
  roleReply?: Role;
  flowMonitorUpdate?: { monitorId?: number; updates?: FlowUpdate[] };
  setAsync?: AsyncConfig;
  getAsyncRequest?: Empty;
  getAsyncReply?: AsyncConfig;
}

export type BodyKey = keyof Body;

/** A decoded message: version, xid, `body` = which member is set, and that member. */
export interface FlowMessage extends Body {
  /** Always present after decoding (0 when absent on the wire). */
  version: number;
  xid: number;
  body?: BodyKey;
}

/** What send() takes: one body member, any fields left out. */
export type BodyInput = Input<Body>;

/** Bodies that answer a request (matched to it by xid). */
export const REPLY_BODIES: ReadonlySet<BodyKey> = new Set<BodyKey>([
  'error', 'echoReply', 'featuresReply', 'getConfigReply', 'multipartReply', 'barrierReply', 'roleReply', 'getAsyncReply',
]);

/** Bodies a switch sends on its own (xid 0). */
export const ASYNC_BODIES: ReadonlySet<BodyKey> = new Set<BodyKey>(['packetIn', 'flowRemoved', 'portStatus', 'flowMonitorUpdate']);
