/**
 * One life of Kill9DuringWrite: a warm child process (torture/kill9-child.ts,
 * node startup, imports and the second producer thread already done) is handed
 * its job, reports receipts and its open over a pipe, and is SIGKILLed at the
 * mode's point + a delay. A life that reaches no kill point within
 * KILL9_LIFE_MS_MAX is a hang: the guard kills it, and that kill is not one of
 * the schedule.
 */

import { type ChildProcess, spawn } from 'node:child_process'
import type { Ack } from '../checker.js'
import type { Kill9Job } from '../kill9-child.js'

/** A life that has not reached its kill point by now is hung (the sink never settled, opened or closed). */
export const KILL9_LIFE_MS_MAX = 20_000

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
  opened:
    | {
        lastSeq: number
        torn: number
        tmp: number
        zeros: number
        resumedSeq: number
        gap: { fromSeq: number; toSeq: number } | undefined
      }
    | undefined
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
      const [, lastSeq, torn, tmp, zeros, resumed, gapFrom, gapTo] = line.split(' ')
      o.opened = {
        lastSeq: Number(lastSeq),
        torn: Number(torn),
        tmp: Number(tmp),
        zeros: Number(zeros),
        resumedSeq: Number(resumed),
        gap: gapFrom === '-' || gapFrom === undefined ? undefined : { fromSeq: Number(gapFrom), toSeq: Number(gapTo) },
      }
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
