// Running the built CLI as a child process, and the logs and damage the CLI tests use.
import fs from 'node:fs'
import path from 'node:path'
import { spawn, spawnSync } from 'node:child_process'
import { AuditSink, type AuditEvent } from '../../lib/index.js'
import { RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES } from '../../shared/format.js'

export const CLI = new URL('../../lib/cli/main.js', import.meta.url).pathname

export interface CliResult {
  code: number | null
  out: string
  err: string
}

export function cli(...args: string[]): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

export function cliAsync(...args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [CLI, ...args])
    let out = ''
    let err = ''
    c.stdout.on('data', (d) => (out += d))
    c.stderr.on('data', (d) => (err += d))
    c.on('close', (code) => resolve({ code, out, err }))
  })
}

/** Any built script as a child process (`node ...args`), env added to this process's, stdin closed. */
export function nodeAsync(
  args: string[],
  opts: { env?: Record<string, string>; cwd?: string } = {},
): Promise<CliResult> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, args, {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    c.stdout.on('data', (d) => (out += d))
    c.stderr.on('data', (d) => (err += d))
    c.on('close', (code) => resolve({ code, out, err }))
  })
}

export const SMALL = { segmentBytesMax: 64 * 1024, batchBytesMax: 8 * 1024, eventBytesMax: 4096 }

/** Write events in batches of `per` (each batch: one group commit at most), then close. */
export async function writeLog(
  dir: string,
  events: AuditEvent[],
  options: Record<string, unknown> = SMALL,
  per = 10,
): Promise<void> {
  const sink = await AuditSink.open({ dir, ...options })
  for (let i = 0; i < events.length; i += per) await Promise.all(events.slice(i, i + per).map((e) => sink.emit(e)))
  await sink.close()
}

/** Where every record of a (clean) log lives: segment, [offset, end), seq. */
export interface RecordSpot {
  segment: string
  offset: number
  end: number
  seq: number
}

export function recordSpots(dir: string): RecordSpot[] {
  const spots: RecordSpot[] = []
  for (const name of fs
    .readdirSync(dir)
    .filter((n) => n.endsWith('.wal'))
    .sort()) {
    const b = fs.readFileSync(path.join(dir, name))
    let off = SEGMENT_HEADER_BYTES
    while (off + RECORD_HEADER_BYTES <= b.length) {
      const len = b.readUInt32LE(off + 8)
      const seq = b.readUInt32LE(off + 16) + b.readUInt32LE(off + 20) * 2 ** 32
      spots.push({ segment: name, offset: off, end: off + RECORD_HEADER_BYTES + len, seq })
      off += RECORD_HEADER_BYTES + len
    }
  }
  return spots
}

export function segmentsOf(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((n) => n.endsWith('.wal'))
    .sort()
}

export function copyDir(from: string, to: string): void {
  fs.mkdirSync(to, { recursive: true })
  for (const n of fs.readdirSync(from)) fs.copyFileSync(path.join(from, n), path.join(to, n))
}

export function flipBit(file: string, offset: number, bit = 0): void {
  const b = fs.readFileSync(file)
  b[offset]! ^= 1 << bit
  fs.writeFileSync(file, b)
}

export function zeroRange(file: string, offset: number, bytes: number): void {
  const b = fs.readFileSync(file)
  b.fill(0, offset, Math.min(b.length, offset + bytes))
  fs.writeFileSync(file, b)
}

/** Seqs whose record bytes intersect [from, to) of segment. */
export function seqsHit(spots: RecordSpot[], segment: string, from: number, to: number): number[] {
  return spots.filter((s) => s.segment === segment && s.offset < to && s.end > from).map((s) => s.seq)
}

/** Expand LostRanges into a sorted seq list. */
export function lostSeqs(lost: { fromSeq: number; toSeq: number }[]): number[] {
  const out: number[] = []
  for (const r of lost) for (let s = r.fromSeq; s <= r.toSeq; s++) out.push(s)
  return out.sort((a, b) => a - b)
}

/** RFC 4180 parser (quoted fields, doubled quotes, CRLF or LF inside quotes), for checking our CSV. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = []
  let row: string[] = []
  let field = ''
  let i = 0
  let quoted = false
  while (i < text.length) {
    const c = text[i]!
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"'
        i += 2
        continue
      }
      if (c === '"') {
        quoted = false
        i++
        continue
      }
      field += c
      i++
      continue
    }
    if (c === '"' && field === '') {
      quoted = true
      i++
      continue
    }
    if (c === ',') {
      row.push(field)
      field = ''
      i++
      continue
    }
    if (c === '\r' && text[i + 1] === '\n') {
      row.push(field)
      rows.push(row)
      row = []
      field = ''
      i += 2
      continue
    }
    if (c === '"' || c === '\r' || c === '\n') throw new Error(`CSV: bare ${JSON.stringify(c)} at ${i} (not RFC 4180)`)
    field += c
    i++
  }
  if (field !== '' || row.length > 0) throw new Error('CSV: last row not terminated by CRLF')
  return rows
}
