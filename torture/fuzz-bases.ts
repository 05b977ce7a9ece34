/**
 * The logs the Fuzz scenario mutates: a handful of real logs written with the
 * public API (AuditSink.open / emit / close), built once per process and kept
 * as bytes in memory.
 *
 *   closed      one segment, closed cleanly (sealed)
 *   rotated     several segments (small segmentBytesMax), closed (sealed)
 *   reopened    three open/emit/close lives: three segments, each sealed
 *   crashed     a closed life, then a life SIGKILLed after its acks: the last
 *               segment is unsealed and ends in zero-ahead space
 *   crash-only  one life SIGKILLed: a single unsealed segment
 *   state-*     the raw PowerLoss crash states kept in
 *               test/fixtures/torture-states (torn tails; MTLOG_FUZZ_STATES,
 *               else that path under the working directory), as they are
 *   healed-*    the same states opened (cut, gap record, seal), emitted to
 *               and closed: logs that hold gap records
 *
 * A base is kept only when it is a valid log by the torture walker
 * (torture/walker.ts) and verifyLog agrees with the walker on its last seq;
 * the oracle (torture/fuzz.ts) judges every mutation against these bytes.
 * Event contents are a pure function of (base seed, n); batch boundaries
 * depend on timing, so a replay rebuilds similar, not identical, bases
 * (set MTLOG_FUZZ_BASES to a directory to keep and reuse exact ones).
 */

import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { AuditSink, verifyLog } from '../lib/index.js'
import { int, mulberry32 } from './prng.js'
import { parseWal } from './walker.js'

export interface Base {
  name: string
  /** The directory's files as they were (name → bytes). */
  files: Map<string, Buffer>
}

const SEGMENT_BYTES = 64 * 1024
const BATCH_BYTES = 4096
const EVENT_BYTES = 2048

/** The event n of a base seeded with seed. */
export function fuzzEvent(seed: number, n: number, padMax: number) {
  const r = mulberry32(seed * 7919 + n)
  const pad = int(r, 0, padMax)
  return {
    timestamp: 1_767_225_600_000 + n * 1000,
    level: 'Information' as const,
    messageTemplate: 'fuzz {n} by {user}',
    properties: { n, user: `u${int(r, 0, 99)}`, pad: 'é'.repeat(pad >> 1) + 'x'.repeat(pad - (pad >> 1)) },
  }
}

/** Emit count events in concurrent groups of 1-6 (so batches hold several records). */
export async function emitGroups(sink: AuditSink, seed: number, count: number, from = 0, padMax = 300): Promise<void> {
  const rng = mulberry32(seed)
  let n = from
  while (n < from + count) {
    const k = Math.min(int(rng, 1, 6), from + count - n)
    const group: Promise<unknown>[] = []
    for (let i = 0; i < k; i++) group.push(sink.emit(fuzzEvent(seed, n++, padMax)))
    await Promise.all(group)
  }
}

async function life(dir: string, seed: number, count: number, from: number, padMax = 300): Promise<void> {
  const sink = await AuditSink.open({
    dir,
    segmentBytesMax: SEGMENT_BYTES,
    batchBytesMax: BATCH_BYTES,
    eventBytesMax: EVENT_BYTES,
  })
  try {
    await emitGroups(sink, seed, count, from, padMax)
  } finally {
    await sink.close()
  }
}

/** A life in a child process, SIGKILLed once every emit resolved. */
async function crashLife(dir: string, seed: number, count: number): Promise<void> {
  const child = spawn(
    process.execPath,
    [
      fileURLToPath(new URL('./fuzz-crash-child.js', import.meta.url)),
      dir,
      String(seed),
      String(count),
      String(SEGMENT_BYTES),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  await new Promise<void>((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      if (out.includes('A\n')) {
        child.kill('SIGKILL')
        resolve()
      }
    })
    child.on('exit', (code, signal) => {
      if (!out.includes('A\n')) reject(new Error(`fuzz crash child exited (${code ?? signal}) before its acks`))
    })
  })
  await new Promise((resolve) =>
    child.exitCode !== null || child.signalCode !== null ? resolve(0) : child.once('exit', resolve),
  )
}

function readFiles(dir: string): Map<string, Buffer> {
  const m = new Map<string, Buffer>()
  for (const name of fs.readdirSync(dir).sort()) {
    const p = path.join(dir, name)
    if (fs.lstatSync(p).isFile()) m.set(name, fs.readFileSync(p))
  }
  return m
}

function writeFiles(dir: string, files: Map<string, Buffer>): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
  for (const [n, b] of files) fs.writeFileSync(path.join(dir, n), b, { mode: 0o600 })
}

/**
 * The PowerLoss crash states: MTLOG_FUZZ_STATES, else test/fixtures/torture-states
 * under the working directory (a checkout); the package does not ship them.
 */
function statesDir(): string {
  return process.env.MTLOG_FUZZ_STATES ?? path.resolve('test/fixtures/torture-states')
}

/** The PowerLoss crash states of test/fixtures (one WAL directory each, no mirror); none when not shipped. */
function fixtureStates(): { name: string; files: Map<string, Buffer> }[] {
  const STATES = statesDir()
  if (!fs.existsSync(STATES)) return []
  const out: { name: string; files: Map<string, Buffer> }[] = []
  for (const f of fs.readdirSync(STATES).sort()) {
    if (!f.includes('PowerLoss')) continue
    const w = JSON.parse(fs.readFileSync(path.join(STATES, f), 'utf8')) as {
      files: Record<string, Record<string, string>>
    }
    const dirs = Object.keys(w.files)
    if (dirs.length !== 1) continue
    const files = new Map(Object.entries(w.files[dirs[0]!]!).map(([n, b]) => [n, Buffer.from(b, 'base64')]))
    out.push({ name: f.replace(/^torture-PowerLoss-|\.state\.json$/g, ''), files })
  }
  return out
}

/** Build the bases under root (or load them from MTLOG_FUZZ_BASES when it holds them). */
export async function buildBases(root: string, log: (l: string) => void = () => {}): Promise<Base[]> {
  const keep = process.env.MTLOG_FUZZ_BASES
  if (keep !== undefined && fs.existsSync(keep) && fs.readdirSync(keep).length > 0) {
    return fs
      .readdirSync(keep)
      .sort()
      .map((name) => ({ name, files: readFiles(path.join(keep, name)) }))
  }
  const made: Base[] = []
  const add = async (name: string, build: (dir: string) => Promise<void>): Promise<void> => {
    const dir = path.join(root, name)
    await build(dir)
    const files = readFiles(dir)
    const p = parseWal(files)
    const v = await verifyLog(dir)
    if ((p.problem !== undefined && !p.problem.tail) || !v.ok || (v.lastSeq ?? 0) !== p.lastSeq) {
      log(
        `fuzz: base ${name} left out: walker ${p.problem?.what ?? 'ok'} at seq ${p.lastSeq}, verify ${v.ok ? 'ok' : v.firstBad?.message} at ${v.lastSeq}`,
      )
      return
    }
    made.push({ name, files })
  }
  await add('closed', (d) => life(d, 1, 40, 0))
  await add('rotated', (d) => life(d, 2, 150, 0, 1200))
  await add('reopened', async (d) => {
    for (let i = 0; i < 3; i++) await life(d, 3, 15, i * 15)
  })
  await add('crashed', async (d) => {
    await life(d, 4, 20, 0)
    await crashLife(d, 5, 30)
  })
  await add('crash-only', (d) => crashLife(d, 6, 30))
  for (const s of fixtureStates()) {
    await add(`state-${s.name}`, async (d) => writeFiles(d, s.files))
    await add(`healed-${s.name}`, async (d) => {
      writeFiles(d, s.files)
      await life(d, 7, 5, 1000)
    })
  }
  if (keep !== undefined) for (const b of made) writeFiles(path.join(keep, b.name), b.files)
  return made
}
