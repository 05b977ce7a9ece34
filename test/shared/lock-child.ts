// A writer in its own process, for the lock tests (test/shared/lock.test.ts).
// Opens the sink on argv[2] and says what happened as one JSON line per step:
//   {"type":"opened","pid":…,"locks":[…]} or {"type":"refused","code":…}
// then obeys stdin: "emit N" (→ {"type":"emitted","seqs":[…]}), "close" (→ {"type":"closed"}).
// With MTLOG_AUDIT_TEST_LOCK_GATE set, its writer waits at the lock's test seam.
import readline from 'node:readline'
import { AuditSink } from '../../lib/index.js'

const dir = process.argv[2]!
const say = (m: object): void => void process.stdout.write(JSON.stringify(m) + '\n')

let sink: AuditSink
try {
  sink = await AuditSink.open({ dir })
} catch (err) {
  say({ type: 'refused', code: (err as { code?: string }).code ?? 'uncoded', message: (err as Error).message })
  process.exit(0)
}
say({ type: 'opened', pid: process.pid, locks: sink.openReport.locks })
for await (const line of readline.createInterface({ input: process.stdin })) {
  const [cmd, arg] = line.split(' ')
  if (cmd === 'emit') {
    const receipts = await Promise.all(
      Array.from({ length: Number(arg) }, (_, i) =>
        sink.emit({
          level: 'Information',
          messageTemplate: 'writer {Pid} event {I}',
          properties: { Pid: process.pid, I: i },
        }),
      ),
    )
    say({ type: 'emitted', seqs: receipts.map((r) => r.seq) })
  } else if (cmd === 'close') {
    await sink.close()
    say({ type: 'closed' })
    break
  }
}
process.exit(0)
