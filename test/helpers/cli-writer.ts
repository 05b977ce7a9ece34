// A writer process for the CLI tests (monitor) and for making large logs:
//   node dist/test/helpers/cli-writer.js <dir> <events> [perBatch=10] [pauseMs=20] [padBytes=100] [segmentBytesMax]
// Emits <events> events in batches of perBatch, pausing pauseMs between
// batches, then closes. SIGTERM stops early (close, exit 0). Prints one JSON
// line { "lastSeq": n } at the end. Bounded: never more than <events> events.
import { AuditSink } from '../../lib/index.js'

const [dir, eventsArg, perArg = '10', pauseArg = '20', padArg = '100', segArg] = process.argv.slice(2)
if (dir === undefined || eventsArg === undefined) {
  console.error('usage: cli-writer <dir> <events> [perBatch] [pauseMs] [padBytes] [segmentBytesMax]')
  process.exit(2)
}
const events = Number(eventsArg)
const per = Number(perArg)
const pauseMs = Number(pauseArg)
const pad = 'x'.repeat(Number(padArg))
const sink = await AuditSink.open({ dir, ...(segArg === undefined ? {} : { segmentBytesMax: Number(segArg) }) })
let stop = false
process.on('SIGTERM', () => (stop = true))
const levels = ['Information', 'Warning', 'Error'] as const
let last = 0
for (let i = 0; i < events && !stop;) {
  const n = Math.min(per, events - i)
  const rs = await Promise.all(
    Array.from({ length: n }, (_, k) =>
      sink.emit({
        level: levels[(i + k) % 3]!,
        messageTemplate: 'Order {OrderId} by {UserId}',
        properties: { OrderId: i + k, UserId: `u-${(i + k) % 17}`, pad },
      }),
    ),
  )
  last = rs[rs.length - 1]!.seq
  i += n
  if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs))
}
await sink.close()
console.log(JSON.stringify({ lastSeq: last }))
