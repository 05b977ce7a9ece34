// Checks a finished multi-producer run against the log on disk.
import * as assert from 'uvu/assert'
import { readLog, verifyLog } from '../../lib/index.js'
import { padFor, type PadSpec } from './load.js'

export interface ThreadResult {
  thread: number
  seqs: (number | undefined)[]
  errors: string[]
}

/**
 * Every receipt resolved; per thread, seq increases with n; no seq was handed
 * out twice; the log's records tile 1..lastSeq (events at their receipts' seqs
 * with their thread's content, and between them only the writer's own records:
 * seals and gaps, each with its seq range); verifyLog is ok.
 */
export async function checkRun(dir: string, results: ThreadResult[], pad: PadSpec): Promise<number> {
  let total = 0
  const owner = new Map<number, { thread: number; n: number }>()
  for (const r of results) {
    assert.ok(
      r.errors.length === 0,
      `thread ${r.thread}: ${r.errors.length} emits rejected, first: ${r.errors.slice(0, 3).join(' | ')}`,
    )
    let prev = 0
    for (let n = 0; n < r.seqs.length; n++) {
      const seq = r.seqs[n]
      assert.ok(
        typeof seq === 'number' && Number.isInteger(seq) && seq >= 1,
        `thread ${r.thread} emit ${n}: no receipt (${seq})`,
      )
      assert.ok(
        seq > prev,
        `thread ${r.thread}: emit ${n} got seq ${seq}, not after emit ${n - 1}'s seq ${prev} (per-thread order broken)`,
      )
      prev = seq
      const other = owner.get(seq)
      assert.ok(
        other === undefined,
        `seq ${seq} was handed to thread ${r.thread} emit ${n} and to thread ${other?.thread} emit ${other?.n}`,
      )
      owner.set(seq, { thread: r.thread, n })
    }
    total += r.seqs.length
  }
  let expect = 1
  let events = 0
  for await (const rec of readLog(dir, { records: true })) {
    assert.is(rec.seq, expect, `readLog: expected seq ${expect}, got ${rec.seq}`)
    if (rec.kind !== 'event') {
      assert.not.ok(owner.has(rec.seq), `seq ${rec.seq} is a ${rec.kind} record, but a receipt carries it`)
      expect = rec.lastSeq + 1
      continue
    }
    events++
    const o = owner.get(rec.seq)
    assert.ok(o !== undefined, `log holds seq ${rec.seq} that no receipt carries`)
    const p = rec.event.properties as { thread?: unknown; n?: unknown; pad?: unknown }
    assert.is(p.thread, o.thread, `seq ${rec.seq}: thread in the log is ${String(p.thread)}, receipt says ${o.thread}`)
    assert.is(p.n, o.n, `seq ${rec.seq}: n in the log is ${String(p.n)}, receipt says ${o.n}`)
    assert.ok(
      p.pad === padFor(pad, o.thread, o.n),
      `seq ${rec.seq}: payload differs from what thread ${o.thread} emitted as n ${o.n}`,
    )
    assert.is(rec.event.messageTemplate, 'load {thread} {n}')
    expect++
  }
  assert.is(events, total, `readLog returned ${events} events, ${total} receipts were resolved`)
  const v = await verifyLog(dir)
  assert.ok(v.ok, `verifyLog: ${JSON.stringify(v.firstBad)}`)
  assert.is(v.lastSeq, expect - 1)
  assert.is(v.events, total)
  return total
}
