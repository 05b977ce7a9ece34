/**
 * Multi-tenant example: one audit log, every event tagged with its tenant.
 *
 *   X-Tenant header ─► auditExpress({ tenant }) ─► TenantId on the HTTP events
 *                   ─► logger.child({ TenantId }) (pino, in process) ─► TenantId on the app's events
 *   readLog(dir) filtered by TenantId ─► one tenant's trail
 *
 * Tenants share the WAL (one writer, one hash chain: no tenant can remove
 * another's evidence); per-tenant encryption keys arrive with the encryption
 * issue and will key on this same property.
 *
 * Run (after the build): node dist/examples/multi-tenant/main.js
 *   EXAMPLE_DIR=path   the WAL directory (default ./multi-tenant-audit)
 */

import path from 'node:path'
import type { AddressInfo } from 'node:net'
import { once } from 'node:events'
import express from 'express'
import pino from 'pino'
import { AuditSink, readLog, verifyLog } from '../../lib/index.js'
import { auditExpress } from '../../lib/adapters/http.js'
import { auditDestination, auditLog } from '../../lib/adapters/pino.js'

const TENANTS = ['acme', 'globex', 'initech']

async function main(): Promise<number> {
  const dir = path.resolve(process.env.EXAMPLE_DIR ?? 'multi-tenant-audit')
  const sink = await AuditSink.open({ dir })
  const dest = auditDestination(sink)
  const root = pino({ base: { Service: 'documents' } }, dest)

  const app = express()
  const tenantOf = (req: express.Request): string => String(req.headers['x-tenant'] ?? 'unknown')
  app.use(auditExpress(sink, { tenant: tenantOf, actor: (req) => req.headers['x-user'] as string }))
  app.delete('/documents/:id', async (req, res) => {
    const log = root.child({ TenantId: tenantOf(req), UserId: req.headers['x-user'] })
    const { seq } = await auditLog(log, dest, 'warn', { DocumentId: req.params.id }, 'document deleted')
    res.json({ deleted: req.params.id, auditSeq: seq })
  })
  const server = app.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  for (let i = 0; i < 9; i++) {
    const tenant = TENANTS[i % TENANTS.length]!
    const r = await fetch(`${base}/documents/d-${i}`, {
      method: 'DELETE',
      headers: { 'x-tenant': tenant, 'x-user': `${tenant}-admin` },
    })
    await r.arrayBuffer()
  }
  // Every response finished (so every outcome event was emitted) once the server has closed.
  await new Promise((resolve) => {
    server.close(resolve)
    server.closeIdleConnections()
  })
  await sink.flush()
  await sink.close()

  const v = await verifyLog(dir)
  const perTenant = new Map<string, number>()
  for await (const r of readLog(dir)) {
    const t = String(r.event.properties.TenantId)
    perTenant.set(t, (perTenant.get(t) ?? 0) + 1)
  }
  for (const [t, n] of [...perTenant].sort()) console.log(`  tenant ${t}: ${n} events`)
  // Each tenant: 3 deletions, each one app event + one HTTP outcome event.
  const ok = v.ok && TENANTS.every((t) => perTenant.get(t) === 6) && perTenant.size === TENANTS.length
  console.log(`verify: ${v.ok ? 'ok' : 'FAILED'}`)
  console.log(`result: ${ok ? 'ok' : 'FAILED'}`)
  return ok ? 0 : 1
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    console.error(err)
    console.log('result: FAILED')
    process.exitCode = 1
  },
)
