/*
 * The northbound REST API (fastify), in the spirit of Ryu's ofctl_rest: switches, ports, port
 * and table statistics, flows (list, add, modify, delete, in ovs-ofctl flow syntax), roles,
 * packet-out, apps, and Prometheus metrics on GET /metrics. Bodies are validated with JSON
 * schemas (rest-schemas.ts); every error is JSON {error: {code, message, ...}} with a stable
 * code. Listens on 127.0.0.1 unless told otherwise; beyond loopback it requires a bearer token
 * (--rest-token), checked on every route. Built by main.ts; tests use buildRest() with inject.
 * Control path. The routes are listed in docs/controller.md.
 */
import { timingSafeEqual } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { VswitchError } from '../lib/errors.js';
import { FlowProtoError, FlowRemoteError } from '../lib/flowproto/errors.js';
import type { Logger } from '../lib/log.js';
import { formatActions } from '../vswitchd/ofp/action-syntax.js';
import { FlowSyntaxError } from '../vswitchd/ofp/errors.js';
import { formatFlowStats, type FlowStatsView } from '../vswitchd/ofp/flow-syntax.js';
import { formatMatch } from '../vswitchd/ofp/match-syntax.js';
import { parsePort, ValueError } from '../vswitchd/ofp/values.js';
import { builtinApps } from './app.js';
import type { Controller } from './controller.js';
import { ControllerError } from './errors.js';
import { portIsUp, type SwitchPort } from './events.js';
import { PROMETHEUS_CONTENT_TYPE } from './metrics.js';
import {
  appParams, dpidParams, flowDeleteBody, flowDeleteQuery, flowModBody, flowQuery, packetOutBody, portStatsQuery, portsQuery, roleBody,
} from './rest-schemas.js';
import type { FlowModRequest, Role, SwitchSession } from './switch-session.js';
import { isLoopback } from './target.js';

export interface RestOptions {
  controller: Controller;
  log: Logger;
  /** Required unless every request comes from loopback (checked by startRest). */
  token?: string;
  /** More Prometheus text appended to GET /metrics (the vswitch scraper). */
  extraMetrics?: () => Promise<string>;
  version?: string;
  /** Largest request body (bytes). Default 16 MiB (flows for a whole table). */
  bodyLimit?: number;
}

/** An error a handler answers with: HTTP status and a code. */
export class RestError extends VswitchError {
  constructor(readonly status: number, code: string, message: string, readonly extra: Record<string, unknown> = {}) {
    super(code, message);
    this.name = 'RestError';
  }
}

function errorBody(code: string, message: string, extra: Record<string, unknown> = {}): { error: Record<string, unknown> } {
  return { error: { code, message, ...extra } };
}

/** HTTP status and JSON for anything a handler or fastify threw. */
export function restErrorOf(e: unknown): { status: number; body: { error: Record<string, unknown> } } {
  const fe = e as FastifyError & { validation?: { instancePath: string; message?: string; params?: unknown }[]; validationContext?: string };
  if (fe?.validation) {
    return {
      status: 400,
      body: errorBody('BAD_REQUEST', fe.message, { details: fe.validation.map((v) => ({ path: v.instancePath, message: v.message, params: v.params })) }),
    };
  }
  if (e instanceof RestError) return { status: e.status, body: errorBody(e.code, e.message, e.extra) };
  if (e instanceof FlowSyntaxError) return { status: 400, body: errorBody('FLOW_SYNTAX', e.message, { input: e.input, offset: e.offset, pointer: e.pointer('') }) };
  if (e instanceof ControllerError) {
    const status = e.code === 'NO_SUCH_SWITCH' ? 404 : e.code === 'BAD_DPID' ? 400 : 500;
    return { status, body: errorBody(e.code, e.message) };
  }
  if (e instanceof FlowRemoteError) {
    return { status: 409, body: errorBody(e.code, e.message, { type: e.type, ofcode: e.errCode, detail: e.detail }) };
  }
  if (e instanceof FlowProtoError) {
    if (e.code === 'TIMEOUT') return { status: 504, body: errorBody('SWITCH_TIMEOUT', e.message) };
    return { status: 503, body: errorBody('SWITCH_DISCONNECTED', e.message) };
  }
  if (typeof fe?.code === 'string' && fe.code.startsWith('FST_')) {
    const status = typeof fe.statusCode === 'number' ? fe.statusCode : 400;
    const code = fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? 'BODY_TOO_LARGE'
      : fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? 'UNSUPPORTED_MEDIA_TYPE'
        : fe.code.startsWith('FST_ERR_CTP_') ? 'BAD_JSON' : 'BAD_REQUEST';
    return { status, body: errorBody(code, fe.message) };
  }
  if (fe?.statusCode === 400 && fe instanceof SyntaxError) return { status: 400, body: errorBody('BAD_JSON', fe.message) };
  return { status: 500, body: errorBody('INTERNAL', (e as Error)?.message ?? String(e)) };
}

function portJson(p: SwitchPort): Record<string, unknown> {
  return {
    port_no: p.portNo, name: p.name, hw_addr: p.hwAddr, config: p.config, state: p.state, up: portIsUp(p),
    curr_speed: p.currSpeed, max_speed: p.maxSpeed,
  };
}

function flowJson(f: FlowStatsView, sw: SwitchSession): Record<string, unknown> {
  return {
    table: f.table, priority: f.priority, cookie: `0x${f.cookie.toString(16)}`, duration_sec: f.durationMs / 1000,
    idle_timeout: f.idleTimeout, hard_timeout: f.hardTimeout, flags: f.flags, packet_count: f.packets, byte_count: f.bytes,
    idle_age: f.idleAge, hard_age: f.hardAge, match: formatMatch(f.match, 32768, sw.names), actions: formatActions(f.actions, sw.names),
    flow: formatFlowStats(f, { names: sw.names }).trim(),
  };
}

function tokenOk(header: string | undefined, token: string): boolean {
  if (!header) return false;
  const m = /^Bearer\s+(.+)$/i.exec(header.trim());
  if (!m) return false;
  const a = Buffer.from(m[1]);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The fastify app, routes registered, not listening (tests call inject()). */
export async function buildRest(o: RestOptions): Promise<FastifyInstance> {
  const ctrl = o.controller;
  const app = Fastify({
    loggerInstance: o.log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: o.bodyLimit ?? 16 * 1024 * 1024,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: true } },
  });

  app.setErrorHandler((err, req, reply) => {
    const { status, body } = restErrorOf(err);
    if (status >= 500 && status !== 503 && status !== 504) req.log.error({ err: (err as Error).message, url: req.url }, 'REST request failed');
    void reply.code(status).send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send(errorBody('NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`));
  });
  if (o.token) {
    const token = o.token;
    app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
      if (!tokenOk(req.headers.authorization, token)) {
        await reply.code(401).header('www-authenticate', 'Bearer').send(errorBody('UNAUTHORIZED', 'a valid "Authorization: Bearer TOKEN" header is required'));
      }
    });
  }
  app.addHook('onResponse', async (req, reply) => {
    o.log.debug({ method: req.method, url: req.url, status: reply.statusCode, ms: reply.elapsedTime }, 'REST request');
  });

  const need = (dpid: string): SwitchSession => {
    const sw = ctrl.switch(dpid);
    if (!sw) throw new ControllerError('NO_SUCH_SWITCH', `no switch with datapath id ${dpid} is connected`);
    return sw;
  };
  type DpidReq = FastifyRequest<{ Params: { dpid: string } }>;

  app.get('/', async () => ({
    name: 'vscontroller', version: o.version ?? '', listening: ctrl.listening, apps: ctrl.apps.map((a) => a.name),
    switches: ctrl.switches().length,
  }));

  app.get('/switches', async () => ({ switches: ctrl.switches().map((s) => s.summary()) }));

  app.get('/switches/:dpid', { schema: { params: dpidParams } }, async (req: DpidReq) => {
    const sw = need(req.params.dpid);
    return { ...sw.summary(), ports: [...sw.ports.values()].map(portJson) };
  });

  app.get('/switches/:dpid/ports', { schema: { params: dpidParams, querystring: portsQuery } },
    async (req: FastifyRequest<{ Params: { dpid: string }; Querystring: { refresh?: boolean } }>) => {
      const sw = need(req.params.dpid);
      const ports = req.query.refresh ? await sw.refreshPorts() : [...sw.ports.values()];
      return { ports: ports.map(portJson) };
    });

  app.get('/switches/:dpid/ports/stats', { schema: { params: dpidParams, querystring: portStatsQuery } },
    async (req: FastifyRequest<{ Params: { dpid: string }; Querystring: { port?: string } }>) => {
      const sw = need(req.params.dpid);
      let port: number | undefined;
      if (req.query.port !== undefined) {
        try {
          port = parsePort(req.query.port, sw.names);
        } catch (e) {
          if (e instanceof ValueError) throw new RestError(400, 'BAD_PORT', e.message);
          throw e;
        }
      }
      const stats = await sw.portStats(port);
      return {
        stats: stats.map((s) => ({
          port_no: s.portNo, name: sw.names.name(s.portNo) ?? null, rx_packets: s.rxPackets, tx_packets: s.txPackets, rx_bytes: s.rxBytes,
          tx_bytes: s.txBytes, rx_dropped: s.rxDropped, tx_dropped: s.txDropped, rx_errors: s.rxErrors, tx_errors: s.txErrors,
          duration_sec: s.durationSec,
        })),
      };
    });

  app.get('/switches/:dpid/tables', { schema: { params: dpidParams } }, async (req: DpidReq) => {
    const tables = await need(req.params.dpid).tableStats();
    return {
      tables: tables.map((t) => ({
        table_id: t.tableId, name: t.name, active_count: t.activeCount, lookup_count: t.lookupCount, matched_count: t.matchedCount,
        max_entries: t.maxEntries,
      })),
    };
  });

  app.get('/switches/:dpid/flows', { schema: { params: dpidParams, querystring: flowQuery } },
    async (req: FastifyRequest<{ Params: { dpid: string }; Querystring: { filter?: string } }>) => {
      const sw = need(req.params.dpid);
      const flows = await sw.flowStats(req.query.filter ?? '');
      return { flows: flows.map((f) => flowJson(f, sw)) };
    });

  app.get('/switches/:dpid/flows/aggregate', { schema: { params: dpidParams, querystring: flowQuery } },
    async (req: FastifyRequest<{ Params: { dpid: string }; Querystring: { filter?: string } }>) => {
      const a = await need(req.params.dpid).aggregateStats(req.query.filter ?? '');
      return { packet_count: a.packets, byte_count: a.bytes, flow_count: a.flows };
    });

  app.post('/switches/:dpid/flows', { schema: { params: dpidParams, body: flowModBody } },
    async (req: FastifyRequest<{ Params: { dpid: string }; Body: { flow?: string; flows?: string[]; command?: FlowModRequest['command'] } }>, reply) => {
      const sw = need(req.params.dpid);
      const texts = req.body.flows ?? [req.body.flow!];
      const command = req.body.command ?? 'add';
      const reqs: FlowModRequest[] = texts.map((flow) => ({ command, flow }));
      for (let i = 0; i < texts.length; i++) {
        try {
          sw.parseFlow(texts[i], command);
        } catch (e) {
          if (e instanceof FlowSyntaxError) {
            throw new RestError(400, 'FLOW_SYNTAX', e.message, { index: i, input: e.input, offset: e.offset, pointer: e.pointer('') });
          }
          throw e;
        }
      }
      const failures = await sw.flowMods(reqs);
      if (failures.length > 0) {
        const first = failures[0].error;
        return reply.code(409).send(errorBody(first.code, first.message, {
          applied: texts.length - failures.length,
          failed: failures.map((f) => ({ index: f.index, flow: f.flow, code: f.error.code, message: f.error.message })),
        }));
      }
      return { applied: texts.length };
    });

  app.delete('/switches/:dpid/flows', { schema: { params: dpidParams, body: flowDeleteBody, querystring: flowDeleteQuery } },
    async (req: FastifyRequest<{ Params: { dpid: string }; Body: { filter?: string; strict?: boolean } | null; Querystring: { filter?: string; strict?: boolean } }>) => {
      const sw = need(req.params.dpid);
      const filter = req.body?.filter ?? req.query.filter ?? '';
      const strict = req.body?.strict ?? req.query.strict ?? false;
      const failures = await sw.flowMods([{ command: strict ? 'delete_strict' : 'delete', flow: filter }]);
      if (failures.length > 0) throw failures[0].error;
      return { deleted: true, filter };
    });

  app.post('/switches/:dpid/role', { schema: { params: dpidParams, body: roleBody } },
    async (req: FastifyRequest<{ Params: { dpid: string }; Body: { role: Role; generation_id?: string } }>) => {
      const sw = need(req.params.dpid);
      const gen = req.body.generation_id === undefined ? undefined : BigInt(req.body.generation_id);
      if (gen !== undefined && gen >= 1n << 64n) throw new RestError(400, 'BAD_REQUEST', 'generation_id has more than 64 bits');
      const r = await sw.setRole(req.body.role, gen);
      return { role: r.role, generation_id: r.generationId.toString() };
    });

  app.post('/switches/:dpid/packet-out', { schema: { params: dpidParams, body: packetOutBody } },
    async (req: FastifyRequest<{ Params: { dpid: string }; Body: { in_port?: string; actions: string; data: string } }>) => {
      const sw = need(req.params.dpid);
      let inPort: number | undefined;
      if (req.body.in_port !== undefined) {
        try {
          inPort = parsePort(req.body.in_port, sw.names);
        } catch (e) {
          if (e instanceof ValueError) throw new RestError(400, 'BAD_PORT', e.message);
          throw e;
        }
      }
      const data = Buffer.from(req.body.data, 'hex');
      const failures = await sw.packetOuts([{ inPort, actions: req.body.actions, data }]);
      if (failures.length > 0) throw failures[0];
      return { sent: true, bytes: data.length };
    });

  app.get('/apps', async () => {
    const descs = new Map(builtinApps().map((b) => [b.name, b.description]));
    return { apps: ctrl.apps.map((a) => ({ name: a.name, description: descs.get(a.name) ?? '' })) };
  });

  app.get('/apps/:name', { schema: { params: appParams } }, async (req: FastifyRequest<{ Params: { name: string } }>) => {
    const a = ctrl.app(req.params.name);
    if (!a) throw new RestError(404, 'NO_SUCH_APP', `no app named "${req.params.name}" is running`);
    return { name: a.name, state: jsonSafe(a.describe?.() ?? null) };
  });

  app.get('/metrics', async (_req, reply) => {
    let text = ctrl.metrics.registry.render();
    if (o.extraMetrics) text += await o.extraMetrics();
    return reply.type(PROMETHEUS_CONTENT_TYPE).send(text);
  });

  await app.ready();
  return app;
}

/** Turns bigints into strings (JSON cannot carry them). */
function jsonSafe(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `0x${x.toString(16)}` : x)));
}

export interface RestServer {
  app: FastifyInstance;
  /** "http://127.0.0.1:8080" */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Thrown when the REST API would listen beyond loopback without a token. */
export function insecureRest(host: string): ControllerError {
  return new ControllerError('INSECURE_REST',
    `the REST API would listen on ${host}, beyond this machine, without a token: give --rest-token-file FILE (or --rest-token), or listen on 127.0.0.1`);
}

/** Builds and listens. Refuses (INSECURE_REST) a non-loopback host without a token. */
export async function startRest(o: RestOptions & { host: string; port: number }): Promise<RestServer> {
  if (!isLoopback(o.host) && !o.token) throw insecureRest(o.host);
  const app = await buildRest(o);
  await app.listen({ host: o.host, port: o.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : o.port;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  return { app, url: `http://${host}:${port}`, port, close: () => app.close() };
}
