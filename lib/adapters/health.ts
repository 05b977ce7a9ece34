/**
 * mtlog-audit/health: readiness and liveness of the audit sink, for
 * Kubernetes probes, @godaddy/terminus, or a plain node:http server.
 *
 *   let sink = await AuditSink.open(...)                       // reopened after a failure: sink = ...
 *   createTerminus(server, { healthChecks: {
 *     '/readyz': readinessCheck(() => sink), '/livez': livenessCheck(() => sink) } })
 *   // or: http.createServer(healthHandler(() => sink)).listen(9464)
 *
 * Every helper takes a function returning the current sink (or undefined
 * while none is open), so a reopened sink is seen at the next probe.
 *
 * Contract:
 * - Data only: sink.health() reads memory, never the disk (a probe must not
 *   hang on the device it reports on).
 * - Readiness fails when the sink fails, is closed or not open, emits stall
 *   past the fail bound, replication lags past its fail bound, or the app is
 *   draining (gracefulShutdown). Liveness fails only on what a restart cures
 *   (the writer thread is gone): never on a full disk.
 * - readinessCheck / livenessCheck resolve with the health or reject with
 *   ERR_AUDIT_UNHEALTHY (terminus answers 503). healthHandler answers
 *   200 / 503 with the health as JSON on HEALTH_PATHS.
 */

import type { IncomingMessage, ServerResponse } from 'node:http'
import { AuditError, ERROR_CODES } from '../../shared/errors.js'
import { INTEGRATION } from '../../shared/limits.js'
import { type HealthOptions, type HealthReason, type SinkHealth, withReasons } from '../sink/index.js'
import { currentSink, type SinkSource } from './common.js'

/** The probe paths healthHandler answers (deploy/k8s uses them). */
export const HEALTH_PATHS = { live: '/livez', ready: '/readyz' } as const

export interface HealthCheckOptions extends HealthOptions {
  /** Replication lag per backend, seconds (when a replicator is attached). */
  replication?: () => Record<string, number>
  /** Lag → warn (default INTEGRATION.healthReplicationWarnS). */
  replicationWarnS?: number
  /** Lag → fail (default INTEGRATION.healthReplicationFailS). */
  replicationFailS?: number
  /** True while the app drains (gracefulShutdown().draining): readiness fails so traffic moves away. */
  draining?: () => boolean
}

function notOpen(): SinkHealth {
  return withReasons(
    {
      status: 'pass',
      ready: true,
      live: true,
      reasons: [],
      state: 'closed',
      durableSeq: 0,
      inFlight: 0,
      stalledMs: 0,
      ringFillRatio: 0,
      lastDurableAtMs: undefined,
      failureCodes: [],
    },
    [{ code: 'not-open', status: 'fail', restartHelps: false, message: 'no audit sink is open' }],
  )
}

function lagReasons(o: HealthCheckOptions): HealthReason[] {
  if (o.replication === undefined) return []
  const warn = o.replicationWarnS ?? INTEGRATION.healthReplicationWarnS
  const fail = o.replicationFailS ?? INTEGRATION.healthReplicationFailS
  const out: HealthReason[] = []
  for (const [backend, lag] of Object.entries(o.replication())) {
    if (!(lag >= warn)) continue
    const bad = lag >= fail
    out.push({
      code: 'replication-lag',
      status: bad ? 'fail' : 'warn',
      restartHelps: false,
      message: `replication to ${backend.slice(0, 64)} lags ${Math.round(lag)} s (${bad ? 'fail' : 'warn'} at ${bad ? fail : warn} s)`,
    })
  }
  return out
}

/** The current sink's health with the helpers' own reasons (not open, replication lag, draining). */
export function checkHealth(source: SinkSource, opts: HealthCheckOptions = {}): SinkHealth {
  const sink = currentSink(source)
  const h = sink === undefined ? notOpen() : sink.health(opts)
  const more = lagReasons(opts)
  if (opts.draining?.() === true)
    more.push({ code: 'closed', status: 'fail', restartHelps: false, message: 'the app is shutting down' })
  return more.length === 0 ? h : withReasons(h, more)
}

function unhealthy(kind: string, h: SinkHealth): AuditError {
  const codes = h.reasons.filter((r) => r.status === 'fail').map((r) => r.code)
  const err = new AuditError(
    ERROR_CODES.UNHEALTHY,
    `audit sink not ${kind}: ${h.reasons
      .filter((r) => r.status === 'fail')
      .map((r) => r.message)
      .join('; ')}`,
    { details: { reasons: codes.join(',') } },
  )
  // terminus reports `causes` of a failed check in its 503 body.
  ;(err as AuditError & { causes: unknown }).causes = h.reasons
  return err
}

/** A terminus-style check: resolves with the health when ready, rejects ERR_AUDIT_UNHEALTHY when not. */
export function readinessCheck(source: SinkSource, opts: HealthCheckOptions = {}): () => Promise<SinkHealth> {
  return async () => {
    const h = checkHealth(source, opts)
    if (!h.ready) throw unhealthy('ready', h)
    return h
  }
}

/** A terminus-style check that fails only on what a restart cures (never on a full disk). */
export function livenessCheck(source: SinkSource, opts: HealthCheckOptions = {}): () => Promise<SinkHealth> {
  return async () => {
    const h = checkHealth(source, opts)
    if (!h.live) throw unhealthy('live', h)
    return h
  }
}

/**
 * A node:http request handler for HEALTH_PATHS (GET or HEAD): 200 or 503 with
 * the health as JSON. Returns false (and answers nothing) for other paths, so
 * it can sit in front of another handler (a metrics endpoint).
 */
export function healthHandler(
  source: SinkSource,
  opts: HealthCheckOptions & { paths?: { live: string; ready: string } } = {},
): (req: IncomingMessage, res: ServerResponse) => boolean {
  const paths = opts.paths ?? HEALTH_PATHS
  return (req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0]
    const kind = path === paths.ready ? 'ready' : path === paths.live ? 'live' : undefined
    if (kind === undefined) return false
    const h = checkHealth(source, opts)
    const ok = kind === 'ready' ? h.ready : h.live
    const body = JSON.stringify({
      status: h.status,
      [kind]: ok,
      state: h.state,
      durableSeq: h.durableSeq,
      reasons: h.reasons,
    })
    res.statusCode = req.method === 'GET' || req.method === 'HEAD' ? (ok ? 200 : 503) : 405
    res.setHeader('content-type', 'application/json; charset=utf-8')
    res.setHeader('cache-control', 'no-store')
    res.end(req.method === 'HEAD' ? undefined : body)
    return true
  }
}
