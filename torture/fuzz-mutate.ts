/**
 * The mutations of the Fuzz scenario: seeded changes to a copy of a log
 * directory's files. Each mutation names what it did in words (the failure
 * report shows them), and the oracle (torture/fuzz.ts) judges the result from
 * the original bytes, never from what a reader says.
 *
 *   bytes:    bit flips, random byte runs, zeroed ranges and sectors, zeros to
 *             the end, truncation at any offset or at a record / batch
 *             boundary, emptied files, appended zeros or garbage
 *   records:  removed, duplicated or swapped record ranges (later bytes
 *             shift), CRC-valid edits of a record field (re-checksummed with
 *             the segment's salt: the hash chain still sees them), huge
 *             length fields
 *   headers:  bit flips, CRC-valid edits of one field (createdMs,
 *             batchBytesMax, firstSeq, chainStart, salt, logId, version)
 *   files:    removed, duplicated, renamed or reordered segments; stray files
 *             (empty or random segment-named files, .tmp, LOCK, side files,
 *             foreign names, a FIFO, a directory or a symlink named like a
 *             segment)
 */

import { crc32c } from '../shared/crc32c.js'
import type { Base } from './fuzz-bases.js'
import { int, pick, type Rng } from './prng.js'
import { type Parsed, parseHeader, parseWal, SEG_NAME } from './walker.js'

export type Entry =
  | { kind: 'file'; bytes: Buffer }
  | { kind: 'fifo' }
  | { kind: 'dir' }
  | { kind: 'symlink'; target: 'dev-zero' | 'outside' | 'segment' }

export interface Mutated {
  files: Map<string, Entry>
  /** What was done, in words (one line per mutation). */
  what: string[]
  /** The mutation kinds applied (for the counts). */
  kinds: string[]
}

/** A base with what the mutations and the oracle need to know about it. */
export interface BaseInfo {
  base: Base
  parsed: Parsed
  /** Per segment: offsets where a record ends, and where a batch (COMMIT) ends; the header end is in both. */
  recordEnds: Map<string, number[]>
  batchEnds: Map<string, number[]>
}

export function baseInfo(base: Base): BaseInfo {
  const parsed = parseWal(base.files)
  const recordEnds = new Map<string, number[]>()
  const batchEnds = new Map<string, number[]>()
  for (const s of parsed.segments) {
    const h = parsed.headers.get(s)
    recordEnds.set(s, [h?.bytes ?? 128])
    batchEnds.set(s, [h?.bytes ?? 128])
  }
  for (const r of parsed.records) {
    recordEnds.get(r.segment)!.push(r.end)
    if (r.flags & 1) batchEnds.get(r.segment)!.push(r.end)
  }
  return { base, parsed, recordEnds, batchEnds }
}

const KINDS = [
  'bit-flip',
  'byte-run',
  'truncate',
  'truncate-at-batch',
  'truncate-at-record',
  'zero-range',
  'zero-sector',
  'zero-to-end',
  'empty-file',
  'append',
  'remove-records',
  'dup-records',
  'swap-records',
  'record-edit-crc',
  'huge-length',
  'header-bit-flip',
  'header-edit-crc',
  'remove-segment',
  'dup-segment',
  'rename-segment',
  'reorder-segments',
  'stray-file',
] as const
export type Kind = (typeof KINDS)[number]
export const MUTATION_KINDS: readonly Kind[] = KINDS

function segNames(files: Map<string, Entry>): string[] {
  return [...files.keys()].filter((n) => SEG_NAME.test(n) && files.get(n)!.kind === 'file').sort()
}

function segName(seq: number): string {
  return `${String(seq).padStart(20, '0')}.wal`
}

/** Apply one mutation kind in place; false when it does not apply to these files. */
function apply(info: BaseInfo, files: Map<string, Entry>, rng: Rng, kind: Kind, what: string[]): boolean {
  const segs = segNames(files)
  if (segs.length === 0 && kind !== 'stray-file') return false
  // The last segment is chosen often: it is where tails and crashes live.
  const name = segs.length === 0 ? '' : rng() < 0.45 ? segs.at(-1)! : pick(rng, segs)
  const cur = (files.get(name) as { bytes: Buffer } | undefined)?.bytes ?? Buffer.alloc(0)
  const b = Buffer.from(cur)
  const set = (nb: Buffer, w: string): true => {
    files.set(name, { kind: 'file', bytes: nb })
    what.push(`${kind} ${name}: ${w}`)
    return true
  }
  const hdr = parseHeader(b)
  const hb = typeof hdr === 'string' ? 128 : hdr.bytes
  const recEnds = (info.recordEnds.get(name) ?? [hb]).filter((o) => o <= b.length)
  const batEnds = (info.batchEnds.get(name) ?? [hb]).filter((o) => o <= b.length)
  const at = (): number =>
    b.length === 0 ? 0 : rng() < 0.3 ? int(rng, 0, Math.min(b.length - 1, hb + 64)) : int(rng, 0, b.length - 1)
  switch (kind) {
    case 'bit-flip': {
      if (b.length === 0) return false
      const o = at()
      const bit = int(rng, 0, 7)
      b[o]! ^= 1 << bit
      return set(b, `offset ${o} bit ${bit}`)
    }
    case 'byte-run': {
      if (b.length === 0) return false
      const o = at()
      const n = Math.min(int(rng, 1, 64), b.length - o)
      for (let i = 0; i < n; i++) b[o + i] = int(rng, 0, 255)
      return set(b, `[${o}, ${o + n}) random`)
    }
    case 'truncate': {
      const o = int(rng, 0, b.length)
      return set(b.subarray(0, o), `to ${o} bytes`)
    }
    case 'truncate-at-batch':
    case 'truncate-at-record': {
      const ends = kind === 'truncate-at-batch' ? batEnds : recEnds
      if (ends.length === 0) return false
      const o = pick(rng, ends)
      return set(b.subarray(0, o), `to ${o} bytes`)
    }
    case 'zero-range': {
      if (b.length === 0) return false
      const o = at()
      const n = Math.min(int(rng, 1, 2048), b.length - o)
      b.fill(0, o, o + n)
      return set(b, `[${o}, ${o + n}) zeroed`)
    }
    case 'zero-sector': {
      if (b.length === 0) return false
      const o = int(rng, 0, (b.length - 1) >> 9) << 9
      b.fill(0, o, Math.min(o + 512, b.length))
      return set(b, `sector at ${o} zeroed`)
    }
    case 'zero-to-end': {
      const o = rng() < 0.5 && recEnds.length > 0 ? pick(rng, recEnds) + int(rng, 0, 80) : int(rng, 0, b.length)
      if (o >= b.length) return false
      b.fill(0, o)
      return set(b, `[${o}, ${b.length}) zeroed`)
    }
    case 'empty-file':
      return set(Buffer.alloc(0), 'emptied')
    case 'append': {
      const n = int(rng, 1, 3000)
      const garbage = rng() < 0.5
      const add = Buffer.alloc(n)
      if (garbage) for (let i = 0; i < n; i++) add[i] = int(rng, 0, 255)
      return set(Buffer.concat([b, add]), `${n} ${garbage ? 'random' : 'zero'} bytes appended`)
    }
    case 'remove-records':
    case 'dup-records':
    case 'swap-records': {
      if (recEnds.length < 2) return false
      const i = int(rng, 0, recEnds.length - 2)
      const j = Math.min(recEnds.length - 1, i + int(rng, 1, 3))
      const [x, y] = [recEnds[i]!, recEnds[j]!]
      if (kind === 'remove-records')
        return set(Buffer.concat([b.subarray(0, x), b.subarray(y)]), `[${x}, ${y}) removed`)
      if (kind === 'dup-records') {
        const to = pick(rng, recEnds)!
        return set(
          Buffer.concat([b.subarray(0, to), b.subarray(x, y), b.subarray(to)]),
          `[${x}, ${y}) copied in at ${to}`,
        )
      }
      if (j + 1 >= recEnds.length) return false
      const z = recEnds[j + 1]!
      return set(
        Buffer.concat([b.subarray(0, x), b.subarray(y, z), b.subarray(x, y), b.subarray(z)]),
        `[${x}, ${y}) and [${y}, ${z}) swapped`,
      )
    }
    case 'record-edit-crc':
    case 'huge-length': {
      if (typeof hdr === 'string' || recEnds.length < 2) return false
      const i = int(rng, 0, recEnds.length - 2)
      const o = recEnds[i]!
      const len = b.readUInt32LE(o + 8)
      const end = o + 64 + len
      if (end > b.length) return false
      let w: string
      if (kind === 'huge-length') {
        const v = pick(rng, [0xffffffff, 0x7fffffff, 64 * 1024 * 1024 + 1, len + int(rng, 1, 100000), 0])
        b.writeUInt32LE(v >>> 0, o + 8)
        w = `record at ${o}: length ${len} → ${v >>> 0}`
        if (rng() < 0.5) return set(b, `${w} (crc left)`)
        // Re-checksum what the new length covers, where it fits in the file.
        const ne = Math.min(b.length, o + 64 + (v >>> 0))
        b.writeUInt32LE(crc32c(b, hdr.seed, o + 8, ne), o + 4)
        return set(b, `${w} (crc over [${o + 8}, ${ne}))`)
      }
      const field = pick(rng, ['payload', 'timeMs', 'seq', 'type', 'flags', 'batchIndex'] as const)
      if (field === 'payload' && len > 0) {
        const p = o + 64 + int(rng, 0, len - 1)
        b[p] = b[p]! ^ (1 << int(rng, 0, 7))
      } else if (field === 'timeMs') b.writeUInt32LE((b.readUInt32LE(o + 24) + int(rng, 1, 1e6)) >>> 0, o + 24)
      else if (field === 'seq') b.writeUInt32LE((b.readUInt32LE(o + 16) + pick(rng, [1, -1, 2, 1000])) >>> 0, o + 16)
      else if (field === 'type') b[o + 12] = pick(rng, [1, 2, 3, 4, 5, 6, 255])
      else if (field === 'flags') b[o + 13] = pick(rng, [0, 1, 2, 3, 4, 0x80])
      else b.writeUInt16LE(int(rng, 0, 0xffff), o + 14)
      b.writeUInt32LE(crc32c(b, hdr.seed, o + 8, end), o + 4)
      return set(b, `record at ${o}: ${field} changed, crc re-computed`)
    }
    case 'header-bit-flip': {
      if (b.length === 0) return false
      const o = int(rng, 0, Math.min(b.length, hb) - 1)
      const bit = int(rng, 0, 7)
      b[o]! ^= 1 << bit
      return set(b, `header offset ${o} bit ${bit}`)
    }
    case 'header-edit-crc': {
      if (typeof hdr === 'string') return false
      const field = pick(rng, [
        'createdMs',
        'batchBytesMax',
        'firstSeq',
        'chainStart',
        'salt',
        'logId',
        'version',
      ] as const)
      if (field === 'createdMs') b.writeUInt32LE((b.readUInt32LE(24) + int(rng, 1, 1e9)) >>> 0, 24)
      else if (field === 'batchBytesMax') b.writeUInt32LE(pick(rng, [0, 1, 512, 4096, 0xffffffff]), 12)
      else if (field === 'firstSeq') b.writeUInt32LE((b.readUInt32LE(16) + pick(rng, [1, -1, 5])) >>> 0, 16)
      else if (field === 'chainStart') b[32 + int(rng, 0, 31)]! ^= 1 << int(rng, 0, 7)
      else if (field === 'salt') b[64 + int(rng, 0, 7)]! ^= 1 << int(rng, 0, 7)
      else if (field === 'logId') {
        if (hdr.version === 1) return false
        b[72 + int(rng, 0, 15)]! ^= 1 << int(rng, 0, 7)
      } else b.writeUInt16LE(pick(rng, [1, 2, 3, 0xffff]), 8)
      const crcAt = hdr.version === 1 ? 72 : 120
      b.writeUInt32LE(crc32c(b.subarray(0, crcAt)), crcAt)
      return set(b, `${field} changed, header crc re-computed`)
    }
    case 'remove-segment': {
      files.delete(name)
      what.push(`remove-segment ${name}`)
      return true
    }
    case 'dup-segment': {
      const last = segs.at(-1)!
      const lastSeq = info.parsed.lastSeq
      const to = pick(rng, [
        segName(lastSeq + 1),
        segName(Number(SEG_NAME.exec(last)![1]) + 1),
        segName(int(rng, 1, lastSeq + 5)),
      ])
      if (files.has(to)) return false
      files.set(to, { kind: 'file', bytes: cur })
      what.push(`dup-segment ${name} copied to ${to}`)
      return true
    }
    case 'rename-segment': {
      const seq = Number(SEG_NAME.exec(name)![1])
      const to = pick(rng, [
        `${name}.tmp`,
        `${name}.torn-1795457459568`,
        segName(seq + int(rng, 1, 50)),
        segName(Math.max(1, seq - int(rng, 1, 50))),
        name.toUpperCase().replace('.WAL', '.Wal'),
        `0${name}`,
      ])
      if (files.has(to)) return false
      files.delete(name)
      files.set(to, { kind: 'file', bytes: cur })
      what.push(`rename-segment ${name} → ${to}`)
      return true
    }
    case 'reorder-segments': {
      if (segs.length < 2) return false
      const [x, y] = [pick(rng, segs), pick(rng, segs)]
      if (x === y) return false
      const bx = files.get(x)!
      files.set(x, files.get(y)!)
      files.set(y, bx)
      what.push(`reorder-segments ${x} ⇄ ${y}`)
      return true
    }
    case 'stray-file': {
      const lastSeq = info.parsed.lastSeq
      const choice = int(rng, 0, 9)
      const seqName = segName(pick(rng, [lastSeq + 1, lastSeq + 200000, 1, int(rng, 1, lastSeq + 1), 99999999999]))
      let n: string
      let e: Entry
      if (choice === 0) [n, e] = [seqName, { kind: 'file', bytes: Buffer.alloc(0) }]
      else if (choice === 1) {
        const r = Buffer.alloc(int(rng, 1, 600))
        for (let i = 0; i < r.length; i++) r[i] = int(rng, 0, 255)
        if (rng() < 0.5) Buffer.from('MTLAWAL\0', 'latin1').copy(r)
        ;[n, e] = [seqName, { kind: 'file', bytes: r }]
      } else if (choice === 2) [n, e] = [`${seqName}.tmp`, { kind: 'file', bytes: cur }]
      else if (choice === 3)
        [n, e] = [
          'LOCK',
          { kind: 'file', bytes: Buffer.from(pick(rng, ['null', '{}', '[]', '42', '{"pid":1,"start":"x"}', ''])) },
        ]
      else if (choice === 4)
        [n, e] = [
          `${name || seqName}.torn-${int(rng, 1, 1e12)}`,
          { kind: 'file', bytes: cur.subarray(0, int(rng, 0, cur.length)) },
        ]
      else if (choice === 5)
        [n, e] = [
          pick(rng, ['notes.txt', '.hidden', 'wal', '1.wal', `${seqName}x`]),
          { kind: 'file', bytes: Buffer.from('hello') },
        ]
      else if (choice === 6) [n, e] = [seqName, { kind: 'fifo' }]
      else if (choice === 7) [n, e] = [seqName, { kind: 'dir' }]
      else if (choice === 8)
        [n, e] = [seqName, { kind: 'symlink', target: pick(rng, ['dev-zero', 'outside', 'segment'] as const) }]
      else [n, e] = [pick(rng, ['LOCK.1', 'LOCK', `${seqName}.tmp`]), { kind: 'fifo' }]
      if (files.has(n)) return false
      files.set(n, e)
      what.push(
        `stray-file ${n}: ${e.kind === 'file' ? `${e.bytes.length} bytes` : e.kind === 'symlink' ? `symlink to ${e.target}` : e.kind}`,
      )
      return true
    }
  }
}

/** One to three mutations of a copy of the base's files (the base is not changed). */
export function mutate(info: BaseInfo, rng: Rng): Mutated {
  const files = new Map<string, Entry>([...info.base.files].map(([n, b]) => [n, { kind: 'file', bytes: b }]))
  const what: string[] = []
  const kinds: string[] = []
  const count = rng() < 0.8 ? 1 : rng() < 0.75 ? 2 : 3
  for (let tries = 0; kinds.length < count && tries < 20; tries++) {
    const kind = pick(rng, KINDS)
    if (apply(info, files, rng, kind, what)) kinds.push(kind)
  }
  return { files, what, kinds }
}
