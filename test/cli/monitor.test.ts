// The terminal side, for real: monitor in a pseudo-terminal (tmux) beside a
// live writer in another process, and the progress bar on a terminal vs. not.
// Waits are for conditions on screen (bounded), never for a duration.
import { test } from 'uvu'
import { AuditSink } from '../../lib/index.js'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import path from 'node:path'
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { CLI, cli, flipBit, recordSpots, segmentsOf, writeLog } from '../helpers/cli-run.js'
import { ev, tempDir } from '../helpers/dirs.js'

const SOCKET = `mtlog-audit-test-${process.pid}`
const WRITER = new URL('../helpers/cli-writer.js', import.meta.url).pathname
const base = tempDir('cli-tty')

function tmux(...args: string[]): { code: number | null; out: string } {
  const r = spawnSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8' })
  return { code: r.status, out: r.stdout + r.stderr }
}

const sh = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`

/** Start a command in a detached 140x40 terminal; its exit code goes to exitFile. */
function inTerminal(session: string, args: string[], exitFile: string): void {
  const cmd = `${[process.execPath, CLI, ...args].map(sh).join(' ')}; echo $? > ${sh(exitFile)}; sleep 120`
  const r = tmux('new-session', '-d', '-s', session, '-x', '140', '-y', '40', cmd)
  assert.is(r.code, 0, `tmux new-session: ${r.out}`)
}

const screenOf = (session: string): string => tmux('capture-pane', '-p', '-t', session).out

async function until<T>(what: string, probe: () => T | undefined, limitMs = 30_000): Promise<T> {
  const deadline = Date.now() + limitMs
  for (;;) {
    const v = probe()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

function startWriter(dir: string): ChildProcess {
  // Bounded: at most 200,000 events, and stopped with SIGTERM by the test.
  return spawn(process.execPath, [WRITER, dir, '200000', '10', '20', '100'], { stdio: ['ignore', 'pipe', 'inherit'] })
}

async function stopWriter(w: ChildProcess): Promise<number> {
  let out = ''
  w.stdout!.on('data', (d) => (out += d))
  const code = await new Promise<number | null>((resolve) => {
    w.once('exit', resolve)
    w.kill('SIGTERM')
  })
  assert.is(code, 0, 'writer closed cleanly')
  return (JSON.parse(out) as { lastSeq: number }).lastSeq
}

test.before(() => {
  const v = spawnSync('tmux', ['-V'], { encoding: 'utf8' })
  assert.is(v.status, 0, 'tmux is needed for these tests (.ci/run installs it: apt-get install -y tmux)')
})

// A failed test must not leave its writer running.
const writers = new Set<ChildProcess>()
process.on('exit', () => {
  for (const w of writers) w.kill('SIGKILL')
})

test.after(() => {
  tmux('kill-server')
})

for (const [key, label] of [
  ['C-c', 'Ctrl-C'],
  ['q', 'q'],
] as const) {
  test(`monitor in a terminal follows a live writer in place and exits 0 on ${label}`, async () => {
    const dir = path.join(base, `live-${key}`)
    const writer = startWriter(dir)
    writers.add(writer)
    await until('the writer to create the log', () =>
      fs.existsSync(dir) && segmentsOf(dir).length > 0 ? true : undefined,
    )
    const exitFile = path.join(base, `monitor-${key}.exit`)
    const session = `mon-${key === 'q' ? 'q' : 'c'}`
    inTerminal(session, ['monitor', dir, '--interval', '200'], exitFile)
    const seqOn = (s: string): number | undefined => {
      const m = /committed\s+seq (\d+)/.exec(s)
      return m !== null && Number(m[1]) > 0 && /writer\s+pid \d+ on .*, alive/.test(s) ? Number(m[1]) : undefined
    }
    const first = await until('the monitor to show committed events and the live writer', () =>
      seqOn(screenOf(session)),
    )
    const later = await until('the count to move on', () => {
      const s = screenOf(session)
      const n = seqOn(s)
      return n !== undefined && n > first ? s : undefined
    })
    // In place: one screen, each field once, no scrolling history.
    assert.is(later.match(/committed\s+seq/g)?.length, 1, later)
    assert.match(later, /status\s+OK/)
    assert.match(later, /events\/s\s+\d+\.\d/)
    assert.match(later, /durable lag\s+\d+\.\d{3} s/)
    assert.match(later, /segment\s+00000000000000000001\.wal/)
    assert.match(later, /problems\s+none/)
    tmux('send-keys', '-t', session, key)
    const code = await until('the monitor to exit', () =>
      fs.existsSync(exitFile) && fs.readFileSync(exitFile, 'utf8').trim() !== ''
        ? fs.readFileSync(exitFile, 'utf8').trim()
        : undefined,
    )
    assert.is(code, '0', screenOf(session))
    tmux('kill-session', '-t', session)
    const lastSeq = await stopWriter(writer)
    writers.delete(writer)
    // After the writer closed: one snapshot says exactly what is on disk.
    const once = cli('monitor', dir, '--once', '--json')
    assert.is(once.code, 0, once.err)
    const snap = JSON.parse(once.out)
    // The last event, then the seal close() wrote (it takes the next seq).
    assert.equal([snap.committedSeq, snap.tailBytes, snap.errorCount, snap.writer], [lastSeq + 1, 0, 0, undefined])
  })
}

test('monitor on a healthy idle log raises no alarm: the zeros kept ahead of the next batch are not damage', async () => {
  // Finding 9 of the hostile-input issue: every idle log showed "record is bad (zero)".
  const dir = path.join(base, 'idle')
  const sink = await AuditSink.open({ dir })
  try {
    for (let i = 0; i < 5; i++) await sink.emit({ level: 'Information', messageTemplate: 'idle {I}', properties: { I: i } })
    const size = fs.statSync(path.join(dir, fs.readdirSync(dir).find((n) => n.endsWith('.wal'))!)).size
    assert.ok(size > 64 * 1024, `zero-ahead space expected after small batches (segment is ${size} bytes)`)
    for (let k = 0; k < 2; k++) {
      const once = cli('monitor', dir, '--once', '--json')
      assert.is(once.code, 0, once.err)
      const snap = JSON.parse(once.out)
      assert.is(snap.errorCount, 0, JSON.stringify(snap.errors))
      assert.is(snap.committedSeq, 5)
      assert.is(snap.tailBytes, 0)
    }
  } finally {
    await sink.close()
  }
})

test('monitor reports damage it sees: problems on screen and in JSON, exit 1', async () => {
  const dir = path.join(base, 'damaged')
  await writeLog(
    dir,
    Array.from({ length: 40 }, (_, i) => ev(i)),
  )
  const spots = recordSpots(dir)
  const spot = spots.find((s) => s.seq === 20)!
  const file = path.join(dir, spot.segment)
  // What was committed before the damaged record: the last COMMIT flag before seq 20.
  const bytes = fs.readFileSync(file)
  const committed = spots
    .filter((s) => s.segment === spot.segment && s.seq < 20 && (bytes[s.offset + 13]! & 1) === 1)
    .at(-1)?.seq
  flipBit(file, spot.offset + 80)
  const r = cli('monitor', dir, '--once', '--json')
  assert.is(r.code, 1, r.err)
  const snap = JSON.parse(r.out)
  assert.is(snap.committedSeq, committed ?? spots.find((s) => s.segment === spot.segment)!.seq - 1)
  assert.is(snap.errorCount, 1)
  assert.match(snap.errors[0], new RegExp(`${spot.segment} offset ${spot.offset} seq 20: record is bad \\(checksum\\)`))
  const human = cli('monitor', dir, '--once')
  assert.is(human.code, 1)
  assert.match(human.out, /status\s+DAMAGE SEEN \(1 problem\)/)
})

test('progress bar: drawn on a terminal, not with --quiet, never when stderr is not a terminal', async () => {
  const dir = path.join(base, 'progress')
  await writeLog(
    dir,
    Array.from({ length: 200 }, (_, i) => ev(i, { pad: 'p'.repeat(2000) })),
  )
  const withBar = path.join(base, 'bar.exit')
  inTerminal('bar', ['verify', dir], withBar)
  const screen = await until('verify to finish', () =>
    fs.existsSync(withBar) && fs.readFileSync(withBar, 'utf8').trim() === '0' ? screenOf('bar') : undefined,
  )
  assert.match(screen, /verify \[[█░]+\] 100% \| 0\.\d\/0\.\d MB/)
  assert.match(screen, /^OK /m)
  const quiet = path.join(base, 'quiet.exit')
  inTerminal('quiet', ['verify', dir, '--quiet'], quiet)
  const q = await until('verify --quiet to finish', () =>
    fs.existsSync(quiet) && fs.readFileSync(quiet, 'utf8').trim() === '0' ? screenOf('quiet') : undefined,
  )
  assert.match(q, /^OK /m)
  assert.not.match(q, /100%/)
  // Not a terminal (a pipe): nothing on stderr, whatever the command.
  for (const args of [
    ['verify', dir],
    ['stats', dir],
    ['export', dir, '--format', 'csv', '-o', path.join(base, 'p.csv')],
    ['recover', dir, '-o', path.join(base, 'p-out')],
  ]) {
    const r = cli(...args)
    assert.is(r.code, 0, `${args[0]}: ${r.err}`)
    assert.is(r.err, '', args[0])
  }
})

test.run()
