// A log whose first segment holds many small event records (about 136 bytes
// each), written with the recover writer (lib/repair/rewrite.ts, no sink), so
// hundreds of thousands of records take a second or two. Used by the salvage
// memory test (test/read/salvage-memory.test.ts) and its measurement:
//   node dist/test/helpers/small-log.js <dir> <records>
import fs from 'node:fs'
import { WalRewriter } from '../../lib/repair/rewrite.js'
import { RecordType } from '../../shared/format.js'
import { LIMITS } from '../../shared/limits.js'

/** The payload of event i: a small event as emit() stores it. */
export function smallEvent(i: number): Buffer {
  return Buffer.from(JSON.stringify({ level: 'Information', messageTemplate: 'Small {N}', properties: { N: i } }))
}

/** Write `records` small events into dir (one segment up to the 1-GiB cap), then a seal; returns the last seq. */
export async function writeSmallLog(dir: string, records: number): Promise<number> {
  fs.mkdirSync(dir, { recursive: true })
  const w = new WalRewriter(dir, { segmentBytesMax: LIMITS.segmentBytesMax.max })
  try {
    for (let i = 1; i <= records; i++)
      await w.append({ type: RecordType.EVENT, timeMs: 1_700_000_000_000 + i, payload: smallEvent(i) })
    await w.finish(1_700_000_000_000 + records + 1)
  } catch (err) {
    await w.abort()
    throw err
  }
  return w.nextSeq - 1
}

if (process.argv[1] !== undefined && import.meta.url === `file://${process.argv[1]}`) {
  const [dir, n] = process.argv.slice(2)
  if (dir === undefined || n === undefined) {
    console.error('usage: small-log <dir> <records>')
    process.exit(2)
  }
  console.log(JSON.stringify({ lastSeq: await writeSmallLog(dir, Number(n)) }))
}
