/**
 * Exact replay of a failed crash-state check. The seed replays an iteration's
 * schedule; what it cannot pin down is thread timing inside the real writer
 * (which records share a group-commit batch) and where a SIGKILL lands. So the
 * runner also writes the exact state that failed — the files a reboot found,
 * the receipts acknowledged at that instant, the oracle's salt — and
 * `mtlog-audit torture --check-state <file>` re-runs that one check
 * (the real recovery, then the checker) byte for byte; for a state with a
 * mirror, the recovery of both copies and their reconcile, as open() runs them.
 */

import fs from 'node:fs'
import path from 'node:path'
import { dirFiles, recoverAndCheck, recoverMirroredAndCheck } from './crashcheck.js'
import { device } from './seqs.js'
import { makeOracle } from './events.js'
import type { StateEvidence } from './scenarios/common.js'
import { type Files, filesFromWire } from './sim-fs.js'

interface Wire {
  scenario: string
  seed: number
  message: string
  dir: string
  mirror?: string
  files: Record<string, Record<string, string>>
  acked: StateEvidence['acked']
  earlier?: Record<string, Record<string, string>>[]
  salt: number
  clock?: StateEvidence['clock']
  epoch?: StateEvidence['epoch']
}

export function writeEvidence(
  outDir: string,
  scenario: string,
  seed: number,
  message: string,
  e: StateEvidence,
): string {
  const files = toWire(e.files)
  const w: Wire = {
    scenario,
    seed,
    message,
    dir: e.dir,
    mirror: e.mirror,
    files,
    acked: e.acked,
    earlier: e.earlier?.map(toWire),
    salt: e.salt,
    clock: e.clock,
    epoch: e.epoch,
  }
  fs.mkdirSync(outDir, { recursive: true })
  const file = path.join(outDir, `torture-${scenario}-${seed}.state.json`)
  fs.writeFileSync(file, JSON.stringify(w))
  return file
}

/** Re-run the recovery and the check of a saved state; returns the failures (empty: it passes now). */
export function checkEvidence(file: string): {
  scenario: string
  seed: number
  message: string
  failures: string[]
  records: number
} {
  const w = JSON.parse(fs.readFileSync(file, 'utf8')) as Wire
  const files = fromWire(w.files)
  const history = (w.earlier ?? []).map((f) => device(dirFiles(fromWire(f), w.dir)))
  const oracle = makeOracle({ salt: w.salt, clock: w.clock })
  const epochOf = w.epoch === 'p' ? (p: number) => p : w.epoch === 'p>>2' ? (p: number) => p >> 2 : undefined
  if (w.mirror !== undefined) {
    const m = recoverMirroredAndCheck(files, [w.dir, w.mirror], oracle, w.acked)
    const failures = m.refused === undefined ? m.failures : [`open refused: ${m.refused.code}: ${m.refused.message}`]
    return { scenario: w.scenario, seed: w.seed, message: w.message, failures, records: m.records }
  }
  const res = recoverAndCheck(files, w.dir, oracle, w.acked, epochOf ? { epochOf, history } : { history })
  return { scenario: w.scenario, seed: w.seed, message: w.message, failures: res.failures, records: res.records }
}

function toWire(f: Files): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {}
  for (const [d, m] of f) {
    out[d] = {}
    for (const [n, b] of m) out[d]![n] = b.toString('base64')
  }
  return out
}

function fromWire(w: Record<string, Record<string, string>>): Files {
  const wire: Record<string, Record<string, Uint8Array>> = {}
  for (const d of Object.keys(w)) {
    wire[d] = {}
    for (const [n, b64] of Object.entries(w[d]!)) wire[d]![n] = Buffer.from(b64, 'base64')
  }
  return filesFromWire(wire)
}
