/*
 * Error types and codes of the flow protocol: OpenFlow 1.3's (ofp_error_type and its code
 * enums), with the same numbers, as proto/vswitch-flow.proto declares them. Shared by the
 * protocol layer, vswitchd's OpenFlow model (which throws OfpError with these) and ofctl (which
 * prints them by name, "OFPFMFC_OVERLAP", as ovs-ofctl does). Constants only; control path.
 */

export const OFPET_HELLO_FAILED = 0;
export const OFPET_BAD_REQUEST = 1;
export const OFPET_BAD_ACTION = 2;
export const OFPET_BAD_INSTRUCTION = 3;
export const OFPET_BAD_MATCH = 4;
export const OFPET_FLOW_MOD_FAILED = 5;
export const OFPET_GROUP_MOD_FAILED = 6;
export const OFPET_PORT_MOD_FAILED = 7;
export const OFPET_TABLE_MOD_FAILED = 8;
export const OFPET_QUEUE_OP_FAILED = 9;
export const OFPET_SWITCH_CONFIG_FAILED = 10;
export const OFPET_ROLE_REQUEST_FAILED = 11;

/** Per type: the OVS-style prefix of its code names and the names by code number. */
const CODE_NAMES: Record<number, [string, string[]]> = {
  [OFPET_HELLO_FAILED]: ['OFPHFC', ['INCOMPATIBLE', 'EPERM']],
  [OFPET_BAD_REQUEST]: ['OFPBRC', ['BAD_VERSION', 'BAD_TYPE', 'BAD_MULTIPART', 'BAD_EXPERIMENTER', 'BAD_EXP_TYPE', 'EPERM',
    'BAD_LEN', 'BUFFER_EMPTY', 'BUFFER_UNKNOWN', 'BAD_TABLE_ID', 'IS_SLAVE', 'BAD_PORT', 'BAD_PACKET',
    'MULTIPART_BUFFER_OVERFLOW']],
  [OFPET_BAD_ACTION]: ['OFPBAC', ['BAD_TYPE', 'BAD_LEN', 'BAD_EXPERIMENTER', 'BAD_EXP_TYPE', 'BAD_OUT_PORT', 'BAD_ARGUMENT',
    'EPERM', 'TOO_MANY', 'BAD_QUEUE', 'BAD_OUT_GROUP', 'MATCH_INCONSISTENT', 'UNSUPPORTED_ORDER', 'BAD_TAG',
    'BAD_SET_TYPE', 'BAD_SET_LEN', 'BAD_SET_ARGUMENT']],
  [OFPET_BAD_INSTRUCTION]: ['OFPBIC', ['UNKNOWN_INST', 'UNSUP_INST', 'BAD_TABLE_ID', 'UNSUP_METADATA', 'UNSUP_METADATA_MASK',
    'BAD_EXPERIMENTER', 'BAD_EXP_TYPE', 'BAD_LEN', 'EPERM']],
  [OFPET_BAD_MATCH]: ['OFPBMC', ['BAD_TYPE', 'BAD_LEN', 'BAD_TAG', 'BAD_DL_ADDR_MASK', 'BAD_NW_ADDR_MASK', 'BAD_WILDCARDS',
    'BAD_FIELD', 'BAD_VALUE', 'BAD_MASK', 'BAD_PREREQ', 'DUP_FIELD', 'EPERM']],
  [OFPET_FLOW_MOD_FAILED]: ['OFPFMFC', ['UNKNOWN', 'TABLE_FULL', 'BAD_TABLE_ID', 'OVERLAP', 'EPERM', 'BAD_TIMEOUT',
    'BAD_COMMAND', 'BAD_FLAGS']],
  [OFPET_GROUP_MOD_FAILED]: ['OFPGMFC', []],
  [OFPET_PORT_MOD_FAILED]: ['OFPPMFC', ['BAD_PORT', 'BAD_HW_ADDR', 'BAD_CONFIG', 'BAD_ADVERTISE', 'EPERM']],
  [OFPET_TABLE_MOD_FAILED]: ['OFPTMFC', ['BAD_TABLE', 'BAD_CONFIG', 'EPERM']],
  [OFPET_QUEUE_OP_FAILED]: ['OFPQOFC', ['BAD_PORT', 'BAD_QUEUE', 'EPERM']],
  [OFPET_SWITCH_CONFIG_FAILED]: ['OFPSCFC', ['BAD_FLAGS', 'BAD_LEN', 'EPERM']],
  [OFPET_ROLE_REQUEST_FAILED]: ['OFPRRFC', ['STALE', 'UNSUP', 'BAD_ROLE']],
};

/** The code number of `name` ("OVERLAP") within `type`; throws RangeError if unknown. */
export function ofpCode(type: number, name: string): number {
  const i = CODE_NAMES[type]?.[1].indexOf(name) ?? -1;
  if (i < 0) throw new RangeError(`no error code ${name} in type ${type}`);
  return i;
}

/** "OFPFMFC_OVERLAP" for (5, 3); "OFPET_5_CODE_9" when unknown. */
export function ofpErrorName(type: number, code: number): string {
  const t = CODE_NAMES[type];
  const n = t?.[1][code];
  return t && n ? `${t[0]}_${n}` : `OFPET_${type}_CODE_${code}`;
}

// The codes used by name in the code base.
export const OFPHFC_INCOMPATIBLE = 0;
export const OFPHFC_EPERM = 1;
export const OFPBRC_BAD_VERSION = 0;
export const OFPBRC_BAD_TYPE = 1;
export const OFPBRC_BAD_MULTIPART = 2;
export const OFPBRC_EPERM = 5;
export const OFPBRC_BAD_LEN = 6;
export const OFPBRC_BAD_TABLE_ID = 9;
export const OFPBRC_IS_SLAVE = 10;
export const OFPBRC_BAD_PORT = 11;
export const OFPBRC_BAD_PACKET = 12;
export const OFPBAC_BAD_TYPE = 0;
export const OFPBAC_BAD_OUT_PORT = 4;
export const OFPBAC_BAD_ARGUMENT = 5;
export const OFPBAC_MATCH_INCONSISTENT = 10;
export const OFPBAC_UNSUPPORTED_ORDER = 11;
export const OFPBAC_BAD_SET_TYPE = 13;
export const OFPBAC_BAD_SET_ARGUMENT = 15;
export const OFPBIC_BAD_TABLE_ID = 2;
export const OFPBMC_BAD_LEN = 1;
export const OFPBMC_BAD_FIELD = 6;
export const OFPBMC_BAD_VALUE = 7;
export const OFPBMC_BAD_MASK = 8;
export const OFPBMC_BAD_PREREQ = 9;
export const OFPBMC_DUP_FIELD = 10;
export const OFPFMFC_UNKNOWN = 0;
export const OFPFMFC_TABLE_FULL = 1;
export const OFPFMFC_BAD_TABLE_ID = 2;
export const OFPFMFC_OVERLAP = 3;
export const OFPFMFC_EPERM = 4;
export const OFPFMFC_BAD_TIMEOUT = 5;
export const OFPFMFC_BAD_COMMAND = 6;
export const OFPFMFC_BAD_FLAGS = 7;
export const OFPPMFC_BAD_PORT = 0;
export const OFPPMFC_BAD_HW_ADDR = 1;
export const OFPPMFC_BAD_CONFIG = 2;
export const OFPRRFC_STALE = 0;
export const OFPRRFC_BAD_ROLE = 2;
export const OFPSCFC_BAD_FLAGS = 0;
