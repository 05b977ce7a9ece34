/**
 * Kill9DuringWrite: real processes, real SIGKILL. Each iteration is a fresh
 * directory and a few lives; each life is a child process (torture/
 * kill9-child.ts) that opens the sink there (recovering what the previous life
 * left) and emits from its main thread and a worker thread, reporting every
 * receipt over a pipe; the runner SIGKILLs it at a seeded instant: right after
 * the job is handed over, inside open/recovery, while emitting (small segments
 * in some lives: kills land during rotation), or inside close().
 *
 * After every kill the directory is checked as the next reboot finds it
 * (independent checker: every receipt present at its seq, intact, per-producer
 * order, lives in order, nothing never emitted); the next life's open must
 * recover exactly the committed log; after the last life the real recovery
 * runs in-process on the final state and is checked too.
 *
 * Fast, and still honest: children are started ahead (a warm spare, its node
 * startup, imports and second thread already done) while the previous life is
 * checked; every kill is a real SIGKILL of a real process mid-flight. The seed
 * fixes the schedule (modes, delays, sizes); where the instant lands inside the
 * process is up to the OS, so a replay repeats the schedule, not the exact
 * instruction.
 */

import { type ChildProcess, spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Ack, checkLog, parseWal } from '../checker.js'
import { recoverAndCheck } from '../crashcheck.js'
import { makeOracle } from '../events.js'
import type { Kill9Job } from '../kill9-child.js'
import { int, pick } from '../prng.js'
import { emptyResult, type IterCtx, type IterResult, note, type Scenario } from './common.js'

/** A life that has not reached its kill point by now is hung (the sink never settled, opened or closed). */
export const KILL9_LIFE_MS_MAX = 20_000

const CHILD = fileURLToPath(new URL('../kill9-child.js', import.meta.url))

interface Warm {
  proc: ChildProcess
  ready: Promise<boolean>
  onLine: ((line: string) => void) | undefined
  closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  stderr: string
}

function startChild(script: string): Warm {
  const proc = spawn(process.execPath, [script], { stdio: ['pipe', 'pipe', 'pipe'] })
  const w: Warm = {
    proc,
    ready: undefined as unknown as Promise<boolean>,
    onLine: undefined,
    closed: undefined as unknown as Warm['closed'],
    stderr: '',
  }
  let partial = ''
  let readyResolve!: (ok: boolean) => void
  w.ready = new Promise((resolve) => (readyResolve = resolve))
  proc.stdout!.setEncoding('utf8')
  proc.stdout!.on('data', (chunk: string) => {
    const text = partial + chunk
    const end = text.lastIndexOf('\n')
    if (end < 0) {
      partial = text
      return
    }
    partial = text.slice(end + 1)
    for (const line of text.slice(0, end).split('\n')) {
      if (line === 'W') readyResolve(true)
      else w.onLine?.(line)
    }
  })
  proc.stderr!.setEncoding('utf8')
  proc.stderr!.on('data', (d: string) => (w.stderr = (w.stderr + d).slice(-4000)))
  proc.stdin!.on('error', () => undefined) // the child may die before reading
  // 'close': gone, reaped, pipes drained. A line cut by the kill (no newline) is dropped.
  w.closed = new Promise((resolve) =>
    proc.on('close', (code, signal) => {
      readyResolve(false)
      resolve({ code, signal })
    }),
  )
  return w
}

/** Children of one script, one spare always starting while the current life runs. */
export class ChildPool {
  private spare: Warm | undefined
  constructor(private readonly script: string) {}
  take(): Warm {
    const w = this.spare ?? startChild(this.script)
    this.spare = startChild(this.script)
    return w
  }
  /** SIGKILL the spare and wait until it is reaped. */
  async close(): Promise<void> {
    const s = this.spare
    this.spare = undefined
    if (s !== undefined) {
      s.proc.kill('SIGKILL')
      await s.closed
    }
  }
}

export type Mode = 'early' | 'opening' | 'running' | 'closing'

export interface LifeOut {
  acks: Ack[]
  opened: { lastSeq: number; torn: number; tmp: number; zeros: number } | undefined
  finished: boolean
  /** No kill point within lifeMsMax: the guard killed it (an error, and not a kill of the schedule). */
  hung: boolean
  errors: string[]
  signal: NodeJS.Signals | null
  code: number | null
  stderr: string
}

/** One life: hand a warm child the job, SIGKILL it at the mode's point + delayMs, collect what it reported. */
export async function life(
  pool: ChildPool,
  job: Kill9Job,
  mode: Mode,
  delayMs: number,
  lifeMsMax = KILL9_LIFE_MS_MAX,
): Promise<LifeOut> {
  const w = pool.take()
  const o: LifeOut = {
    acks: [],
    opened: undefined,
    finished: false,
    hung: false,
    errors: [],
    signal: null,
    code: null,
    stderr: '',
  }
  if (!(await w.ready)) {
    const c = await w.closed
    o.errors.push(`child died before it was ready: code ${c.code} ${c.signal}: ${w.stderr}`)
    return o
  }
  let timer: NodeJS.Timeout | undefined
  const killIn = (ms: number): void => {
    timer ??= setTimeout(() => w.proc.kill('SIGKILL'), ms)
  }
  w.onLine = (line) => {
    const c = line.charCodeAt(0)
    if (c === 65 /* A */) {
      const [, seq, p, n] = line.split(' ')
      o.acks.push({ seq: Number(seq), p: Number(p), n: Number(n) })
    } else if (line === 'O') {
      if (mode === 'opening') killIn(delayMs)
    } else if (c === 82 /* R */) {
      const [, lastSeq, torn, tmp, zeros] = line.split(' ')
      o.opened = { lastSeq: Number(lastSeq), torn: Number(torn), tmp: Number(tmp), zeros: Number(zeros ?? 0) }
      if (mode === 'running') killIn(delayMs)
    } else if (line === 'C') {
      if (mode === 'closing') killIn(delayMs)
    } else if (line === 'D') o.finished = true
    else o.errors.push(line.startsWith('E ') ? `emit rejected: ${line}` : `unexpected line: ${line}`)
  }
  w.proc.stdin!.end(`${JSON.stringify(job)}\n`)
  if (mode === 'early') killIn(delayMs)
  // Every mode reaches its kill point (or finishes) within moments; a life still
  // short of it after lifeMsMax is a hang in the sink, killed and failed.
  const guard = setTimeout(() => {
    if (timer === undefined) {
      o.hung = true
      o.errors.push(
        `hang: no ${mode === 'closing' ? 'close (every emit settled)' : mode === 'running' ? 'open' : 'kill point'} within ${lifeMsMax / 1000} s`,
      )
    }
    w.proc.kill('SIGKILL')
  }, lifeMsMax)
  const c = await w.closed
  clearTimeout(timer)
  clearTimeout(guard)
  o.signal = c.signal
  o.code = c.code
  o.stderr = w.stderr
  return o
}

function readWal(dir: string): Map<string, Buffer> {
  const m = new Map<string, Buffer>()
  if (!fs.existsSync(dir)) return m
  for (const n of fs.readdirSync(dir)) m.set(n, fs.readFileSync(path.join(dir, n)))
  return m
}

/** The scenario over children of `child` (tests pass a child that hangs, and a short lifeMsMax). */
export function makeKill9(o: { child?: string; lifeMsMax?: number } = {}): Scenario {
  const pool = new ChildPool(o.child ?? CHILD)
  const lifeMsMax = o.lifeMsMax ?? KILL9_LIFE_MS_MAX
  return {
    name: 'Kill9DuringWrite',
    description:
      'a real child process emitting from two threads is SIGKILLed at a random instant: before open, in open/recovery, while emitting and rotating, in close',
    async run(ctx: IterCtx): Promise<IterResult> {
      const r = emptyResult()
      const dir = path.join(ctx.workDir, 'wal')
      const salt = ctx.seed
      const oracle = makeOracle({ salt })
      const lives = ctx.quick ? 3 : 5
      const acked: Ack[] = []
      let committed = 0
      for (let l = 1; l <= lives; l++) {
        const mode = pick(ctx.rng, ['early', 'opening', 'opening', 'running', 'running', 'running', 'closing'] as const)
        const small = ctx.rng() < 0.6
        const delayMs =
          mode === 'early'
            ? int(ctx.rng, 0, 30)
            : mode === 'opening'
              ? int(ctx.rng, 0, 25)
              : mode === 'running'
                ? int(ctx.rng, 0, 80)
                : int(ctx.rng, 0, 6)
        const job: Kill9Job = {
          dir,
          p0: l * 4,
          salt,
          inflight: int(ctx.rng, 1, 2000),
          perThread: mode === 'closing' ? int(ctx.rng, 20, 600) : 50_000,
          opts: small
            ? {
                eventBytesMax: 1024,
                batchBytesMax: 4096,
                segmentBytesMax: 64 * 1024,
                ringBytes: pick(ctx.rng, [64 * 1024, 1024 * 1024]),
              }
            : { eventBytesMax: 4096 },
        }
        const where = `life ${l}/${lives} (${mode} +${delayMs} ms, ${small ? 'small segments' : 'default sizes'}, inflight ${job.inflight})`
        const L = await life(pool, job, mode, delayMs, lifeMsMax)
        if (!L.hung) note(r, `killed ${mode}`)
        if (L.signal === 'SIGKILL' && !L.hung) r.kills++
        if (L.finished) note(r, 'finished before the kill')
        if (L.errors.length > 0) {
          r.failures.push({ message: `${where}: ${L.errors[0]}`, detail: L.stderr })
          return r
        }
        if (L.signal !== 'SIGKILL' && !(L.finished && L.code === 0)) {
          r.failures.push({
            message: `${where}: the child died on its own (code ${L.code}, signal ${L.signal})`,
            detail: L.stderr,
          })
          return r
        }
        if (L.opened !== undefined) {
          if (L.opened.lastSeq !== committed)
            r.failures.push({
              message: `${where}: open recovered up to seq ${L.opened.lastSeq}, the log was committed up to ${committed}`,
            })
          if (L.opened.torn > 0) note(r, 'torn tails cut by the next open')
          if (L.opened.zeros > 0) note(r, 'zero tails cut by the next open')
          if (L.opened.tmp > 0) note(r, 'half-made segments removed by the next open')
        } else if (L.acks.length > 0) r.failures.push({ message: `${where}: receipts without an open` })
        acked.push(...L.acks)
        r.acked += L.acks.length
        // The directory exactly as the next boot finds it.
        const parsed = parseWal(readWal(dir))
        const c = checkLog(parsed, { oracle, acked, allowTail: true, epochOf: (p) => p >> 2 })
        r.crashStates++
        r.recovered += c.records
        if (!c.ok) r.failures.push({ message: `${where}: ${c.failures[0]}`, detail: c.failures.join(' | ') })
        if (parsed.records.length < committed)
          r.failures.push({ message: `${where}: the log shrank from ${committed} to ${parsed.records.length} records` })
        committed = parsed.records.length
        if (r.failures.length > 0) return r
      }
      // The real recovery, in-process, on the final state (the disk is not touched).
      const files = readWal(dir)
      if (files.size > 0) {
        const res = recoverAndCheck(new Map([[dir, files]]), dir, oracle, acked, { epochOf: (p) => p >> 2 })
        if (res.failures.length > 0)
          r.failures.push({
            message: `final recovery: ${res.failures[0]}`,
            state: { dir, files: new Map([[dir, files]]), acked, salt, epoch: 'p>>2' },
          })
        else if (res.records !== committed)
          r.failures.push({ message: `final recovery kept ${res.records} records, ${committed} were committed` })
      }
      return r
    },
    teardown: () => pool.close(),
  }
}

export const kill9: Scenario = makeKill9()
