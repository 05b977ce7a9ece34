// The file-system edge (shared/files.ts and its users): only regular files are
// opened, created files get their mode whatever the umask, the log directory is
// pinned at open, outputs are judged on real paths. Calls that could hang on a
// FIFO run in a child process under a hang guard (a liveness check, not a speed
// check); memory is read from the child's own maxRSS.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import {
  assertOutside,
  checkFileMode,
  createRegular,
  createRegularSync,
  dirModeFor,
  makeDirs,
  openRegular,
  openRegularSync,
  pinDir,
  readRegular,
  readRegularSync,
  realPathOf,
} from '../../shared/files.js'
import { realStorageWith } from '../../shared/storage.js'
import { AuditSink, readLog, verifyLog } from '../../lib/index.js'
import { ev, ls, tempDir } from '../helpers/dirs.js'
import { writeLog } from '../helpers/cli-run.js'

const CHILD = new URL('./files-child.js', import.meta.url).pathname
const HANG_MS = 20_000
const SMALL = { segmentBytesMax: 64 * 1024, batchBytesMax: 8 * 1024, eventBytesMax: 4096 }

function errOf(run: () => unknown): { code: string; details?: Record<string, unknown> } {
  try {
    run()
  } catch (err) {
    return err as { code: string; details?: Record<string, unknown> }
  }
  return { code: 'no error' }
}

async function errOfAsync(p: Promise<unknown>): Promise<{ code: string; details?: Record<string, unknown> }> {
  try {
    await p
  } catch (err) {
    return err as { code: string; details?: Record<string, unknown> }
  }
  return { code: 'no error' }
}

function mkfifo(p: string): void {
  assert.is(spawnSync('mkfifo', [p]).status, 0, `mkfifo ${p}`)
}

const modeOf = (p: string): number => fs.statSync(p).mode & 0o777

function withUmask<T>(mask: number, run: () => T): T {
  const old = process.umask(mask)
  try {
    return run()
  } finally {
    process.umask(old)
  }
}

// ── shared/files.ts ──────────────────────────────────────────────────────────

test('finding 15.5: openRegular refuses a FIFO (without blocking), a directory, symlinks, a device and a socket; ENOENT stays ENOENT', async () => {
  const dir = tempDir('files-kinds')
  const file = path.join(dir, 'file')
  fs.writeFileSync(file, 'data')
  mkfifo(path.join(dir, 'fifo'))
  fs.mkdirSync(path.join(dir, 'dir'))
  fs.symlinkSync(file, path.join(dir, 'link-to-file'))
  fs.symlinkSync('/dev/zero', path.join(dir, 'link-to-zero'))
  const server = net.createServer().listen(path.join(dir, 'sock'))
  await new Promise((r) => server.once('listening', r))
  const kinds: Record<string, string> = {
    fifo: 'FIFO',
    dir: 'directory',
    'link-to-file': 'symbolic link',
    'link-to-zero': 'symbolic link',
    sock: 'socket',
  }
  for (const [name, kind] of Object.entries(kinds)) {
    const p = path.join(dir, name)
    for (const flags of ['r', 'r+'] as const) {
      const e = errOf(() => openRegularSync(p, flags))
      assert.equal([e.code, e.details?.kind, e.details?.path], ['ERR_AUDIT_NOT_A_FILE', kind, p], `${name} ${flags}`)
      const a = await errOfAsync(openRegular(p, flags))
      assert.equal([a.code, a.details?.kind], ['ERR_AUDIT_NOT_A_FILE', kind], `${name} ${flags} (async)`)
    }
  }
  server.close()
  assert.is(errOf(() => openRegularSync('/dev/null', 'r')).code, 'ERR_AUDIT_NOT_A_FILE')
  assert.is(errOf(() => openRegularSync(path.join(dir, 'missing'), 'r')).code, 'ENOENT')
  assert.is((await errOfAsync(openRegular(path.join(dir, 'missing'), 'r'))).code, 'ENOENT')
  const fd = openRegularSync(file, 'r+')
  fs.closeSync(fd)
  await (await openRegular(file, 'r')).close()
})

test('finding 15.8: createRegular gives exactly the mode asked for under umask 000 and 077, never over a file or through a symlink', async () => {
  const dir = tempDir('files-create')
  let n = 0
  for (const mask of [0o000, 0o077, 0o022]) {
    for (const mode of [0o600, 0o640]) {
      const a = path.join(dir, `a${n}`)
      const b = path.join(dir, `b${n++}`)
      fs.closeSync(withUmask(mask, () => createRegularSync(a, mode)))
      const old = process.umask(mask)
      try {
        await (await createRegular(b, mode)).close()
      } finally {
        process.umask(old)
      }
      assert.equal([modeOf(a), modeOf(b)], [mode, mode], `umask ${mask.toString(8)} mode ${mode.toString(8)}`)
      assert.is(errOf(() => createRegularSync(a, mode)).code, 'EEXIST')
    }
  }
  const target = path.join(dir, 'target')
  fs.symlinkSync(target, path.join(dir, 'dangling'))
  assert.is(errOf(() => createRegularSync(path.join(dir, 'dangling'), 0o600)).code, 'EEXIST')
  assert.not.ok(fs.existsSync(target), 'nothing was created through the symlink')
})

test("finding 15.8: the writer's real storage creates files and directories with the log's modes under umask 000", () => {
  const base = tempDir('files-storage')
  for (const fileMode of [0o600, 0o640]) {
    const s = realStorageWith(fileMode)
    const dir = path.join(base, `m${fileMode.toString(8)}`, 'x', 'y')
    withUmask(0, () => {
      s.mkdirp(dir)
      s.close(s.open(path.join(dir, 'side-file'), 'wx'))
    })
    assert.is(modeOf(path.join(dir, 'side-file')), fileMode)
    for (const d of [dir, path.dirname(dir), path.dirname(path.dirname(dir))])
      assert.is(modeOf(d), dirModeFor(fileMode), d)
    mkfifo(path.join(dir, '00000000000000000001.wal'))
    assert.is(errOf(() => s.open(path.join(dir, '00000000000000000001.wal'), 'r')).code, 'ERR_AUDIT_NOT_A_FILE')
  }
})

test('readRegular reads a whole file and refuses one larger than its bound without reading it (a sparse 16 GiB file)', async () => {
  const dir = tempDir('files-read')
  const small = path.join(dir, 'small')
  fs.writeFileSync(small, 'hello')
  assert.is(readRegularSync(small, 5).toString(), 'hello')
  assert.is((await readRegular(small, 5)).toString(), 'hello')
  assert.is(errOf(() => readRegularSync(small, 4)).code, 'ERR_AUDIT_NOT_A_WAL')
  const huge = path.join(dir, 'huge')
  fs.closeSync(fs.openSync(huge, 'w'))
  fs.truncateSync(huge, 16 * 1024 ** 3)
  const before = process.memoryUsage().rss
  const e = await errOfAsync(readRegular(huge, 1024 ** 3))
  assert.equal([e.code, e.details?.bytes], ['ERR_AUDIT_NOT_A_WAL', 16 * 1024 ** 3])
  assert.ok(process.memoryUsage().rss - before < 64 * 1024 ** 2, 'no buffer was allocated for it')
})

test('makeDirs gives every directory it creates the mode asked for, and leaves existing ones alone', () => {
  const base = tempDir('files-mkdir')
  fs.chmodSync(base, 0o755)
  withUmask(0, () => makeDirs(path.join(base, 'a', 'b', 'c'), 0o750))
  assert.equal(
    ['a', 'a/b', 'a/b/c'].map((d) => modeOf(path.join(base, d))),
    [0o750, 0o750, 0o750],
  )
  assert.is(modeOf(base), 0o755)
  withUmask(0, () => makeDirs(path.join(base, 'a', 'b', 'c'), 0o700)) // exists: untouched
  assert.is(modeOf(path.join(base, 'a', 'b', 'c')), 0o750)
})

test('pinDir: the real path of a symlinked directory; a regular file (or a path through one) is ERR_AUDIT_NOT_A_WAL', () => {
  const base = tempDir('files-pin')
  const real = path.join(base, 'real')
  fs.mkdirSync(real)
  fs.symlinkSync(real, path.join(base, 'link'))
  assert.is(pinDir(path.join(base, 'link'), 0o600), fs.realpathSync(real))
  fs.writeFileSync(path.join(base, 'file'), 'not a directory')
  for (const p of ['file', 'file/below'])
    assert.is(errOf(() => pinDir(path.join(base, p), 0o600)).code, 'ERR_AUDIT_NOT_A_WAL', p)
  assert.is(
    withUmask(0, () => modeOf(pinDir(path.join(base, 'new', 'wal'), 0o640))),
    0o750,
  )
})

test('finding 15.7: assertOutside compares real paths: a symlink into the input, an output that does not exist yet below one, an output that holds the input', () => {
  const base = tempDir('files-outside')
  const input = path.join(base, 'wal')
  fs.mkdirSync(input)
  fs.symlinkSync(input, path.join(base, 'link'))
  for (const out of ['link', 'link/sub', 'link/not/yet/there', 'wal/../wal/x', '.']) {
    const e = errOf(() => assertOutside(path.join(base, out), [input]))
    assert.equal([e.code, e.details?.option], ['ERR_AUDIT_OPTION_INVALID', 'output'], out)
  }
  // Through the input's own symlink too.
  assert.is(
    errOf(() => assertOutside(path.join(input, 'x'), [path.join(base, 'link')])).code,
    'ERR_AUDIT_OPTION_INVALID',
  )
  // Outside: a sibling, and a dangling symlink (creating the output replaces the link, it does not follow it).
  fs.symlinkSync(path.join(input, 'gone'), path.join(base, 'dangling'))
  for (const out of ['elsewhere/x', 'dangling'])
    assert.is(errOf(() => assertOutside(path.join(base, out), [input])).code, 'no error', out)
  assert.is(realPathOf(path.join(base, 'link', 'a', 'b')), path.join(fs.realpathSync(input), 'a', 'b'))
})

test('option fileMode: 0o600 or 0o640, anything else is ERR_AUDIT_OPTION_INVALID and creates nothing', async () => {
  assert.is(checkFileMode(undefined), 0o600)
  assert.is(checkFileMode(0o640), 0o640)
  const base = tempDir('files-option')
  for (const bad of [0o644, 0o666, 0o700, 0o400, '0640', null, 384.5]) {
    const dir = path.join(base, 'wal')
    const e = await errOfAsync(AuditSink.open({ dir, fileMode: bad as never }))
    assert.equal([e.code, e.details?.option], ['ERR_AUDIT_OPTION_INVALID', 'fileMode'], String(bad))
    assert.not.ok(fs.existsSync(dir))
  }
})

// ── the sink, readers and repair, end to end ─────────────────────────────────

test('finding 14.6: the directory is pinned at open: after `ln -sfn B cur` mid-run every segment lands in A, B stays empty, A verifies complete', async () => {
  const base = tempDir('files-swap')
  const [a, b, cur] = ['A', 'B', 'cur'].map((n) => path.join(base, n)) as [string, string, string]
  fs.mkdirSync(a)
  fs.mkdirSync(b)
  fs.symlinkSync(a, cur)
  const sink = await AuditSink.open({ dir: cur, ...SMALL })
  const seqs: number[] = []
  let waves = 0
  const until = async (segments: number): Promise<void> => {
    while (sink.stats().segmentsCreated < segments) {
      assert.ok(++waves < 500, 'the log never rotated')
      const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => sink.emit(ev(i, { Pad: 'x'.repeat(300) }))))
      seqs.push(...rs.map((r) => r.seq))
    }
  }
  await until(3)
  // ln -sfn B cur: a new link renamed over the old one.
  fs.symlinkSync(b, `${cur}.new`)
  fs.renameSync(`${cur}.new`, cur)
  assert.is(fs.realpathSync(cur), fs.realpathSync(b))
  await until(sink.stats().segmentsCreated + 3)
  await sink.close()
  assert.equal(ls(b), [], 'nothing was written through the new link')
  const segments = ls(a).filter((n) => n.endsWith('.wal'))
  assert.ok(segments.length >= 6, `${segments.length} segments in A`)
  const read: number[] = []
  for await (const r of readLog(a)) read.push(r.seq)
  assert.equal(read, seqs)
  assert.ok((await verifyLog(a)).ok)
})

test('finding 15.10: a log directory that is a regular file: open() and verifyLog say ERR_AUDIT_NOT_A_WAL, not ERR_AUDIT_IO', async () => {
  const base = tempDir('files-dirfile')
  const file = path.join(base, 'wal')
  fs.writeFileSync(file, 'I am a file')
  assert.is((await errOfAsync(AuditSink.open({ dir: file }))).code, 'ERR_AUDIT_NOT_A_WAL')
  assert.is((await errOfAsync(AuditSink.open({ dir: path.join(file, 'below') }))).code, 'ERR_AUDIT_NOT_A_WAL')
  assert.is((await errOfAsync(verifyLog(file))).code, 'ERR_AUDIT_NOT_A_WAL')
  assert.is(fs.readFileSync(file, 'utf8'), 'I am a file')
})

interface CallResult {
  code: string
  message: string
  maxRssBytes: number
}

/** One public call in a child process, killed (and failed) if it does not finish within HANG_MS. */
function callInChild(op: string, dir: string, out = ''): CallResult {
  const r = spawnSync(process.execPath, [CHILD, 'call', op, dir, out], { encoding: 'utf8', timeout: HANG_MS })
  assert.is(r.error, undefined, `hang: ${op} did not finish within ${HANG_MS} ms (${r.error?.message})`)
  assert.is(r.status, 0, `${op}: ${r.stderr}`)
  return JSON.parse(r.stdout) as CallResult
}

async function threeSegmentLog(label: string): Promise<string> {
  const dir = path.join(tempDir(label), 'wal')
  await writeLog(
    dir,
    Array.from({ length: 400 }, (_, i) => ev(i, { Pad: 'x'.repeat(300) })),
    SMALL,
  )
  assert.ok(ls(dir).filter((n) => n.endsWith('.wal')).length >= 3)
  return dir
}

const OPS = ['open', 'verify', 'read', 'stats', 'export', 'recover'] as const

test('finding 15.5: a FIFO named like a segment: open, verify, read, stats, export and recover each end with ERR_AUDIT_NOT_A_FILE, none hangs', async () => {
  const dir = await threeSegmentLog('files-fifo')
  const first = path.join(dir, '00000000000000000001.wal')
  fs.rmSync(first)
  mkfifo(first)
  for (const op of OPS) {
    const r = callInChild(op, dir, path.join(path.dirname(dir), `out-${op}`))
    assert.equal(
      [r.code, r.message.includes('00000000000000000001.wal')],
      ['ERR_AUDIT_NOT_A_FILE', true],
      `${op}: ${r.message}`,
    )
  }
  assert.ok(fs.lstatSync(first).isFIFO(), 'left as it was')
})

test('finding 15.5: a symlink to /dev/zero named like a segment: each call refuses it coded, and memory stays bounded (nothing is read from it)', async () => {
  const dir = await threeSegmentLog('files-zero')
  const first = path.join(dir, '00000000000000000001.wal')
  fs.rmSync(first)
  fs.symlinkSync('/dev/zero', first)
  for (const op of OPS) {
    const r = callInChild(op, dir, path.join(path.dirname(dir), `out-${op}`))
    assert.is(r.code, 'ERR_AUDIT_NOT_A_FILE', `${op}: ${r.message}`)
    assert.ok(r.maxRssBytes < 512 * 1024 ** 2, `${op}: max RSS ${(r.maxRssBytes / 1024 ** 2).toFixed(0)} MiB`)
  }
})

test('finding 15.5: a FIFO named LOCK: open() refuses it with ERR_AUDIT_NOT_A_FILE and does not hang', () => {
  const dir = path.join(tempDir('files-fifo-lock'), 'wal')
  fs.mkdirSync(dir)
  mkfifo(path.join(dir, 'LOCK'))
  const r = callInChild('open', dir)
  assert.equal([r.code, r.message.includes('LOCK')], ['ERR_AUDIT_NOT_A_FILE', true], r.message)
})

function expectModes(label: string, modes: Record<string, string>, paths: string[], mode: string): void {
  for (const p of paths) assert.is(modes[p], mode, `${label}: ${p} has mode ${modes[p]}, expected ${mode}`)
}

for (const fileMode of [0o600, 0o640]) {
  const f = `f${fileMode.toString(8)}`
  const d = `d${dirModeFor(fileMode).toString(8)}`
  test(`finding 15.8: under umask 000 (in a child process), fileMode ${fileMode.toString(8)}: every file the writer, export and recover make is ${f.slice(1)}, every directory ${d.slice(1)}`, () => {
    const base = tempDir('files-umask')
    const r = spawnSync(process.execPath, [CHILD, 'modes', base, String(fileMode)], {
      encoding: 'utf8',
      timeout: 120_000,
    })
    assert.is(r.status, 0, r.stderr)
    const { whileOpen, after, segments } = JSON.parse(r.stdout) as {
      whileOpen: Record<string, string>
      after: Record<string, string>
      segments: number
    }
    assert.ok(segments >= 3, `${segments} segments`)
    const walFiles = (m: Record<string, string>, dir: string): string[] =>
      Object.keys(m).filter((p) => path.dirname(p) === dir)
    assert.ok(whileOpen['logs/wal/LOCK'] !== undefined, 'the lock was there while open')
    expectModes('while open', whileOpen, ['logs', 'logs/wal', 'logs/mirror'], d)
    expectModes('while open', whileOpen, [...walFiles(whileOpen, 'logs/wal'), ...walFiles(whileOpen, 'logs/mirror')], f)
    expectModes('after', after, ['logs', 'logs/wal', 'logs/mirror', 'recovered', 'recovered/wal'], d)
    const files = [
      ...walFiles(after, 'logs/wal'),
      ...walFiles(after, 'logs/mirror'),
      ...walFiles(after, 'recovered/wal'),
      'out/events.jsonl',
      'out/events.parquet',
    ]
    assert.ok(files.includes('recovered/wal/recovery-report.json'))
    assert.ok(walFiles(after, 'logs/wal').length >= 3)
    expectModes('after', after, files, f)
  })
}

test.run()
