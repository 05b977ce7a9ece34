// Directories and sinks a test file makes, so one test.after can remove and
// destroy them all, even after a failed assertion left a sink open.
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { AuditSink, type AuditSinkOptions } from '../../lib/index.js'

export function tracked(label: string) {
  const dirs: string[] = []
  const sinks: AuditSink[] = []
  return {
    freshDir(): string {
      const d = mkdtempSync(path.join(os.tmpdir(), `mtlog-audit-${label}-`))
      dirs.push(d)
      return d
    },
    async openSink(o: AuditSinkOptions): Promise<AuditSink> {
      const s = await AuditSink.open(o)
      sinks.push(s)
      return s
    },
    async cleanup(): Promise<void> {
      await Promise.allSettled(sinks.map((s) => s.destroy()))
      for (const d of dirs) rmSync(d, { recursive: true, force: true })
    },
  }
}
