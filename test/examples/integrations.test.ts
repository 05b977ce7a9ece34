// The integration examples, each run as a child process the way a user runs
// it (node dist/examples/<name>/main.js), then its log read back: the facts
// each example claims are checked in the log itself, never timings.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import path from 'node:path'
import { readLog, verifyLog, type LogRecord } from '../../lib/index.js'
import { nodeAsync } from '../helpers/cli-run.js'
import { tempDir } from '../helpers/dirs.js'

const example = (name: string): string => new URL(`../../examples/${name}/main.js`, import.meta.url).pathname

async function run(name: string, env: Record<string, string>): Promise<string> {
  const r = await nodeAsync([example(name)], { env })
  assert.is(r.code, 0, `${name} exited ${r.code}\n${r.out}\n${r.err}`)
  assert.match(r.out, /^result: ok$/m)
  return r.out
}

async function records(dir: string): Promise<LogRecord[]> {
  const v = await verifyLog(dir)
  assert.ok(v.ok, JSON.stringify(v.firstBad))
  const out: LogRecord[] = []
  for await (const r of readLog(dir)) out.push(r)
  return out
}

function walText(dir: string): string {
  return fs
    .readdirSync(dir)
    .filter((n) => n.includes('.wal'))
    .map((n) => fs.readFileSync(path.join(dir, n)).toString('latin1'))
    .join('')
}

test('healthcare: every access has a durable intent and outcome with the clinician, and no bearer token', async () => {
  const dir = path.join(tempDir('ex-health'), 'audit')
  await run('healthcare', { EXAMPLE_DIR: dir })
  const recs = await records(dir)
  assert.is(recs.length, 12)
  for (let i = 0; i < recs.length; i += 2) {
    const intent = recs[i]!.event.properties
    const outcome = recs[i + 1]!.event.properties
    assert.is(intent.Phase, 'intent')
    assert.is(outcome.Phase, 'outcome')
    assert.is(intent.RequestId, outcome.RequestId)
  }
  const denied = recs.find((r) => r.event.properties.StatusCode === 403)!
  assert.is(denied.event.properties.Actor, 'nurse-joy')
  assert.is(denied.event.level, 'Warning')
  assert.is(denied.event.properties.Route, '/patients/:id/allergies')
  assert.ok(!walText(dir).includes('token-dr-house'), 'a bearer token is in the WAL')
})

test('financial: payments recorded with the last four digits; neither the PAN nor the CVV anywhere in the WAL', async () => {
  const dir = path.join(tempDir('ex-fin'), 'audit')
  await run('financial', { EXAMPLE_DIR: dir })
  const recs = await records(dir)
  const payments = recs.filter((r) => r.event.messageTemplate === 'payment charged')
  assert.is(payments.length, 3)
  for (const p of payments) {
    assert.is(p.event.properties.Last4, '4242')
    assert.not.ok('cvv' in p.event.properties)
  }
  // Intent before the payment event before the outcome, for each request.
  const phases = recs.map((r) => r.event.properties.Phase ?? 'payment')
  assert.equal(phases, ['intent', 'payment', 'outcome', 'intent', 'payment', 'outcome', 'intent', 'payment', 'outcome'])
  const raw = walText(dir)
  assert.not.ok(raw.includes('4242424242424242'), 'the PAN is in the WAL')
  assert.not.ok(/"737"|:737[,}]/.test(raw), 'the CVV is in the WAL')
  assert.not.ok(raw.includes('merchant-secret'), 'the Authorization header is in the WAL')
})

test('multi-tenant: every event carries its tenant; each tenant has its own trail', async () => {
  const dir = path.join(tempDir('ex-mt'), 'audit')
  await run('multi-tenant', { EXAMPLE_DIR: dir })
  const recs = await records(dir)
  assert.is(recs.length, 18)
  for (const r of recs) assert.ok(['acme', 'globex', 'initech'].includes(String(r.event.properties.TenantId)))
  const acme = recs.filter((r) => r.event.properties.TenantId === 'acme')
  assert.is(acme.filter((r) => r.event.messageTemplate === 'document deleted').length, 3)
  assert.ok(acme.every((r) => String(r.event.properties.UserId ?? r.event.properties.Actor) === 'acme-admin'))
})

test('worker threads: a piscina pool attached to one sink; every receipt is its event, once', async () => {
  const dir = path.join(tempDir('ex-wt'), 'audit')
  const out = await run('worker-threads', { EXAMPLE_DIR: dir, EXAMPLE_TASKS: '600' })
  assert.match(out, /worker threads that emitted: 2/)
  const recs = await records(dir)
  assert.is(recs.length, 600)
  assert.equal(new Set(recs.map((r) => r.event.properties.OrderId)).size, 600)
})

test('http + metrics + health: audited requests, a scrape that counts them, readiness off after the drain', async () => {
  const dir = path.join(tempDir('ex-hmh'), 'audit')
  const out = await run('http-metrics-health', { AUDIT_DIR: dir, EXAMPLE_SELFTEST: '1' })
  assert.match(out, /^readyz: 200$/m)
  assert.match(out, /^livez: 200$/m)
  assert.match(out, /^metrics: events durable 5$/m)
  assert.match(out, /^readyz after shutdown: 503$/m)
  const recs = await records(dir)
  assert.is(recs.length, 5)
  assert.ok(recs.every((r) => r.event.properties.Route === '/orders/:id' && r.event.properties.Actor === 'u-1'))
})

test.run()
