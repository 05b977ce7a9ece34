/**
 * What recover copies byte for byte, and what it keeps from the input when it
 * re-seals: a segment salvage found clean is copied as it is (same salt, same
 * hashes) when the output stays valid with it there (copyable), and the
 * input's log id goes into every re-sealed header (inputLogId).
 */

import type fs from 'node:fs/promises'
import path from 'node:path'
import { decodeSegmentHeader, RecordFlag, SEGMENT_HEADER_BYTES } from '../../shared/format.js'
import { openRegular } from '../../shared/files.js'
import { recordView, type SalvageItem, type SegmentResult, storedHash } from '../read/index.js'
import type { WalRewriter } from './rewrite.js'

/**
 * Can this segment be copied byte for byte? It must be clean (every record
 * intact, tiling the file, nothing lost), follow only raw copies, and keep the
 * output valid where it lands: a v2 segment must be sealed (it may get a
 * successor, and an unsealed last segment of the input is re-sealed instead);
 * a v1 segment may only precede v2 ones; a v2 segment must carry the
 * output's log id.
 */
export function copyable(writer: WalRewriter, seg: SegmentResult): boolean {
  if (!seg.clean || seg.header === undefined) return false
  const version = seg.header.readUInt16LE(8)
  if (!writer.canCopyRaw(version)) return false
  if (version === 1) return true
  // A segment of another log (a CRC-valid header whose log id differs) is re-sealed under the output's.
  const h = decodeSegmentHeader(seg.header)
  if ('problem' in h || !h.logId.equals(writer.logId)) return false
  const last = seg.lastRecord
  return last !== undefined && (last.flags & RecordFlag.SEALED) !== 0
}

/**
 * Copy a copyable segment as it is; returns the last seq it holds (undefined for a header-only one).
 * The records are read one at a time from salvage's open copies while they are written: each is lent
 * from the copy's window (recordView, checked as walkPlan yields it) and written or copied before the
 * next is read, so no record is copied on its own.
 */
export async function copyRaw(
  writer: WalRewriter,
  seg: SegmentResult,
  /** Called with each item as the walk meets it (its records are counted while they are copied). */
  onItem: (it: SalvageItem) => void = () => {},
): Promise<number | undefined> {
  const last = seg.lastRecord
  await writer.rawSegment(
    seg.name,
    seg.header!,
    (function* () {
      for (const it of seg.items) {
        onItem(it)
        if (it.kind === 'record') yield recordView(it.rec)
      }
    })(),
    last === undefined
      ? undefined
      : { seq: last.seq, lastSeq: last.lastSeq, type: last.type, flags: last.flags, hash: storedHash(last) },
    seg.nameSeq,
  )
  return last?.lastSeq
}

/** The input's log id: from the first intact v2 segment header of either copy (undefined for a v1 log). */
export async function inputLogId(dirs: string[], lists: { segments: string[] }[]): Promise<Buffer | undefined> {
  for (let d = 0; d < dirs.length; d++) {
    for (const name of lists[d]!.segments) {
      const head = await readHead(path.join(dirs[d]!, name))
      if (head === undefined) continue
      const h = decodeSegmentHeader(head)
      if (!('problem' in h) && h.version !== 1) return h.logId
    }
  }
  return undefined
}

/** The first SEGMENT_HEADER_BYTES of a regular file, or undefined when it cannot be read (salvage reports why). */
async function readHead(file: string): Promise<Buffer | undefined> {
  let fh: fs.FileHandle
  try {
    fh = await openRegular(file, 'r')
  } catch {
    return undefined
  }
  try {
    const b = Buffer.alloc(SEGMENT_HEADER_BYTES)
    const { bytesRead } = await fh.read(b, 0, b.length, 0)
    return b.subarray(0, bytesRead)
  } catch {
    return undefined
  } finally {
    await fh.close()
  }
}
