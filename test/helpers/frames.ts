// Records made by hand the way the writer frames them, for tests that build
// crash states: a batch continuing the last record of a segment file.
import fs from 'node:fs'
import {
  decodeSegmentHeader,
  RECORD_HEADER_BYTES,
  RecordType,
  SEGMENT_HEADER_BYTES,
  sealRecord,
} from '../../shared/format.js'

/**
 * n event records continuing `last` (a record of file: its offset and seq):
 * seq and hash chain continue, the segment's salt, batchIndex 0.., the last
 * record with lastFlags (0: a batch that never got its COMMIT). Each payload
 * is an event with messageTemplate `${template} {K}` and level `level`.
 */
export function batchAfter(
  file: string,
  last: { off: number; seq: number },
  n: number,
  lastFlags: number,
  event: { level: string; template: string },
): Buffer {
  const b = fs.readFileSync(file)
  const header = decodeSegmentHeader(b.subarray(0, SEGMENT_HEADER_BYTES))
  if ('problem' in header) throw new Error('bad header')
  const prevHash = Buffer.from(b.subarray(last.off + 32, last.off + 64))
  const parts = Array.from({ length: n }, (_, k) => {
    const payload = Buffer.from(
      JSON.stringify({ level: event.level, messageTemplate: `${event.template} {K}`, properties: { K: k } }),
    )
    const rec = Buffer.alloc(RECORD_HEADER_BYTES + payload.length)
    payload.copy(rec, RECORD_HEADER_BYTES)
    const flags = k === n - 1 ? lastFlags : 0
    sealRecord(
      rec,
      0,
      payload.length,
      RecordType.EVENT,
      flags,
      k,
      last.seq + 1 + k,
      Date.now(),
      prevHash,
      header.saltSeed,
      header.version,
    ).copy(prevHash)
    return rec
  })
  return Buffer.concat(parts)
}
