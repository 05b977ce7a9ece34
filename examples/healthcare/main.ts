/**
 * Healthcare example: a Fastify API whose every access to a patient record is
 * audited before it happens and after, with the response held until the
 * outcome is on disk.
 *
 *   client ─► onRequest: intent event, awaited (not durable → 503, handler never runs)
 *          ─► handler (reads / updates the record)
 *          ─► onSend: outcome event, awaited; the body leaves only after it is durable
 *
 * Each event carries RequestMethod, RequestPath, Route, StatusCode, Elapsed,
 * RequestId, Actor (the clinician), ClientAddress, UserAgent, Outcome: the
 * who / what / when / where of an access log (HIPAA § 164.312(b) asks for
 * audit controls; the HIPAA compliance profile will add its rules here).
 * Authorization and Cookie headers are never stored.
 *
 * Run (after the build): node dist/examples/healthcare/main.js
 *   EXAMPLE_DIR=path   the WAL directory (default ./healthcare-audit, must be new or a WAL)
 * It starts the server on 127.0.0.1, plays a few clinicians' requests with
 * fetch, closes, verifies the log and prints one line per event.
 * In your own code import from 'mtlog-audit' and 'mtlog-audit/http'.
 */

import path from 'node:path'
import Fastify from 'fastify'
import { AuditSink, readLog, verifyLog } from '../../lib/index.js'
import { auditFastify } from '../../lib/adapters/http.js'

const PATIENTS = new Map([
  ['p-100', { name: 'A. Patient', allergies: ['penicillin'] }],
  ['p-200', { name: 'B. Patient', allergies: [] }],
])
/** Clinicians and what they may do (a stand-in for real authentication). */
const STAFF: Record<string, { id: string; canWrite: boolean }> = {
  'token-dr-house': { id: 'dr-house', canWrite: true },
  'token-nurse-joy': { id: 'nurse-joy', canWrite: false },
}

function staff(auth: string | undefined): { id: string; canWrite: boolean } | undefined {
  return auth?.startsWith('Bearer ') ? STAFF[auth.slice(7)] : undefined
}

async function main(): Promise<number> {
  const dir = path.resolve(process.env.EXAMPLE_DIR ?? 'healthcare-audit')
  const sink = await AuditSink.open({ dir })
  const app = Fastify()
  await app.register(
    auditFastify(sink, {
      mode: 'intent+outcome',
      holdResponse: true,
      actor: (req) => staff(req.headers.authorization)?.id ?? null,
    }),
  )
  app.get('/patients/:id', async (req, reply) => {
    const who = staff(req.headers.authorization)
    if (who === undefined) return reply.code(401).send({ error: 'unauthenticated' })
    const p = PATIENTS.get((req.params as { id: string }).id)
    return p === undefined ? reply.code(404).send({ error: 'no such patient' }) : p
  })
  app.put('/patients/:id/allergies', async (req, reply) => {
    const who = staff(req.headers.authorization)
    if (who === undefined) return reply.code(401).send({ error: 'unauthenticated' })
    if (!who.canWrite) return reply.code(403).send({ error: 'read only' })
    const p = PATIENTS.get((req.params as { id: string }).id)
    if (p === undefined) return reply.code(404).send({ error: 'no such patient' })
    p.allergies = (req.body as { allergies: string[] }).allergies
    return p
  })
  const base = await app.listen({ port: 0, host: '127.0.0.1' })
  const calls: [string, string, string | undefined, unknown?][] = [
    ['GET', '/patients/p-100', 'token-dr-house'],
    ['GET', '/patients/p-200?fields=all', 'token-nurse-joy'],
    ['PUT', '/patients/p-200/allergies', 'token-nurse-joy', { allergies: ['latex'] }],
    ['PUT', '/patients/p-200/allergies', 'token-dr-house', { allergies: ['latex'] }],
    ['GET', '/patients/p-999', 'token-dr-house'],
    ['GET', '/patients/p-100', undefined],
  ]
  const statuses: number[] = []
  for (const [method, url, token, body] of calls) {
    const r = await fetch(base + url, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    })
    statuses.push(r.status)
    await r.arrayBuffer()
  }
  await app.close()
  await sink.close()

  const v = await verifyLog(dir)
  let events = 0
  for await (const r of readLog(dir)) {
    const p = r.event.properties
    events++
    console.log(
      `  ${r.seq} ${p.Phase} ${p.RequestMethod} ${p.RequestPath} actor=${p.Actor ?? '-'}` +
        (p.Phase === 'outcome' ? ` ${p.StatusCode} ${p.Outcome}` : ''),
    )
  }
  const ok = v.ok && events === calls.length * 2 && statuses.join(',') === '200,200,403,200,404,401'
  console.log(`statuses: ${statuses.join(',')}`)
  console.log(`events: ${events}, verify: ${v.ok ? 'ok' : 'FAILED'}`)
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
