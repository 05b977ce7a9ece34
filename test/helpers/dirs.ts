// Temporary WAL directories for tests, removed when the test process exits.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

const made: string[] = []
process.on('exit', () => {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true })
})

export function tempDir(label: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `mtlog-audit-${label}-`))
  made.push(d)
  return d
}

/** Names in a directory, sorted. */
export function ls(dir: string): string[] {
  return fs.readdirSync(dir).sort()
}

/** Snapshot of every file's bytes in a directory (to prove "changes nothing"). */
export function snapshot(dir: string): Map<string, Buffer> {
  const m = new Map<string, Buffer>()
  for (const n of ls(dir)) m.set(n, fs.readFileSync(path.join(dir, n)))
  return m
}

export const ev = (i: number, extra: Record<string, unknown> = {}) => ({
  level: 'Information' as const,
  messageTemplate: 'User {UserId} accessed record {RecordId}',
  properties: { UserId: `u-${i}`, RecordId: `r-${i}`, ...extra },
})

/** Path of the compiled fault-injecting storage module. */
export const FAULTY = new URL('../../torture/faulty-storage.js', import.meta.url).pathname
