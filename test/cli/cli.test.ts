// The built CLI, run as a child process, as a user would. (Format v2: a log
// closed with close() ends with a seal record, which takes a seq.)
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import path from 'node:path'
import { AuditSink } from '../../lib/index.js'
import { FORMAT_VERSION, SEGMENT_HEADER_BYTES, segmentFileName } from '../../shared/format.js'
import { cli, cliAsync } from '../helpers/cli-run.js'
import { ev, snapshot, tempDir } from '../helpers/dirs.js'

const pkg = JSON.parse(fs.readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
  version: string
}

async function makeLog(dir: string, n: number): Promise<void> {
  const sink = await AuditSink.open({ dir })
  await Promise.all(Array.from({ length: n }, (_, i) => sink.emit(ev(i))))
  await sink.close()
}

test('version prints the package version and the WAL format', () => {
  const r = cli('version', '--json')
  assert.is(r.code, 0)
  assert.is(FORMAT_VERSION, 2)
  assert.equal(JSON.parse(r.out), { version: pkg.version, walFormat: FORMAT_VERSION, node: process.version })
  assert.ok(cli('version').out.includes(pkg.version))
})

test('verify on an intact log exits 0 and reports records and seqs', async () => {
  const dir = tempDir('cli-ok')
  await makeLog(dir, 25)
  const r = cli('verify', dir, '--json')
  assert.is(r.code, 0, r.err)
  const rep = JSON.parse(r.out)
  assert.is(rep.ok, true)
  assert.is(rep.records, 26, '25 events and the seal')
  assert.is(rep.events, 25)
  assert.is(rep.lastSeq, 26)
  assert.is(rep.sealed, true)
  assert.equal(rep.gaps, [])
  const human = cli('verify', dir)
  assert.match(human.out, /^OK /)
  assert.match(human.out, /records\s+26 \(seq 1\.\.26\)/)
  assert.match(human.out, /events\s+25\n/)
  assert.match(human.out, /sealed\s+yes/)
})

test('verify on a damaged log exits 1 and names segment, offset and seq; the log is untouched', async () => {
  const dir = tempDir('cli-bad')
  const sink = await AuditSink.open({ dir })
  await Promise.all(Array.from({ length: 5 }, (_, i) => sink.emit(ev(i))))
  await Promise.all(Array.from({ length: 5 }, (_, i) => sink.emit(ev(i + 5))))
  await sink.close()
  const file = path.join(dir, segmentFileName(1))
  const b = fs.readFileSync(file)
  b[SEGMENT_HEADER_BYTES + 70]! ^= 0x04 // payload byte of seq 1
  fs.writeFileSync(file, b)
  const before = snapshot(dir)
  const r = cli('verify', dir, '--json')
  assert.is(r.code, 1)
  const rep = JSON.parse(r.out)
  assert.is(rep.ok, false)
  assert.equal(
    {
      seq: rep.firstBad.seq,
      segment: rep.firstBad.segment,
      offset: rep.firstBad.offset,
      problem: rep.firstBad.problem,
    },
    { seq: 1, segment: segmentFileName(1), offset: SEGMENT_HEADER_BYTES, problem: 'checksum' },
  )
  assert.match(
    cli('verify', dir).out,
    new RegExp(`FIRST BAD seq 1 in 00000000000000000001\\.wal at offset ${SEGMENT_HEADER_BYTES}: checksum`),
  )
  assert.equal(snapshot(dir), before)
})

test('verify of a missing directory exits 3 with the error code; a bad command exits 2', () => {
  const r = cli('verify', '/definitely/not/here')
  assert.is(r.code, 3)
  assert.match(r.err, /ERR_AUDIT_NO_WAL/)
  assert.is(cli('no-such-command').code, 2)
  assert.is(cli('verify').code, 2) // missing argument
  assert.is(cli('--help').code, 0)
})

test('verify beside a live writer does not disturb it', async () => {
  const dir = tempDir('cli-live')
  const sink = await AuditSink.open({ dir })
  let n = 0
  let stop = false
  const writer = (async () => {
    while (!stop) {
      await Promise.all(Array.from({ length: 50 }, () => sink.emit(ev(n++))))
    }
  })()
  const reports = []
  for (let i = 0; i < 3; i++) reports.push(await cliAsync('verify', dir, '--json'))
  stop = true
  await writer
  for (const r of reports) {
    assert.is(r.code, 0)
    assert.is(JSON.parse(r.out).ok, true)
  }
  assert.is((await sink.emit(ev(n))).seq, n + 1)
  await sink.close()
  assert.is(cli('verify', dir, '--json').code, 0)
  const final = JSON.parse(cli('verify', dir, '--json').out)
  assert.is(final.events, n + 1)
  assert.is(final.records, n + 2, 'and the seal of close()')
})

test.run()
