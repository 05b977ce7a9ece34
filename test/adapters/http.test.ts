// mtlog-audit/http with the real express 5 and fastify 5 on 127.0.0.1:
// outcome events with Serilog's fields, intent+outcome, a failing sink
// answering 503 without running the handler, held responses, levels, trace
// ids, and no Authorization or Cookie value anywhere in the WAL.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import path from 'node:path'
import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'
import express from 'express'
import Fastify from 'fastify'
import { AuditSink, readLog, type LogRecord } from '../../lib/index.js'
import { auditExpress, auditFastify } from '../../lib/adapters/http.js'
import { tempDir } from '../helpers/dirs.js'

const SECRET = `Bearer sk-${Math.random().toString(36).slice(2)}-do-not-log`
const COOKIE = `session=${Math.random().toString(36).slice(2)}-do-not-log`
const TRACE = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'

async function records(dir: string): Promise<LogRecord[]> {
  const out: LogRecord[] = []
  for await (const r of readLog(dir)) out.push(r)
  return out
}

function walBytes(dir: string): Buffer {
  return Buffer.concat(
    fs
      .readdirSync(dir)
      .filter((n) => n.endsWith('.wal'))
      .map((n) => fs.readFileSync(path.join(dir, n))),
  )
}

async function listen(app: express.Express): Promise<{ server: Server; url: string }> {
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s))
  })
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
}

function call(url: string, init: RequestInit = {}): Promise<Response> {
  return fetch(url, {
    ...init,
    headers: {
      authorization: SECRET,
      cookie: COOKIE,
      traceparent: TRACE,
      'user-agent': 'audit-test/1',
      ...init.headers,
    },
  })
}

/** Wait (at most 10 s: a bound for a hang, not a timing claim) until cond holds. */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setTimeout(r, 10))
  assert.ok(cond(), 'the condition never held')
}

/** Wait until the log holds n outcome events (they are written after the response). */
async function outcomes(dir: string, sink: AuditSink, n: number): Promise<LogRecord[]> {
  await sink.flush()
  const recs = (await records(dir)).filter((r) => r.event.properties.Phase === 'outcome')
  assert.is(recs.length, n)
  return recs
}

test('express, outcome mode: one event per response with the request fields; secrets never stored', async () => {
  const dir = tempDir('http-express')
  const sink = await AuditSink.open({ dir })
  const app = express()
  app.use(auditExpress(sink, { actor: (req) => (req.headers['x-user'] as string) ?? null, tenant: () => 't-1' }))
  app.get('/records/:id', (req, res) => void res.json({ id: req.params.id }))
  app.get('/admin', (_req, res) => void res.status(403).end())
  app.get('/boom', () => {
    throw new Error('handler failed')
  })
  app.use((_err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(500).end()
  })
  const { server, url } = await listen(app)
  try {
    assert.is((await call(`${url}/records/42?token=abc`, { headers: { 'x-user': 'u-7' } })).status, 200)
    assert.is((await call(`${url}/admin`)).status, 403)
    assert.is((await call(`${url}/boom`)).status, 500)
    // Outcomes are emitted on 'finish', which may follow the client's read of the response.
    await until(() => sink.stats().emitsDurable >= 3)
    const [ok, denied, failed] = await outcomes(dir, sink, 3)
    const p = ok!.event.properties
    assert.is(p.RequestMethod, 'GET')
    assert.is(p.RequestPath, '/records/42', 'no query string')
    assert.is(p.Route, '/records/:id')
    assert.is(p.StatusCode, 200)
    assert.is(typeof p.Elapsed, 'number')
    assert.is(p.Actor, 'u-7')
    assert.is(p.TenantId, 't-1')
    assert.is(p.ClientAddress, '127.0.0.1')
    assert.is(p.UserAgent, 'audit-test/1')
    assert.is(p.Outcome, 'success')
    assert.is(p.TraceId, '4bf92f3577b34da6a3ce929d0e0e4736')
    assert.is(p.SpanId, '00f067aa0ba902b7')
    assert.match(String(p.RequestId), /^[0-9a-f-]{36}$/)
    assert.is(ok!.event.level, 'Information')
    assert.is(denied!.event.level, 'Warning')
    assert.is(denied!.event.properties.Outcome, 'denied')
    assert.is(failed!.event.level, 'Error')
    assert.is(failed!.event.properties.Outcome, 'failure')
    const raw = walBytes(dir).toString('latin1')
    assert.not.ok(raw.includes(SECRET.slice(7)), 'the Authorization value is in the WAL')
    assert.not.ok(raw.includes(COOKIE.split('=')[1]!), 'the Cookie value is in the WAL')
  } finally {
    server.close()
    await sink.close()
  }
})

test('express, intent+outcome: the intent is durable before the handler; a failing sink answers 503 and the handler never runs', async () => {
  const dir = tempDir('http-express-intent')
  const sink = await AuditSink.open({ dir })
  let ran = 0
  let intentSeenByHandler = false
  const app = express()
  app.use(auditExpress(sink, { mode: 'intent+outcome', onError: () => {} }))
  app.post('/transfer', (_req, res) => {
    ran++
    // The intent event is durable: the sink's durable seq already covers it.
    intentSeenByHandler = sink.stats().emitsDurable >= 1
    res.status(201).end()
  })
  const { server, url } = await listen(app)
  try {
    assert.is((await call(`${url}/transfer`, { method: 'POST' })).status, 201)
    assert.is(ran, 1)
    assert.ok(intentSeenByHandler)
    // The outcome is emitted on 'finish', which may follow the client's read: let it land first.
    await until(() => sink.stats().emitsDurable >= 2)
    await sink.destroy()
    const r = await call(`${url}/transfer`, { method: 'POST', headers: { 'x-request-id': 'req-77' } })
    assert.is(r.status, 503)
    assert.is(r.headers.get('retry-after'), '5')
    const body = (await r.json()) as { code: string; requestId: string }
    assert.is(body.code, 'ERR_AUDIT_DESTROYED')
    assert.is(body.requestId, 'req-77')
    assert.is(ran, 1, 'the handler ran although its intent could not be written')
  } finally {
    server.close()
  }
  const recs = await records(dir)
  assert.equal(
    recs.map((r) => r.event.properties.Phase),
    ['intent', 'outcome'],
  )
  assert.is(recs[0]!.event.properties.RequestId, recs[1]!.event.properties.RequestId)
})

test('fastify, intent+outcome with holdResponse: the body waits for the durable outcome; a failing sink answers 503 without the handler', async () => {
  const dir = tempDir('http-fastify')
  const sink = await AuditSink.open({ dir })
  let ran = 0
  const app = Fastify()
  await app.register(
    auditFastify(sink, {
      mode: 'intent+outcome',
      holdResponse: true,
      actor: (req) => (req.headers['x-user'] as string | undefined) ?? null,
    }),
  )
  app.get('/patients/:id', async (req) => {
    ran++
    return { id: (req.params as { id: string }).id }
  })
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  try {
    const r = await call(`${url}/patients/p-9?x=1`, { headers: { 'x-user': 'dr-who' } })
    assert.is(r.status, 200)
    assert.equal(await r.json(), { id: 'p-9' })
    // Held: when the client has the body, the outcome is already durable.
    const recs = await records(dir)
    assert.equal(
      recs.map((x) => x.event.properties.Phase),
      ['intent', 'outcome'],
    )
    const out = recs[1]!.event.properties
    assert.is(out.Route, '/patients/:id')
    assert.is(out.RequestPath, '/patients/p-9')
    assert.is(out.Actor, 'dr-who')
    assert.is(out.StatusCode, 200)
    assert.is(r.headers.get('x-request-id'), out.RequestId)
    assert.is(ran, 1)
    await sink.destroy()
    const bad = await call(`${url}/patients/p-10`)
    assert.is(bad.status, 503)
    assert.is(ran, 1, 'the handler ran although its intent could not be written')
    const raw = walBytes(dir).toString('latin1')
    assert.not.ok(raw.includes(SECRET.slice(7)))
    assert.not.ok(raw.includes(COOKIE.split('=')[1]!))
  } finally {
    await app.close()
  }
})

test('fastify, outcome mode without holding: one event per request, 401 is a Warning, unmatched routes have no Route', async () => {
  const dir = tempDir('http-fastify-outcome')
  const sink = await AuditSink.open({ dir })
  const app = Fastify()
  await app.register(auditFastify(sink))
  app.get('/private', async (_req, reply) => reply.code(401).send({ error: 'no' }))
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  try {
    assert.is((await call(`${url}/private`)).status, 401)
    assert.is((await call(`${url}/nowhere`)).status, 404)
    await until(() => sink.stats().emitsDurable >= 2)
    const [denied, missing] = await outcomes(dir, sink, 2)
    assert.is(denied!.event.level, 'Warning')
    assert.is(denied!.event.properties.Outcome, 'denied')
    assert.is(missing!.event.properties.StatusCode, 404)
    assert.is(missing!.event.properties.Route, null)
    assert.is(missing!.event.properties.Outcome, 'failure')
  } finally {
    await app.close()
    await sink.close()
  }
})

test.run()
