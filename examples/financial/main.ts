/**
 * Financial example: card payments through Express, audited twice over.
 *
 *   POST /payments ─► auditExpress (intent, awaited: no durable intent → 503, no charge)
 *                  ─► handler: charge ─► auditLog(winston) 'payment charged' { PaymentId, Amount, Last4: '4242' }
 *                     (awaited: the client hears "charged" only once the record is durable)
 *                  ─► auditExpress (outcome)
 *
 * What it shows about card data (PCI DSS 3.3 / 3.4: no CVV after
 * authorization, PAN unreadable): the HTTP events never copy a body or a
 * header, the payment event names the last four digits only, and a winston
 * format drops card fields and masks digit runs that look like a PAN, as a
 * second guard should a careless log call pass one. The test that runs this
 * example greps every byte of the WAL for the PAN and the CVV.
 *
 * Run (after the build): node dist/examples/financial/main.js
 *   EXAMPLE_DIR=path   the WAL directory (default ./financial-audit)
 * In your own code import from 'mtlog-audit', 'mtlog-audit/http', 'mtlog-audit/winston'.
 */

import path from 'node:path'
import type { AddressInfo } from 'node:net'
import { once } from 'node:events'
import express from 'express'
import winston from 'winston'
import { AuditSink, readLog, verifyLog } from '../../lib/index.js'
import { auditExpress } from '../../lib/adapters/http.js'
import { AuditTransport, auditLog } from '../../lib/adapters/winston.js'

/** Test card data (a well-known test PAN), never to be stored. */
export const PAN = '4242424242424242'
export const CVV = '737'

/** Drops card fields, masks PAN-like digit runs in the message: a guard behind careful call sites. */
const noCardData = winston.format((info) => {
  for (const k of ['pan', 'cvv', 'card', 'cardNumber']) delete info[k]
  if (typeof info.message === 'string') info.message = info.message.replace(/\b\d{13,19}\b/g, '[PAN]')
  return info
})

async function main(): Promise<number> {
  const dir = path.resolve(process.env.EXAMPLE_DIR ?? 'financial-audit')
  const sink = await AuditSink.open({ dir })
  const audit = new AuditTransport({ sink })
  const logger = winston.createLogger({
    format: noCardData(),
    defaultMeta: { Service: 'payments' },
    transports: [audit],
  })

  const app = express()
  app.use(express.json())
  app.use(auditExpress(sink, { mode: 'intent+outcome', actor: (req) => req.headers['x-merchant'] as string }))
  let next = 1
  app.post('/payments', async (req, res) => {
    const { pan, amount, currency } = req.body as { pan: string; cvv: string; amount: number; currency: string }
    const id = `pay-${next++}`
    // (authorize with the card network here; the CVV is used for that and then forgotten)
    try {
      const { seq } = await auditLog(logger, audit, 'info', 'payment charged', {
        PaymentId: id,
        Amount: amount,
        Currency: currency,
        Last4: pan.slice(-4),
        Merchant: req.headers['x-merchant'],
        // a careless extra field: the format drops it
        cvv: req.body.cvv,
      })
      res.status(201).json({ id, auditSeq: seq })
    } catch {
      res.status(503).json({ error: 'payment not recorded; not charged' })
    }
  })
  const server = app.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const seqs: number[] = []
  for (const amount of [1999, 250, 7_500]) {
    const r = await fetch(`${base}/payments`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-merchant': 'm-42', authorization: 'Bearer merchant-secret' },
      body: JSON.stringify({ pan: PAN, cvv: CVV, amount, currency: 'EUR' }),
    })
    const body = (await r.json()) as { auditSeq: number }
    if (r.status === 201) seqs.push(body.auditSeq)
  }
  // Every response finished (so every outcome event was emitted) once the server has closed.
  await new Promise((resolve) => {
    server.close(resolve)
    server.closeIdleConnections()
  })
  logger.end()
  await once(logger, 'finish')
  await sink.close()

  const v = await verifyLog(dir)
  const phases: string[] = []
  for await (const r of readLog(dir)) {
    const p = r.event.properties
    phases.push(String(p.Phase ?? 'payment'))
    console.log(
      `  ${r.seq} ${String(p.Phase ?? 'payment').padEnd(7)} ${r.event.messageTemplate.slice(0, 60)} ${p.Last4 ?? ''}`,
    )
  }
  const ok = v.ok && seqs.length === 3 && phases.filter((x) => x === 'payment').length === 3
  console.log(`payments: ${seqs.length}, events: ${phases.length}, verify: ${v.ok ? 'ok' : 'FAILED'}`)
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
