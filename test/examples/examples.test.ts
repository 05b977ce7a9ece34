// The runnable example and the benchmark, run as child processes the way a user
// runs them (npm run demo / npm run bench, after the build). Their reports are
// parsed for facts (counts, verify results, a valid JSON file), never timings.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { verifyLog } from '../../lib/index.js'
import { type CliResult, nodeAsync } from '../helpers/cli-run.js'
import { tempDir } from '../helpers/dirs.js'

const DEMO = new URL('../../examples/basic/main.js', import.meta.url).pathname
const BENCH = new URL('../../bench/durable.js', import.meta.url).pathname

function run(file: string, env: Record<string, string>, cwd = os.tmpdir()): Promise<CliResult> {
  return nodeAsync([file], { env, cwd })
}

/** The value after a report label, e.g. line('verify') of "  verify   ok: events 3000, ...". */
function line(out: string, label: string): string {
  const m = new RegExp(`^\\s+${label}\\s{2,}(.*)$`, 'm').exec(out)
  assert.ok(m, `the report has no "${label}" line:\n${out}`)
  return m![1]!
}

test('the basic demo writes 3000 events from three threads and the log verifies', async () => {
  const parent = tempDir('examples-demo')
  const dir = path.join(parent, 'audit')
  try {
    const r = await run(DEMO, { DEMO_EVENTS: '3000', DEMO_DIR: dir })
    assert.is(r.code, 0, `demo exited ${r.code}\n${r.out}\n${r.err}`)
    const verify = /^(ok|FAILED): events (\d+), seq (\d+|-)\.\.(\d+|-)/.exec(line(r.out, 'verify'))
    assert.ok(verify, `cannot parse the verify line:\n${r.out}`)
    assert.is(verify![1], 'ok')
    assert.is(Number(verify![2]), 3000)
    assert.is(Number(verify![3]), 1)
    assert.is(Number(verify![4]), 3001) // the seal close() wrote takes seq 3001
    assert.is(Number(/^(\d+)/.exec(line(r.out, 'events'))?.[1]), 3000)
    assert.is(Number(/^(\d+)/.exec(line(r.out, 'threads'))?.[1]), 3)
    assert.ok(line(r.out, 'receipts').startsWith('ok'), r.out)
    assert.is(line(r.out, 'directory'), dir)
    assert.ok(/^result: ok$/m.test(r.out), r.out)
    // Numbers the report derives from the sink's stats are present and sane (not timings).
    const batches = /^(\d+) \(fdatasyncs (\d+)\)/.exec(line(r.out, 'batches'))
    assert.ok(batches && Number(batches[1]) >= 1 && Number(batches[2]) >= Number(batches[1]), r.out)
    assert.is(Number(line(r.out, 'segments')), 1)
    // The directory it leaves is a log anyone can check.
    const report = await verifyLog(dir)
    assert.ok(report.ok)
    assert.is(report.events, 3000)
  } finally {
    fs.rmSync(parent, { recursive: true, force: true })
  }
})

test('the demo starts from an empty log each time it runs in the same directory', async () => {
  const parent = tempDir('examples-demo-again')
  const dir = path.join(parent, 'audit')
  try {
    for (const events of [500, 300]) {
      const r = await run(DEMO, { DEMO_EVENTS: String(events), DEMO_DIR: dir, DEMO_WINDOW: '64' })
      assert.is(r.code, 0, `demo exited ${r.code}\n${r.out}\n${r.err}`)
      assert.ok(line(r.out, 'verify').startsWith(`ok: events ${events}, seq 1..${events + 1}`), r.out)
    }
  } finally {
    fs.rmSync(parent, { recursive: true, force: true })
  }
})

test('the demo refuses to empty a directory that holds files that are not a WAL', async () => {
  const dir = tempDir('examples-demo-foreign')
  try {
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'keep me')
    const r = await run(DEMO, { DEMO_EVENTS: '10', DEMO_DIR: dir })
    assert.is.not(r.code, 0)
    assert.ok(r.err.includes('not a WAL'), r.err)
    assert.is(fs.readFileSync(path.join(dir, 'notes.txt'), 'utf8'), 'keep me')
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('the benchmark (BENCH_QUICK) prints a table and writes valid JSON with every run verified', async () => {
  const work = tempDir('examples-bench')
  const out = path.join(work, 'results')
  try {
    const r = await run(BENCH, { BENCH_QUICK: '1', BENCH_REPEAT: '1', BENCH_DIR: work, BENCH_OUT_DIR: out })
    assert.is(r.code, 0, `bench exited ${r.code}\n${r.out}\n${r.err}`)
    const rows = r.out.split('\n').filter((l) => l.startsWith('|'))
    assert.ok(rows[0]?.startsWith('| scenario | durable events/s |'), r.out)
    assert.ok(/^\|[-:|]+\|$/.test(rows[1] ?? ''), r.out)
    for (const name of [
      'window 1 ',
      'window 16 ',
      'window 256 ',
      'window 4096 ',
      'open loop',
      'worker_threads',
      'baseline',
    ]) {
      assert.ok(
        rows.some((l) => l.includes(name)),
        `no table row for "${name}":\n${r.out}`,
      )
    }
    for (const row of rows.slice(2))
      assert.is(row.split('|').length, 12, `row has ${row.split('|').length - 2} cells: ${row}`)
    assert.ok(/^- machine: .+, \d+ cores, /m.test(r.out), r.out)
    assert.ok(r.out.includes(`- node ${process.version}`), r.out)
    assert.ok(/^- event payload: 256\.0 B of JSON/m.test(r.out), r.out)

    const wrote = /^wrote (.+\.json)$/m.exec(r.out)
    assert.ok(wrote, r.out)
    assert.is(path.dirname(wrote![1]!), out)
    const json = JSON.parse(fs.readFileSync(wrote![1]!, 'utf8')) as {
      machine: { node: string; cores: number; fileSystem: string }
      verified: boolean
      scenarios: {
        id: string
        runs: { events: number; verified: boolean; eventsPerSec: number; latencyMs: { p50: number } }[]
      }[]
    }
    assert.is(json.machine.node, process.version)
    assert.ok(json.machine.cores >= 1)
    assert.is(json.verified, true)
    assert.equal(
      json.scenarios.map((s) => s.id),
      ['baseline-1', 'baseline-4096', 'closed-w1', 'closed-w16', 'closed-w256', 'closed-w4096', 'open', 'threads'],
    )
    for (const s of json.scenarios) {
      assert.is(s.runs.length, 1)
      for (const run of s.runs) {
        assert.ok(run.verified, `${s.id} not verified`)
        assert.ok(run.events > 0, `${s.id}: no events`)
        assert.ok(Number.isFinite(run.eventsPerSec) && Number.isFinite(run.latencyMs.p50), `${s.id}: numbers missing`)
      }
    }
    // Run directories are removed; only the results directory is left.
    assert.equal(fs.readdirSync(work), ['results'])
  } finally {
    fs.rmSync(work, { recursive: true, force: true })
  }
})

test.run()
