// One writer per directory (shared/lock.ts): the judgement of every kind of
// lock file in-process, then the races with REAL processes, forced through the
// lock's own test seam (MTLOG_AUDIT_TEST_LOCK_GATE: a writer waits right after
// it judged the lock stale). Waits are for conditions (bounded hang guards),
// never for a duration.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { DirLock, lockHolder, releaseLockFile, type LockReport } from '../../shared/lock.js'
import { FIXED } from '../../shared/limits.js'
import { AuditSink, readLog, verifyLog } from '../../lib/index.js'
import { ev, ls, tempDir } from '../helpers/dirs.js'
import { within } from '../helpers/load.js'

const CHILD = new URL('./lock-child.js', import.meta.url).pathname
const HANG_MS = 60_000

function codeOf(run: () => unknown): string {
  try {
    run()
  } catch (err) {
    return (err as { code?: string }).code ?? 'uncoded'
  }
  return 'no error'
}

/** The pid of a process that has exited: a lock naming it is stale. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' })
  return Number(r.stdout)
}

function staleBody(): string {
  return JSON.stringify({ pid: deadPid(), start: '1', token: 'stale-writer', host: os.hostname() })
}

const lockFiles = (dir: string): string[] => ls(dir).filter((n) => n === 'LOCK' || n.startsWith('LOCK.'))

// ── judgement, in-process ──────────────────────────────────────────────────────

test('a fresh directory: LOCK (generation 0) is taken, a second taker in this process is refused, release removes it', () => {
  const dir = tempDir('lock-fresh')
  const a = DirLock.acquire(dir)
  assert.equal(a.report, { dir, file: 'LOCK', replaced: [] })
  const e = (() => {
    try {
      DirLock.acquire(dir)
    } catch (err) {
      return err as { code: string; details: Record<string, unknown>; message: string }
    }
    throw new Error('second acquire succeeded')
  })()
  assert.is(e.code, 'ERR_AUDIT_LOCKED')
  assert.is(e.details.pid, process.pid)
  assert.match(e.message, /in this process/)
  assert.equal(lockHolder(dir), { pid: process.pid, host: os.hostname(), alive: true, file: 'LOCK' })
  a.release()
  a.release() // twice is safe
  assert.equal(lockFiles(dir), [])
  assert.is(lockHolder(dir), undefined)
  const b = DirLock.acquire(dir)
  assert.is(b.report.file, 'LOCK')
  b.release()
})

test('finding 15.10: a malformed lock file (null, {}, [], 42, empty, a bad pid, huge) is taken over and reported, never ERR_AUDIT_IO', () => {
  const huge = '{"pid":1,"pad":"' + 'x'.repeat(FIXED.lockFileBytesMax) + '"}'
  const bodies = [
    'null',
    '{}',
    '[]',
    '42',
    '',
    '{"pid":0,"start":null,"token":"t","host":"h"}',
    '{"pid":-1,"token":"t","host":"h"}',
    huge,
    '{"pid":1,',
  ]
  for (const body of bodies) {
    for (const name of ['LOCK', 'LOCK.7']) {
      const dir = tempDir('lock-malformed')
      fs.writeFileSync(path.join(dir, name), body)
      const l = DirLock.acquire(dir)
      const what = `${name} holding ${JSON.stringify(body.slice(0, 20))}`
      assert.is(l.report.file, name === 'LOCK' ? 'LOCK.1' : 'LOCK.8', what)
      assert.equal(l.report.replaced, [{ file: name, reason: 'malformed', pid: null }], what)
      assert.equal(lockFiles(dir), [l.report.file], `${what}: the malformed file is removed`)
      l.release()
      assert.equal(lockFiles(dir), [], what)
    }
  }
})

test('a lock of a dead process, or of a pid now used by another process, is taken over; one from another host is not', () => {
  const dir = tempDir('lock-stale')
  const dead = deadPid()
  fs.writeFileSync(path.join(dir, 'LOCK'), JSON.stringify({ pid: dead, start: '1', token: 'x', host: os.hostname() }))
  const a = DirLock.acquire(dir)
  assert.equal(a.report.replaced, [{ file: 'LOCK', reason: 'dead', pid: dead }])
  a.release()
  // This very pid, recorded with another start time: the process that wrote it is gone.
  fs.writeFileSync(
    path.join(dir, 'LOCK.4'),
    JSON.stringify({ pid: process.pid, start: '1', token: 'y', host: os.hostname() }),
  )
  const b = DirLock.acquire(dir)
  assert.equal(
    [b.report.file, b.report.replaced],
    ['LOCK.5', [{ file: 'LOCK.4', reason: 'restarted', pid: process.pid }]],
  )
  b.release()
  fs.writeFileSync(path.join(dir, 'LOCK'), JSON.stringify({ pid: dead, start: '1', token: 'z', host: 'another-host' }))
  assert.is(
    codeOf(() => DirLock.acquire(dir)),
    'ERR_AUDIT_LOCKED',
  )
  assert.equal(lockFiles(dir), ['LOCK'], 'a refused acquire leaves nothing behind')
})

test('a live lock file at any generation refuses, even below a stale one', () => {
  const dir = tempDir('lock-live-low')
  const live = DirLock.acquire(dir) // LOCK, this process
  fs.writeFileSync(path.join(dir, 'LOCK.9'), staleBody())
  assert.is(
    codeOf(() => DirLock.acquire(dir)),
    'ERR_AUDIT_LOCKED',
  )
  live.release()
  const next = DirLock.acquire(dir)
  assert.equal([next.report.file, next.report.replaced.map((r) => r.file)], ['LOCK.10', ['LOCK.9']])
  next.release()
})

test('finding 15.5: a lock file that is not a regular file (FIFO, directory, symlink) is refused with ERR_AUDIT_NOT_A_FILE', () => {
  for (const [name, make] of [
    ['LOCK', (p: string) => assert.is(spawnSync('mkfifo', [p]).status, 0)],
    ['LOCK.3', (p: string) => assert.is(spawnSync('mkfifo', [p]).status, 0)],
    ['LOCK.2', (p: string) => fs.mkdirSync(p)],
    ['LOCK', (p: string) => fs.symlinkSync('/dev/zero', p)],
  ] as const) {
    const dir = tempDir('lock-special')
    make(path.join(dir, name))
    assert.is(
      codeOf(() => DirLock.acquire(dir)),
      'ERR_AUDIT_NOT_A_FILE',
      name,
    )
  }
})

test('release removes only a lock file that still holds its token; a temp file left by a crash is removed by the next holder', () => {
  const dir = tempDir('lock-release')
  const a = DirLock.acquire(dir)
  releaseLockFile(a.file, 'not-the-token')
  assert.equal(lockFiles(dir), ['LOCK'])
  releaseLockFile(path.join(dir, 'LOCK.5'), a.token) // no such file: nothing happens
  a.release()
  assert.equal(lockFiles(dir), [])
  // A crash between writing the temp file and linking it leaves LOCK.<hex>.tmp.
  fs.writeFileSync(path.join(dir, 'LOCK.0123456789abcdef.tmp'), staleBody())
  const b = DirLock.acquire(dir)
  assert.equal(lockFiles(dir), ['LOCK'])
  b.release()
})

test('lock files are created with the mode asked for, whatever the umask', () => {
  const dir = tempDir('lock-mode')
  const old = process.umask(0)
  try {
    for (const fileMode of [0o600, 0o640]) {
      const l = DirLock.acquire(dir, { fileMode })
      assert.is(fs.statSync(l.file).mode & 0o777, fileMode)
      l.release()
    }
  } finally {
    process.umask(old)
  }
})

test('finding 15.10 through open(): a LOCK holding null is taken over and openReport.locks says so', async () => {
  const dir = tempDir('lock-open-null')
  fs.writeFileSync(path.join(dir, 'LOCK'), 'null')
  const sink = await AuditSink.open({ dir })
  const report = sink.openReport.locks[0]!
  assert.equal([report.file, report.replaced], ['LOCK.1', [{ file: 'LOCK', reason: 'malformed', pid: null }]])
  assert.is((await sink.emit(ev(1))).seq > 0, true)
  await sink.close()
  assert.equal(lockFiles(dir), [])
})

// ── races with real processes, forced through the test seam ──────────────────

type Msg =
  | { type: 'opened'; pid: number; locks: LockReport[] }
  | { type: 'refused'; code: string; message: string }
  | { type: 'emitted'; seqs: number[] }
  | { type: 'closed' }

class Writer {
  readonly proc: ChildProcess
  private readonly inbox: Msg[] = []
  private wake: (() => void) | undefined
  private exited = false

  constructor(
    readonly label: string,
    dir: string,
    gate?: string,
  ) {
    const env = { ...process.env }
    delete env.MTLOG_AUDIT_TEST_LOCK_GATE
    if (gate !== undefined) env.MTLOG_AUDIT_TEST_LOCK_GATE = gate
    this.proc = spawn(process.execPath, [CHILD, dir], { env, stdio: ['pipe', 'pipe', 'inherit'] })
    running.add(this.proc)
    readline.createInterface({ input: this.proc.stdout! }).on('line', (l) => {
      this.inbox.push(JSON.parse(l) as Msg)
      this.wake?.()
    })
    this.proc.once('exit', () => {
      this.exited = true
      running.delete(this.proc)
      this.wake?.()
    })
  }

  /** The next message (hang guard: HANG_MS). */
  async next(): Promise<Msg> {
    return within(
      (async () => {
        for (;;) {
          const m = this.inbox.shift()
          if (m !== undefined) return m
          if (this.exited) throw new Error(`${this.label} exited without a message`)
          await new Promise<void>((r) => (this.wake = r))
        }
      })(),
      HANG_MS,
      `${this.label}'s next message`,
    )
  }

  send(line: string): void {
    this.proc.stdin!.write(line + '\n')
  }

  async emit(n: number): Promise<number[]> {
    this.send(`emit ${n}`)
    const m = await this.next()
    assert.is(m.type, 'emitted', `${this.label}: ${JSON.stringify(m)}`)
    return (m as { seqs: number[] }).seqs
  }

  async close(): Promise<void> {
    this.send('close')
    assert.equal(await this.next(), { type: 'closed' }, `${this.label} closed`)
  }
}

// A failed test must not leave writers behind.
const running = new Set<ChildProcess>()
process.on('exit', () => {
  for (const p of running) p.kill('SIGKILL')
})

/** Wait (bounded) until every writer is paused at the gate, right after judging the lock stale. */
async function pausedAtGate(gate: string, writers: Writer[]): Promise<void> {
  await within(
    (async () => {
      while (!writers.every((w) => fs.existsSync(path.join(gate, `paused-${w.proc.pid}`))))
        await new Promise((r) => setTimeout(r, 20))
    })(),
    HANG_MS,
    'the writers to reach the gate',
  )
}

const openGate = (gate: string): void => fs.writeFileSync(path.join(gate, 'open'), '')

function setup(label: string): { dir: string; gate: string } {
  const base = tempDir(label)
  const dir = path.join(base, 'wal')
  const gate = path.join(base, 'gate')
  fs.mkdirSync(dir)
  fs.mkdirSync(gate)
  fs.writeFileSync(path.join(dir, 'LOCK'), staleBody())
  return { dir, gate }
}

async function eventsOf(dir: string): Promise<{ seq: number; pid: unknown }[]> {
  const out: { seq: number; pid: unknown }[] = []
  for await (const r of readLog(dir)) out.push({ seq: r.seq, pid: r.event.properties?.Pid })
  return out
}

test('finding 14.4: two processes that both judged the same lock stale, released together: exactly one opens, the other gets ERR_AUDIT_LOCKED', async () => {
  const { dir, gate } = setup('lock-race-both')
  const a = new Writer('writer A', dir, gate)
  const b = new Writer('writer B', dir, gate)
  await pausedAtGate(gate, [a, b])
  assert.equal(lockFiles(dir), ['LOCK'], 'both paused before taking anything')
  openGate(gate)
  const [ma, mb] = await Promise.all([a.next(), b.next()])
  const outcomes = [ma.type, mb.type].sort()
  assert.equal(outcomes, ['opened', 'refused'], `${JSON.stringify(ma)} / ${JSON.stringify(mb)}`)
  const [winner, loserMsg] = ma.type === 'opened' ? [a, mb] : [b, ma]
  assert.is((loserMsg as { code: string }).code, 'ERR_AUDIT_LOCKED')
  const won = (ma.type === 'opened' ? ma : mb) as { locks: LockReport[] }
  assert.equal(
    [won.locks[0]!.file, won.locks[0]!.replaced.map((r) => [r.file, r.reason])],
    ['LOCK.1', [['LOCK', 'dead']]],
  )
  const seqs = await winner.emit(50)
  await winner.close()
  const events = await eventsOf(dir)
  assert.equal(
    events.map((e) => e.seq),
    seqs,
  )
  assert.ok(events.every((e) => e.pid === winner.proc.pid))
  assert.ok((await verifyLog(dir)).ok)
})

test("finding 14.4, the old protocol's interleaving: B judged the lock stale and waits while A takes it and writes; released, B gets ERR_AUDIT_LOCKED and A keeps writing alone", async () => {
  const { dir, gate } = setup('lock-race-late')
  const b = new Writer('writer B', dir, gate)
  await pausedAtGate(gate, [b])
  const a = new Writer('writer A', dir) // no gate: takes the stale lock at once
  const ma = await a.next()
  assert.is(ma.type, 'opened', JSON.stringify(ma))
  const first = await a.emit(40)
  // Under the old protocol B now renamed its lock over A's, read its own token back and wrote too.
  openGate(gate)
  const mb = await b.next()
  assert.equal([mb.type, (mb as { code?: string }).code], ['refused', 'ERR_AUDIT_LOCKED'], JSON.stringify(mb))
  const second = await a.emit(40)
  await a.close()
  const events = await eventsOf(dir)
  assert.equal(
    events.map((e) => e.seq),
    [...first, ...second],
  )
  assert.ok(events.every((e) => e.pid === a.proc.pid))
  assert.ok((await verifyLog(dir)).ok)
})

test('finding 14.4, a deeper pause: B waits across a whole takeover and close by A, then C opens; released, B links the generation A used and still loses to C', async () => {
  const { dir, gate } = setup('lock-race-gap')
  const b = new Writer('writer B', dir, gate)
  await pausedAtGate(gate, [b])
  const a = new Writer('writer A', dir)
  assert.is((await a.next()).type, 'opened')
  const fromA = await a.emit(10)
  await a.close()
  assert.equal(lockFiles(dir), [], 'A removed the stale LOCK and its own LOCK.1')
  const c = new Writer('writer C', dir)
  const mc = await c.next()
  assert.is(mc.type, 'opened', JSON.stringify(mc))
  assert.is((mc as { locks: LockReport[] }).locks[0]!.file, 'LOCK')
  // B's judgement is old: it takes LOCK.1 (free again), then its check sees C's live LOCK.
  openGate(gate)
  const mb = await b.next()
  assert.equal([mb.type, (mb as { code?: string }).code], ['refused', 'ERR_AUDIT_LOCKED'], JSON.stringify(mb))
  assert.equal(lockFiles(dir), ['LOCK'], "B took its LOCK.1 back; C's LOCK stays")
  const fromC = await c.emit(10)
  await c.close()
  // One log, continued by C after A (the readers' view of a reopened log is the format work's to test).
  assert.ok(fromC[0]! > fromA.at(-1)!, `C's seqs ${fromC[0]}… follow A's …${fromA.at(-1)}`)
  assert.equal(lockFiles(dir), [])
})

test.run()
