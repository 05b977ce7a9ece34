/**
 * HTTP + metrics + health example: the shape of a service in Kubernetes
 * (deploy/ runs this file).
 *
 *   :APP_PORT      Express app, every request audited (mtlog-audit/http)
 *   :HEALTH_PORT   /metrics (mtlog-audit/prometheus on the app's prom-client)
 *                  /livez /readyz (mtlog-audit/health), a second port so probes
 *                  and scrapes never queue behind app traffic
 *   SIGTERM        mtlog-audit/shutdown: readiness fails, the app server stops
 *                  taking requests, flush, close, exit 0 (within the bound)
 *
 * Run (after the build): node dist/examples/http-metrics-health/main.js
 *   AUDIT_DIR (default /var/audit/app, as in deploy/k8s), APP_PORT, HEALTH_PORT, HOST (default 0.0.0.0)
 *   EXAMPLE_SELFTEST=1  listen on 127.0.0.1 with ports chosen by the system, send a
 *                       few requests, scrape, probe, shut down, and print what it saw
 */

import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { once } from 'node:events'
import express from 'express'
import client from 'prom-client'
import { AuditSink } from '../../lib/index.js'
import { auditExpress } from '../../lib/adapters/http.js'
import { registerAuditMetrics } from '../../lib/adapters/prometheus.js'
import { healthHandler, HEALTH_PATHS } from '../../lib/adapters/health.js'
import { gracefulShutdown } from '../../lib/adapters/shutdown.js'
import { APP_PORT, AUDIT_DIR, HEALTH_PORT, METRICS_PATH } from './ports.js'

const selftest = process.env.EXAMPLE_SELFTEST === '1'
const host = selftest ? '127.0.0.1' : (process.env.HOST ?? '0.0.0.0')

async function listen(server: http.Server, port: number): Promise<number> {
  server.listen(port, host)
  await once(server, 'listening')
  return (server.address() as AddressInfo).port
}

async function main(): Promise<void> {
  const sink = await AuditSink.open({ dir: process.env.AUDIT_DIR ?? AUDIT_DIR })

  const app = express()
  app.use(auditExpress(sink, { actor: (req) => (req.headers['x-user'] as string) ?? null }))
  app.get('/orders/:id', (req, res) => void res.json({ id: req.params.id, status: 'shipped' }))
  const appServer = http.createServer(app)

  const registry = new client.Registry()
  registerAuditMetrics(() => sink, { client, registry })
  const shutdown = gracefulShutdown({
    sink: () => sink,
    exit: !selftest,
    stopTaking: () =>
      new Promise<void>((resolve) => {
        appServer.close(() => resolve())
        appServer.closeIdleConnections()
      }),
  })
  const health = healthHandler(() => sink, { draining: () => shutdown.draining })
  const opsServer = http.createServer((req, res) => {
    if (health(req, res)) return
    if (req.url === METRICS_PATH) {
      registry.metrics().then((body) => {
        res.setHeader('content-type', registry.contentType)
        res.end(body)
      })
      return
    }
    res.statusCode = 404
    res.end()
  })
  const appPort = await listen(appServer, selftest ? 0 : Number(process.env.APP_PORT ?? APP_PORT))
  const opsPort = await listen(opsServer, selftest ? 0 : Number(process.env.HEALTH_PORT ?? HEALTH_PORT))
  console.log(`listening: app ${host}:${appPort}, metrics and health ${host}:${opsPort}`)
  if (!selftest) return

  for (let i = 0; i < 5; i++)
    await (await fetch(`http://127.0.0.1:${appPort}/orders/${i}`, { headers: { 'x-user': 'u-1' } })).arrayBuffer()
  const ops = `http://127.0.0.1:${opsPort}`
  console.log(`readyz: ${(await fetch(ops + HEALTH_PATHS.ready)).status}`)
  console.log(`livez: ${(await fetch(ops + HEALTH_PATHS.live)).status}`)
  const report = await shutdown.shutdown('selftest')
  // After the drain: every request's outcome event is durable, and the sink is closed.
  const metrics = await (await fetch(ops + METRICS_PATH)).text()
  const durable = /^mtlog_audit_events_total\{outcome="durable"\} (\d+)$/m.exec(metrics)?.[1]
  console.log(`metrics: events durable ${durable}`)
  console.log(`readyz after shutdown: ${(await fetch(ops + HEALTH_PATHS.ready)).status}`)
  console.log(`shutdown: ${report.ok ? 'ok' : 'FAILED'} (durable seq ${report.durableSeq})`)
  opsServer.close()
  const ok = report.ok && durable === '5'
  console.log(`result: ${ok ? 'ok' : 'FAILED'}`)
  process.exitCode = ok ? 0 : 1
}

main().catch((err: unknown) => {
  console.error(err)
  console.log('result: FAILED')
  process.exitCode = 1
})
