/**
 * mtlog-audit/http: HTTP access audit for Express and Fastify.
 *
 *   app.use(auditExpress(sink, { mode: 'intent+outcome', actor: (req) => req.user?.id }))
 *   await fastify.register(auditFastify(sink, { mode: 'intent+outcome', holdResponse: true }))
 *
 * Modes:
 * - 'outcome' (default): one event when the response finishes (or the client
 *   goes away), like pino-http / Serilog's request logging.
 * - 'intent+outcome': first an intent event, awaited before the handler runs:
 *   if it cannot be made durable the request is answered 503 and the handler
 *   never runs (no unaudited action). Then the outcome event.
 * - holdResponse (Fastify): the body is held in onSend until the outcome event
 *   is durable; if it cannot be, the client gets 503 instead of the body.
 *
 * Fields (after Serilog's request logging): RequestMethod, RequestPath (no
 * query string), Route, StatusCode, Elapsed (ms), plus RequestId, Actor,
 * TenantId, ClientAddress, UserAgent, Outcome (success, denied, failure,
 * aborted), TraceId and SpanId from a W3C traceparent header, Phase (intent,
 * outcome). With the timestamp they cover PCI DSS 10.2.2: user, type of event,
 * date and time, success or failure, origination, affected resource. Levels:
 * Warning for 401/403 and aborted requests, Error for 5xx, else Information.
 *
 * Contract: no header is copied wholesale: never Authorization, Cookie or a
 * body. Long values are cut to INTEGRATION's http*CharsMax. An outcome event
 * that cannot be written (when the response is not held) goes to onError
 * (default: process.emitWarning); the sink's health shows the failure.
 * Nothing here loads express or fastify.
 */

import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { AuditError, ERROR_CODES } from '../../shared/errors.js'
import type { AuditEvent } from '../../shared/event.js'
import { INTEGRATION } from '../../shared/limits.js'
import type { Receipt } from '../sink/index.js'

/** AuditSink or AttachedProducer: only emit is used. */
export interface AuditEmitter {
  emit(event: AuditEvent): Promise<Receipt>
}

export interface HttpAuditOptions<Req = IncomingMessage> {
  mode?: 'outcome' | 'intent+outcome'
  /** Who acts (a user id); read at intent time and again at outcome time (after authentication ran). */
  actor?: (req: Req) => string | undefined | null
  tenant?: (req: Req) => string | undefined | null
  /** App properties for both events (e.g. the resource id). Never put headers or bodies here. */
  properties?: (req: Req) => Record<string, unknown> | undefined
  /** Fastify: hold the body until the outcome event is durable; 503 if it cannot be. */
  holdResponse?: boolean
  /** Requests not audited (health probes, metrics scrapes). */
  skip?: (req: Req) => boolean
  /** An outcome event that could not be written. Default: process.emitWarning. */
  onError?: (err: Error, req: Req) => void
  /** Header carrying the caller's request id (default x-request-id); a new UUID when absent or malformed. */
  requestIdHeader?: string
}

interface Facts {
  RequestMethod: string
  RequestPath: string
  RequestId: string
  Actor: string | null
  TenantId: string | null
  ClientAddress: string | null
  UserAgent: string | null
  TraceId: string | null
  SpanId: string | null
}

const REQUEST_ID = /^[\w.:@/+=-]+$/
const TRACEPARENT = /^[\da-f]{2}-([\da-f]{32})-([\da-f]{16})-[\da-f]{2}/

function cut(s: string, max: number): string {
  return s.length > max ? s.slice(0, max) : s
}

function header(headers: IncomingMessage['headers'], name: string): string | undefined {
  const v = headers[name]
  return Array.isArray(v) ? v[0] : v
}

function text(v: string | undefined | null, max: number): string | null {
  return typeof v === 'string' && v !== '' ? cut(v, max) : null
}

function facts<Req>(
  o: HttpAuditOptions<Req>,
  req: Req,
  method: string,
  url: string,
  headers: IncomingMessage['headers'],
  client: string | undefined,
): Facts {
  const given = header(headers, o.requestIdHeader ?? 'x-request-id')
  const path = url.split(/[?#]/, 1)[0] ?? ''
  const tp = TRACEPARENT.exec(header(headers, 'traceparent') ?? '')
  const live = tp !== null && !/^0+$/.test(tp[1]!) && !/^0+$/.test(tp[2]!)
  return {
    RequestMethod: cut(method, 16),
    RequestPath: cut(path, INTEGRATION.httpPathCharsMax),
    RequestId:
      given !== undefined && given.length <= INTEGRATION.httpRequestIdCharsMax && REQUEST_ID.test(given)
        ? given
        : randomUUID(),
    Actor: text(o.actor?.(req), INTEGRATION.httpRequestIdCharsMax),
    TenantId: text(o.tenant?.(req), INTEGRATION.httpRequestIdCharsMax),
    ClientAddress: text(client, 64),
    UserAgent: text(header(headers, 'user-agent'), INTEGRATION.httpUserAgentCharsMax),
    TraceId: live ? tp[1]! : null,
    SpanId: live ? tp[2]! : null,
  }
}

function intentEvent(f: Facts, extra: Record<string, unknown> | undefined): AuditEvent {
  return {
    level: 'Information',
    messageTemplate: 'HTTP {RequestMethod} {RequestPath} requested by {Actor}',
    properties: { ...extra, ...f, Phase: 'intent' },
  }
}

/** The outcome event; status 401/403 → Warning, ≥ 500 → Error. */
export function outcomeEvent(
  f: Facts,
  route: string | null,
  status: number,
  elapsedMs: number,
  aborted: boolean,
  extra?: Record<string, unknown>,
): AuditEvent {
  const outcome = aborted
    ? 'aborted'
    : status === 401 || status === 403
      ? 'denied'
      : status >= 400
        ? 'failure'
        : 'success'
  return {
    level: status >= 500 ? 'Error' : aborted || outcome === 'denied' ? 'Warning' : 'Information',
    messageTemplate: aborted
      ? 'HTTP {RequestMethod} {RequestPath} aborted by the client after {Elapsed:0.0000} ms'
      : 'HTTP {RequestMethod} {RequestPath} responded {StatusCode} in {Elapsed:0.0000} ms',
    properties: {
      ...extra,
      ...f,
      Route: route,
      StatusCode: status,
      Elapsed: Math.round(elapsedMs * 1000) / 1000,
      Outcome: outcome,
      Phase: 'outcome',
    },
  }
}

function defaultOnError(err: Error): void {
  process.emitWarning(`mtlog-audit: an HTTP outcome event was not written: ${err.message}`, {
    code: (err as AuditError).code ?? 'ERR_AUDIT_FAILED',
  })
}

function unavailableBody(err: unknown, requestId: string): string {
  const code = err instanceof AuditError ? err.code : ERROR_CODES.FAILED
  return JSON.stringify({ error: 'audit log unavailable', code, requestId })
}

function checkEmitter(sink: unknown): AuditEmitter {
  if (typeof (sink as AuditEmitter | null)?.emit !== 'function')
    throw new AuditError(ERROR_CODES.OPTION_INVALID, 'the HTTP audit needs an AuditSink or an attached producer', {
      details: { option: 'sink' },
    })
  return sink as AuditEmitter
}

/** Express's request, as far as this middleware reads it. */
export type ExpressRequestLike = IncomingMessage & {
  ip?: string
  originalUrl?: string
  baseUrl?: string
  route?: { path?: unknown }
}

/** Express middleware (Express 4 and 5). Mount it before the routes it audits, after authentication for intent's Actor. */
export function auditExpress<Req extends ExpressRequestLike = ExpressRequestLike>(
  sink: AuditEmitter,
  opts: HttpAuditOptions<Req> = {},
): (req: Req, res: ServerResponse, next: (err?: unknown) => void) => void {
  const target = checkEmitter(sink)
  const onError = opts.onError ?? defaultOnError
  const intent = opts.mode === 'intent+outcome'
  return function mtlogAuditExpress(req, res, next) {
    if (opts.skip?.(req) === true) return next()
    const start = performance.now()
    const f = facts(
      opts,
      req,
      req.method ?? 'GET',
      req.originalUrl ?? req.url ?? '/',
      req.headers,
      req.ip ?? req.socket?.remoteAddress,
    )
    const extra = opts.properties?.(req)
    res.setHeader('x-request-id', f.RequestId)
    let settled = false
    const outcome = (aborted: boolean): void => {
      if (settled) return
      settled = true
      const path = req.route?.path
      const route = typeof path === 'string' ? cut(`${req.baseUrl ?? ''}${path}`, INTEGRATION.httpPathCharsMax) : null
      const actor = text(opts.actor?.(req), INTEGRATION.httpRequestIdCharsMax) ?? f.Actor
      const ev = outcomeEvent({ ...f, Actor: actor }, route, res.statusCode, performance.now() - start, aborted, extra)
      target.emit(ev).then(undefined, (err: Error) => onError(err, req))
    }
    res.once('finish', () => outcome(false))
    res.once('close', () => outcome(!res.writableFinished))
    if (!intent) return next()
    target.emit(intentEvent(f, extra)).then(
      () => next(),
      (err: Error) => {
        settled = true // no outcome: the action never ran
        res.statusCode = 503
        res.setHeader('content-type', 'application/json; charset=utf-8')
        res.setHeader('retry-after', '5')
        res.end(unavailableBody(err, f.RequestId))
      },
    )
  }
}

/** Fastify's request and reply, as far as the plugin uses them. */
export interface FastifyRequestLike {
  method: string
  url: string
  headers: IncomingMessage['headers']
  ip?: string
  routeOptions?: { url?: string }
}
export interface FastifyReplyLike {
  statusCode: number
  elapsedTime?: number
  code(status: number): FastifyReplyLike
  header(name: string, value: string): FastifyReplyLike
  send(payload?: unknown): FastifyReplyLike
}
export interface FastifyLike {
  addHook(name: string, hook: (...args: never[]) => unknown): unknown
}
export type FastifyPluginLike = ((instance: FastifyLike, opts: unknown, done: (err?: Error) => void) => void) & {
  [k: symbol]: unknown
}

/** A Fastify plugin (registered without encapsulation: it audits every route of the instance). */
export function auditFastify<Req extends FastifyRequestLike = FastifyRequestLike>(
  sink: AuditEmitter,
  opts: HttpAuditOptions<Req> = {},
): FastifyPluginLike {
  const target = checkEmitter(sink)
  const onError = opts.onError ?? defaultOnError
  const intent = opts.mode === 'intent+outcome'
  const hold = opts.holdResponse === true
  interface State {
    f: Facts
    extra: Record<string, unknown> | undefined
    start: number
    settled: boolean
  }
  const states = new WeakMap<object, State>()

  const outcome = (req: Req, reply: FastifyReplyLike | undefined, s: State, aborted: boolean): AuditEvent => {
    s.settled = true
    const actor = text(opts.actor?.(req), INTEGRATION.httpRequestIdCharsMax) ?? s.f.Actor
    const route = req.routeOptions?.url ?? null
    // onRequestAbort passes no reply: the status is what was set so far (0 if nothing was).
    const status = reply?.statusCode ?? 0
    return outcomeEvent({ ...s.f, Actor: actor }, route, status, performance.now() - s.start, aborted, s.extra)
  }

  const plugin = ((fastify: FastifyLike, _o: unknown, done: (err?: Error) => void): void => {
    fastify.addHook('onRequest', async (req: Req, reply: FastifyReplyLike) => {
      if (opts.skip?.(req) === true) return
      const f = facts(opts, req, req.method, req.url, req.headers, req.ip)
      const s: State = { f, extra: opts.properties?.(req), start: performance.now(), settled: false }
      states.set(req, s)
      reply.header('x-request-id', f.RequestId)
      if (!intent) return
      try {
        await target.emit(intentEvent(f, s.extra))
      } catch (err) {
        s.settled = true // no outcome: the handler never runs
        reply.code(503).header('retry-after', '5').header('content-type', 'application/json; charset=utf-8')
        reply.send(unavailableBody(err, f.RequestId))
        return reply
      }
    })
    if (hold)
      fastify.addHook('onSend', async (req: Req, reply: FastifyReplyLike, payload: unknown) => {
        const s = states.get(req)
        if (s === undefined || s.settled) return payload
        try {
          await target.emit(outcome(req, reply, s, false))
          return payload
        } catch (err) {
          reply.code(503).header('retry-after', '5').header('content-type', 'application/json; charset=utf-8')
          return unavailableBody(err, s.f.RequestId)
        }
      })
    const late = (req: Req, reply: FastifyReplyLike | undefined, aborted: boolean): void => {
      const s = states.get(req)
      if (s === undefined || s.settled) return
      target.emit(outcome(req, reply, s, aborted)).then(undefined, (err: Error) => onError(err, req))
    }
    fastify.addHook('onResponse', async (req: Req, reply: FastifyReplyLike) => late(req, reply, false))
    // fastify checks an async hook's arity: onRequestAbort takes the request only.
    fastify.addHook('onRequestAbort', async (req: Req) => late(req, undefined, true))
    done()
  }) as FastifyPluginLike
  // What fastify-plugin sets: the hooks apply to the whole instance, not a child context.
  plugin[Symbol.for('skip-override')] = true
  plugin[Symbol.for('fastify.display-name')] = 'mtlog-audit'
  return plugin
}
