/*
 * JSON schemas of the REST API's request bodies and query strings (fastify validates them
 * with ajv before a handler runs; a failure is a 400 with code BAD_REQUEST and the details).
 * Used by rest.ts; listed in docs/controller.md. Data only.
 */

export const FLOW_COMMANDS = ['add', 'modify', 'modify_strict', 'delete', 'delete_strict'] as const;

const flowString = { type: 'string', minLength: 1, maxLength: 65536 } as const;

export const dpidParams = {
  type: 'object',
  required: ['dpid'],
  properties: { dpid: { type: 'string', minLength: 1, maxLength: 32 } },
} as const;

export const appParams = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', minLength: 1, maxLength: 128 } },
} as const;

/** POST /switches/:dpid/flows */
export const flowModBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    flow: flowString,
    flows: { type: 'array', minItems: 1, maxItems: 100000, items: flowString },
    command: { type: 'string', enum: FLOW_COMMANDS },
  },
  oneOf: [{ required: ['flow'] }, { required: ['flows'] }],
} as const;

/** DELETE /switches/:dpid/flows (the body is optional; the query string works too). */
export const flowDeleteBody = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: {
    filter: { type: 'string', maxLength: 65536 },
    strict: { type: 'boolean' },
  },
} as const;

export const flowDeleteQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    filter: { type: 'string', maxLength: 65536 },
    strict: { type: 'boolean' },
  },
} as const;

/** GET /switches/:dpid/flows and /flows/aggregate */
export const flowQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { filter: { type: 'string', maxLength: 65536 } },
} as const;

/** GET /switches/:dpid/ports */
export const portsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { refresh: { type: 'boolean' } },
} as const;

/** GET /switches/:dpid/ports/stats */
export const portStatsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { port: { type: 'string', minLength: 1, maxLength: 64 } },
} as const;

/** POST /switches/:dpid/role */
export const roleBody = {
  type: 'object',
  additionalProperties: false,
  required: ['role'],
  properties: {
    role: { type: 'string', enum: ['equal', 'master', 'slave'] },
    generation_id: { type: 'string', pattern: '^(0[xX][0-9a-fA-F]{1,16}|[0-9]{1,20})$' },
  },
} as const;

/** POST /switches/:dpid/packet-out */
export const packetOutBody = {
  type: 'object',
  additionalProperties: false,
  required: ['actions', 'data'],
  properties: {
    in_port: { type: 'string', minLength: 1, maxLength: 64 },
    actions: { type: 'string', maxLength: 65536 },
    data: { type: 'string', pattern: '^([0-9a-fA-F]{2})+$', maxLength: 131072 },
  },
} as const;
