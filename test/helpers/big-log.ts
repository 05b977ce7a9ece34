// A log whose first segment is exactly `segmentBytes` long (up to the 1-GiB
// cap), written by the real sink: 64-KiB events, then the largest event the
// options allow, which fills the segment to the byte. Used by the cap test
// (test/read/cap.test.ts), and from the command line to make such a log for a
// measurement:
//   node dist/test/helpers/big-log.js <dir> <segmentBytes>
import fs from 'node:fs'
import path from 'node:path'
import { AuditSink } from '../../lib/index.js'
import { RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES, segmentFileName } from '../../shared/format.js'
import { LIMITS } from '../../shared/limits.js'

/** The options a cap-sized segment is written with: the largest event, a batch that holds it, a ring twice that. */
export const BIG_OPTIONS = {
  eventBytesMax: LIMITS.eventBytesMax.max,
  batchBytesMax: 2 * LIMITS.eventBytesMax.max,
  ringBytes: 4 * LIMITS.eventBytesMax.max,
  segmentBytesMax: LIMITS.segmentBytesMax.max,
} as const

const TEMPLATE = 'Fill {Pad}'

/** Bytes a stored event with a Pad of n characters takes beyond n (its JSON), measured once on a small log. */
function padPayloadBytes(n: number): number {
  return Buffer.byteLength(
    JSON.stringify({ level: 'Information', messageTemplate: TEMPLATE, properties: { Pad: 'x'.repeat(n) } }),
  )
}

/**
 * Payload bytes of the records before the last. A reader turns each event into
 * strings (its JSON, then its Pad); V8 makes a string over 128 KiB in memory of
 * its own, fresh from the kernel, and here each of its pages costs about 11 us
 * on first touch: reading 64-MiB events runs at about 130 MiB/s, 64-KiB events
 * at about 1.8 GiB/s (2026-12-03). So the segment is filled with 64-KiB events
 * and only its last one is the largest (the window grows to hold it).
 */
const FILL_PAYLOAD_BYTES = 64 * 1024

/**
 * Payload sizes of records that fill `bytes` exactly. The writer seals a
 * segment after a batch that leaves no room for one more record of
 * eventBytesMax; so every record but the last leaves room for that, and the
 * last one is exactly eventBytesMax: whatever batches the writer forms, it
 * seals only when the segment is full.
 */
function recordPayloads(bytes: number): number[] {
  let left = bytes - (RECORD_HEADER_BYTES + BIG_OPTIONS.eventBytesMax)
  const count = Math.ceil(left / (RECORD_HEADER_BYTES + FILL_PAYLOAD_BYTES))
  const payloads: number[] = []
  for (let i = count; i > 0; i--) {
    const recBytes = Math.floor(left / i)
    payloads.push(recBytes - RECORD_HEADER_BYTES)
    left -= recBytes
  }
  payloads.push(BIG_OPTIONS.eventBytesMax)
  return payloads
}

/**
 * Write a log in dir whose first segment holds exactly segmentBytes (header
 * and records; it is sealed, since no more event fits). Returns the events'
 * seqs, the length of each one's Pad property, and the segment's path.
 */
export async function writeBigLog(
  dir: string,
  segmentBytes: number,
): Promise<{ seqs: number[]; pads: number[]; file: string }> {
  const overhead = padPayloadBytes(0)
  const payloads = recordPayloads(segmentBytes - SEGMENT_HEADER_BYTES)
  const sink = await AuditSink.open({ dir, ...BIG_OPTIONS, segmentBytesMax: segmentBytes })
  const seqs: number[] = []
  // Every Pad is a slice of one flat string, made once: 'x'.repeat makes a rope that each
  // event's JSON would flatten again (a 64-MiB copy and allocation per event, in the test's time).
  const padLengths = payloads.map((p) => p - overhead)
  const pads = Buffer.alloc(Math.max(...padLengths), 'x').toString('latin1')
  try {
    // All in flight at once: the ring holds what fits, the rest wait for its space. Their JSON is
    // the slice of `pads` kept whole (lib/sink/snapshot.ts), so waiting costs no copy each.
    const receipts = await Promise.all(
      padLengths.map((n) =>
        sink.emit({
          level: 'Information',
          messageTemplate: TEMPLATE,
          properties: { Pad: pads.slice(0, n) },
        }),
      ),
    )
    for (const r of receipts) seqs.push(r.seq)
  } finally {
    await sink.close()
  }
  const file = path.join(dir, segmentFileName(1))
  const size = fs.statSync(file).size
  if (size !== segmentBytes) throw new Error(`big log: segment is ${size} bytes, wanted ${segmentBytes}`)
  return { seqs, pads: padLengths, file }
}

if (process.argv[1] !== undefined && import.meta.url === `file://${process.argv[1]}`) {
  const [dir, bytes] = process.argv.slice(2)
  if (dir === undefined || bytes === undefined) {
    console.error('usage: big-log <dir> <segmentBytes>')
    process.exit(2)
  }
  const t0 = performance.now()
  const { seqs } = await writeBigLog(dir, Number(bytes))
  console.log(
    `${dir}: ${seqs.length} events, first segment ${bytes} bytes, ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  )
}
