// The CLI at the file-system edge: special files named like segments, outputs
// aimed into the log through a symlink, a log "directory" that is a file. Every
// command runs under a hang guard (a liveness check, not a speed check).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import { CLI, SMALL, writeLog } from '../helpers/cli-run.js'
import { ev, ls, snapshot, tempDir } from '../helpers/dirs.js'

const HANG_MS = 20_000

function run(...args: string[]): { code: number | null; err: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: HANG_MS })
  assert.is(r.error, undefined, `hang: mtlog-audit ${args[0]} did not finish within ${HANG_MS} ms`)
  return { code: r.status, err: r.stderr }
}

async function log(label: string): Promise<string> {
  const dir = path.join(tempDir(label), 'wal')
  await writeLog(
    dir,
    Array.from({ length: 300 }, (_, i) => ev(i, { Pad: 'x'.repeat(300) })),
    SMALL,
  )
  return dir
}

/** Every reading command, with the arguments it needs; outputs go beside the log. */
function commands(dir: string): string[][] {
  const out = (n: string): string => path.join(path.dirname(dir), n)
  return [
    ['verify', dir],
    ['replay', dir],
    ['stats', dir],
    ['export', dir, '--format', 'jsonl', '--output', out('events.jsonl')],
    ['recover', dir, '--output', out('recovered')],
  ]
}

for (const [kind, make] of [
  ['a FIFO', (p: string) => assert.is(spawnSync('mkfifo', [p]).status, 0)],
  ['a symlink to /dev/zero', (p: string) => fs.symlinkSync('/dev/zero', p)],
] as const) {
  test(`finding 15.5: ${kind} named like a segment: verify, replay, stats, export and recover exit 3 with ERR_AUDIT_NOT_A_FILE, none hangs`, async () => {
    const dir = await log('cli-special')
    const first = path.join(dir, '00000000000000000001.wal')
    fs.rmSync(first)
    make(first)
    for (const args of commands(dir)) {
      const r = run(...args, '--quiet')
      assert.is(r.code, 3, `${args[0]}: exit ${r.code}: ${r.err}`)
      assert.match(r.err, /ERR_AUDIT_NOT_A_FILE: .*00000000000000000001\.wal/, args[0])
    }
    assert.not.ok(fs.existsSync(path.join(path.dirname(dir), 'events.jsonl')))
    assert.not.ok(fs.existsSync(path.join(path.dirname(dir), 'recovered')))
  })
}

test('finding 15.7: recover --output and export --output through a symlink into the input directory are refused (exit 2), the input untouched', async () => {
  const dir = await log('cli-realpath')
  const base = path.dirname(dir)
  fs.symlinkSync(dir, path.join(base, 'into-wal'))
  const before = snapshot(dir)
  for (const args of [
    ['recover', dir, '--output', path.join(base, 'into-wal', 'recovered')],
    ['recover', dir, '--output', path.join(base, 'into-wal')],
    ['export', dir, '--format', 'jsonl', '--output', path.join(base, 'into-wal', 'events.jsonl')],
    ['export', dir, '--format', 'csv', '--output', path.join(base, 'into-wal', 'new', 'events.csv')],
  ]) {
    const r = run(...args, '--quiet')
    assert.is(r.code, 2, `${args.join(' ')}: exit ${r.code}: ${r.err}`)
    assert.match(r.err, /ERR_AUDIT_OPTION_INVALID: output .* must be outside the log/)
  }
  assert.equal(snapshot(dir), before)
  // The same outputs beside the log are fine.
  assert.is(run('recover', dir, '--output', path.join(base, 'recovered'), '--quiet').code, 0)
  assert.is(run('export', dir, '--format', 'jsonl', '--output', path.join(base, 'events.jsonl'), '--quiet').code, 0)
  assert.equal(ls(base), ['events.jsonl', 'into-wal', 'recovered', 'wal'])
})

test('finding 15.10: a log directory that is a regular file: verify exits 3 with ERR_AUDIT_NOT_A_WAL', () => {
  const file = path.join(tempDir('cli-dirfile'), 'wal')
  fs.writeFileSync(file, 'a file')
  for (const args of [
    ['verify', file],
    ['stats', file],
    ['replay', file],
  ]) {
    const r = run(...args, '--quiet')
    assert.is(r.code, 3, `${args[0]}: ${r.err}`)
    assert.match(r.err, /ERR_AUDIT_NOT_A_WAL/)
  }
})

test.run()
