/**
 * StaleLockRace: two or three real writer processes find the directory's lock
 * stale and race to take it over (issue 14, finding 4; the protocol and its
 * proof: shared/lock.ts, docs/operations.md "One writer"). The interleaving is
 * forced through the lock's own test seam (MTLOG_AUDIT_TEST_LOCK_GATE: a gated
 * writer stops right after it judged the lock stale, until the runner opens
 * the gate), and the seed picks it:
 *   together  every writer judged the lock stale; released at once
 *   late      one judged it stale and waits while another takes it and writes
 *   gap       one waits across a whole takeover and close by another, then a
 *             third opens; released, the waiting one links a free generation
 *   random    each writer gated or not, started after seeded delays, the gate
 *             opened after a seeded delay (possibly before anyone reached it)
 * over a seeded stale lock (a dead pid, a live pid with another start time, a
 * malformed body; at LOCK or at a higher generation) and a log that is new or
 * already holds events.
 *
 * Checked: exactly one writer holds the lock at a time (while one holds it,
 * every other open is refused with ERR_AUDIT_LOCKED; no other error), no emit
 * fails, no seq is in two receipts, and the log (independent checker,
 * torture/checker.ts) holds every receipt's event at its seq, byte for byte,
 * and nothing never emitted; verifyLog agrees; no lock file is left behind.
 */

import { type ChildProcess, spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { AuditSink, verifyLog } from '../../lib/index.js'
import { type Ack, checkLog, parseWal } from '../checker.js'
import { makeOracle } from '../events.js'
import { int, pick, type Rng } from '../prng.js'
import { emptyResult, type IterCtx, type IterResult, note, type Scenario } from './common.js'

const CHILD = fileURLToPath(new URL('../lock-race-child.js', import.meta.url))
const GATE_ENV = 'MTLOG_AUDIT_TEST_LOCK_GATE'
/** Hang guard for one awaited message of a writer (a hang is a failure, never a wait for ever). */
const MESSAGE_MS_MAX = 60_000
/** The producer number of the events a log already holds before the race. */
const PRIOR_P = 99

type Pattern = 'together' | 'late' | 'gap' | 'random'

/** A writer process and the lines it said. */
class Writer {
  readonly proc: ChildProcess
  readonly acks: Ack[] = []
  readonly errors: string[] = []
  private readonly inbox: string[] = []
  private wake: (() => void) | undefined
  exited = false
  stderr = ''

  constructor(
    readonly p: number,
    dir: string,
    salt: number,
    gate: string | undefined,
  ) {
    const env = { ...process.env }
    delete env[GATE_ENV]
    if (gate !== undefined) env[GATE_ENV] = gate
    this.proc = spawn(process.execPath, [CHILD, dir, String(p), String(salt)], { env, stdio: ['pipe', 'pipe', 'pipe'] })
    createInterface({ input: this.proc.stdout! }).on('line', (l) => {
      const [k, a, b, c] = l.split(' ')
      if (k === 'A') this.acks.push({ seq: Number(a), p: Number(b), n: Number(c) })
      else if (k === 'E') this.errors.push(`emit rejected with ${a}`)
      else this.inbox.push(l)
      this.wake?.()
    })
    // A writer that was refused exits at once: a line sent to it then is lost, not an error of the runner.
    this.proc.stdin!.on('error', () => undefined)
    this.proc.stderr!.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-4000)))
    this.proc.once('exit', () => {
      this.exited = true
      this.wake?.()
    })
  }

  /** The next status line (O, X, F, D); throws when the writer exits without one or the hang guard fires. */
  async next(): Promise<string> {
    const until = performance.now() + MESSAGE_MS_MAX
    for (;;) {
      const m = this.inbox.shift()
      if (m !== undefined) return m
      if (this.exited) throw new Error(`writer p${this.p} exited without a message (stderr: ${this.stderr.trim()})`)
      if (performance.now() > until) throw new Error(`writer p${this.p} said nothing for ${MESSAGE_MS_MAX} ms`)
      await new Promise<void>((r) => {
        this.wake = r
        setTimeout(r, 100)
      })
    }
  }

  async emit(k: number): Promise<void> {
    this.proc.stdin!.write(`emit ${k}\n`)
    const m = await this.next()
    if (m !== 'F') throw new Error(`writer p${this.p}: "${m}" instead of the end of its emits`)
  }

  async close(): Promise<void> {
    this.proc.stdin!.write('close\n')
    const m = await this.next()
    if (m !== 'D') throw new Error(`writer p${this.p}: "${m}" instead of closed`)
  }

  /** Wait for the process to end; one still running is told to close, and killed after the hang guard. */
  async finish(): Promise<void> {
    if (this.exited) return
    this.proc.stdin!.write('close\n')
    const ended = new Promise((res) => this.proc.once('exit', res))
    await Promise.race([ended, sleep(MESSAGE_MS_MAX)])
    this.kill()
  }

  kill(): void {
    if (!this.exited) this.proc.kill('SIGKILL')
  }
}

const lockFiles = (dir: string): string[] => fs.readdirSync(dir).filter((n) => n === 'LOCK' || n.startsWith('LOCK.'))

/** A stale lock file: a dead pid, this pid with another start time, or a body no writer wrote. */
function staleLock(rng: Rng, deadPid: number): { body: string; kind: string } {
  const kind = pick(rng, ['dead', 'restarted', 'malformed'] as const)
  const host = os.hostname()
  if (kind === 'dead') return { kind, body: JSON.stringify({ pid: deadPid, start: '1', token: 'stale', host }) }
  if (kind === 'restarted') return { kind, body: JSON.stringify({ pid: process.pid, start: '1', token: 'stale', host }) }
  return { kind, body: pick(rng, ['{}', 'null', '[]', '']) }
}

async function pausedAtGate(gate: string, ws: Writer[]): Promise<void> {
  const until = performance.now() + MESSAGE_MS_MAX
  while (!ws.every((w) => fs.existsSync(path.join(gate, `paused-${w.proc.pid}`)))) {
    const gone = ws.find((w) => w.exited)
    if (gone !== undefined) throw new Error(`writer p${gone.p} exited before the gate (stderr: ${gone.stderr.trim()})`)
    if (performance.now() > until) throw new Error('the writers did not reach the gate')
    await new Promise((r) => setTimeout(r, 5))
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** An open's outcome: the writer holds the lock ('O'), or was refused (the code). */
async function outcome(w: Writer): Promise<'O' | string> {
  const m = await w.next()
  if (m.startsWith('O ')) return 'O'
  if (m.startsWith('X ')) return m.slice(2)
  throw new Error(`writer p${w.p}: "${m}" instead of an open's outcome`)
}

export const lockRace: Scenario = {
  name: 'StaleLockRace',
  description:
    'two or three real processes find the lock stale and race for it (interleavings forced through the lock seam): one wins, the others get ERR_AUDIT_LOCKED, no seq is given twice',
  async run(ctx: IterCtx): Promise<IterResult> {
    const r = emptyResult()
    const dir = path.join(ctx.workDir, 'wal')
    const gate = path.join(ctx.workDir, 'gate')
    fs.mkdirSync(gate)
    const salt = ctx.seed
    const oracle = makeOracle({ salt })
    const acked: Ack[] = []
    // A log that already holds events, or a new one.
    const prior = pick(ctx.rng, [0, 0, int(ctx.rng, 1, 30)])
    const sink = await AuditSink.open({ dir })
    const receipts = await Promise.all(Array.from({ length: prior }, (_, n) => sink.emit(oracle.event(PRIOR_P, n))))
    receipts.forEach((x, n) => acked.push({ seq: x.seq, p: PRIOR_P, n }))
    await sink.close()
    // A writer of this iteration that is gone: its pid is dead (or reused, and then its start time differs).
    const dead = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' })
    await new Promise((res) => dead.once('exit', res))
    const stale = staleLock(ctx.rng, dead.pid!)
    const generation = pick(ctx.rng, [0, 0, int(ctx.rng, 1, 5)])
    fs.writeFileSync(path.join(dir, generation === 0 ? 'LOCK' : `LOCK.${generation}`), stale.body)
    const pattern = pick(ctx.rng, ['together', 'late', 'gap', 'random'] as const satisfies readonly Pattern[])
    const count = pattern === 'gap' ? 3 : int(ctx.rng, 2, 3)
    const emits = (): number => int(ctx.rng, 1, ctx.quick ? 200 : 2000)
    const where = `${pattern}, ${count} writers, stale ${stale.kind} lock at generation ${generation}, ${prior} events before`
    note(r, `${pattern} races`)
    const ws: Writer[] = []
    const start = (p: number, gated: boolean): Writer => {
      const w = new Writer(p, dir, salt, gated ? gate : undefined)
      ws.push(w)
      return w
    }
    const refused = (code: string, who: Writer, when: string): void => {
      if (code !== 'ERR_AUDIT_LOCKED')
        r.failures.push({ message: `${where}: writer p${who.p} ${when}: open failed with ${code}, not ERR_AUDIT_LOCKED` })
      else note(r, 'opens refused with ERR_AUDIT_LOCKED')
    }
    try {
      if (pattern === 'together' || pattern === 'random') {
        const gated = Array.from({ length: count }, () => pattern === 'together' || ctx.rng() < 0.5)
        for (let p = 0; p < count; p++) {
          start(p, gated[p]!)
          if (pattern === 'random') await sleep(int(ctx.rng, 0, 30))
        }
        if (pattern === 'together') await pausedAtGate(gate, ws)
        else await sleep(int(ctx.rng, 0, 100))
        fs.writeFileSync(path.join(gate, 'open'), '')
        // Nobody closes before every writer has its outcome: exactly one may hold the lock.
        const outs = await Promise.all(ws.map(outcome))
        const winners = ws.filter((_, i) => outs[i] === 'O')
        if (winners.length !== 1) {
          r.failures.push({ message: `${where}: ${winners.length} writers opened (outcomes ${outs.join(', ')}); exactly one must` })
          return r
        }
        ws.forEach((w, i) => outs[i] !== 'O' && refused(outs[i]!, w, 'while another held the lock'))
        await winners[0]!.emit(emits())
        await winners[0]!.close()
      } else if (pattern === 'late') {
        const b = start(0, true)
        await pausedAtGate(gate, [b])
        const a = start(1, false)
        const oa = await outcome(a)
        if (oa !== 'O') {
          r.failures.push({ message: `${where}: the writer that found only a stale lock was refused (${oa})` })
          return r
        }
        await a.emit(emits())
        if (count === 3) refused(await outcome(start(2, false)), ws[2]!, 'while A held the lock')
        fs.writeFileSync(path.join(gate, 'open'), '')
        refused(await outcome(b), b, 'released from the gate while A held the lock')
        await a.emit(emits())
        await a.close()
      } else {
        const b = start(0, true)
        await pausedAtGate(gate, [b])
        const a = start(1, false)
        if ((await outcome(a)) !== 'O') {
          r.failures.push({ message: `${where}: the writer that found only a stale lock was refused` })
          return r
        }
        await a.emit(emits())
        await a.close()
        const c = start(2, false)
        if ((await outcome(c)) !== 'O') {
          r.failures.push({ message: `${where}: a writer that found no lock was refused` })
          return r
        }
        fs.writeFileSync(path.join(gate, 'open'), '')
        refused(await outcome(b), b, 'released from the gate while C held the lock')
        await c.emit(emits())
        await c.close()
      }
      // Every writer is done; one that opened when it should not have still runs: close it (bounded).
      await Promise.all(ws.map((w) => w.finish()))
    } catch (err) {
      r.failures.push({ message: `${where}: ${(err as Error).message}` })
      return r
    } finally {
      for (const w of ws) w.kill()
    }
    for (const w of ws) {
      if (w.errors.length > 0) r.failures.push({ message: `${where}: writer p${w.p}: ${w.errors[0]}` })
      acked.push(...w.acks)
    }
    r.acked = acked.length
    // No seq in two receipts.
    const bySeq = new Map<number, Ack>()
    for (const a of acked) {
      const other = bySeq.get(a.seq)
      if (other !== undefined)
        r.failures.push({ message: `${where}: seq ${a.seq} was given to p${other.p} n${other.n} and to p${a.p} n${a.n}` })
      bySeq.set(a.seq, a)
    }
    // The log holds every receipt's event at its seq, and nothing never emitted.
    const files = new Map<string, Buffer>()
    for (const n of fs.readdirSync(dir)) if (n.endsWith('.wal')) files.set(n, fs.readFileSync(path.join(dir, n)))
    const c = checkLog(parseWal(files), { oracle, acked, allowTail: false })
    r.crashStates++
    r.recovered += c.records
    if (!c.ok) r.failures.push({ message: `${where}: ${c.failures[0]}`, detail: c.failures.join(' | ') })
    const v = await verifyLog(dir)
    if (!v.ok) r.failures.push({ message: `${where}: verifyLog: ${v.firstBad?.message}` })
    const left = lockFiles(dir)
    if (left.length > 0) r.failures.push({ message: `${where}: lock files left behind: ${left.join(', ')}` })
    return r
  },
}
