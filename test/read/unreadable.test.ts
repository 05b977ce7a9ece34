// A record whose checksum and chain hold but whose payload is not an event
// emit() could write (other software, an old bug's 1e16 timestamp): readers
// deliver the events before it and then throw ERR_AUDIT_RECORD_UNREADABLE
// naming its seq, never a SyntaxError or an Invalid Date (issue 15, finding 2).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { AuditError, readLog, replay, verifyLog } from '../../lib/index.js'
import { WalRewriter } from '../../lib/repair/index.js'
import { RecordType } from '../../shared/format.js'
import { tracked } from '../helpers/tracked.js'

const t = tracked('unreadable')
test.after(() => t.cleanup())

const good = (n: number): Uint8Array =>
  Buffer.from(JSON.stringify({ level: 'Information', messageTemplate: 'e{N}', properties: { N: n } }))

/** A log of: event 1, then `bad` at seq 2 (with timeMs), then event 3; every checksum and link valid. */
async function logWith(bad: Uint8Array, timeMs: number): Promise<string> {
  const dir = t.freshDir()
  const w = new WalRewriter(dir)
  await w.append({ type: RecordType.EVENT, timeMs: 1_700_000_000_000, payload: good(1) })
  await w.append({ type: RecordType.EVENT, timeMs, payload: bad })
  await w.append({ type: RecordType.EVENT, timeMs: 1_700_000_000_002, payload: good(3) })
  await w.finish()
  return dir
}

const CASES: [string, string, number, string][] = [
  ['a payload that is not JSON', '{"level":"Information","messageTemplate":"x', 1_700_000_000_001, 'json'],
  ['a level that is a quote', '{"level":"\\"","messageTemplate":"x"}', 1_700_000_000_001, 'level'],
  ['a template that is a number', '{"level":"Error","messageTemplate":42}', 1_700_000_000_001, 'template'],
  ['a timestamp of 1e16 (stored by the old encoder)', '{"level":"Error","messageTemplate":"x"}', 1e16, 'timestamp'],
]

for (const [what, payload, timeMs, problem] of CASES) {
  test(`${what}: readLog and replay give seq 1, then a coded error naming seq 2; verify says the log is intact`, async () => {
    const dir = await logWith(Buffer.from(payload), timeMs)
    assert.ok((await verifyLog(dir)).ok, 'integrity holds: this is not damage')
    for (const reader of [() => readLog(dir), () => replay(dir)]) {
      const seqs: number[] = []
      try {
        for await (const r of reader()) seqs.push(r.seq)
        assert.unreachable('the unreadable record was read')
      } catch (err) {
        assert.ok(err instanceof AuditError, String(err))
        assert.is(err.code, 'ERR_AUDIT_RECORD_UNREADABLE')
        assert.is(err.details?.seq, 2)
        assert.is(err.details?.problem, problem)
      }
      assert.equal(seqs, [1])
    }
  })
}

test.run()
