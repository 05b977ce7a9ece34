// The benchmark harness (bench/run.ts) and `mtlog-audit bench`, run as child
// processes with a tiny setting. Checked: the shape of what they print and
// write (tables, JSON, HTML), that every run verified, that run directories
// are removed, and that missing peers are named in the output. Never timings.
// Needs nothing from bench/node_modules: the peers, tinybench and Chart.js are
// used when a checkout has them and reported missing otherwise.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import zlib from 'node:zlib'
import { engineConfig, runOpen } from '../../bench/engine/engine.js'
import { mtlogAudit, type System } from '../../bench/engine/system.js'
import { AuditSink, verifyLog } from '../../lib/index.js'
import { CLI, type CliResult, nodeAsync } from '../helpers/cli-run.js'
import { tempDir } from '../helpers/dirs.js'
import { Gate } from '../helpers/gated-storage.js'

const RUNNER = new URL('../../bench/run.js', import.meta.url).pathname
const MODULES = new URL('../../../bench/node_modules', import.meta.url).pathname

function run(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return nodeAsync(args, { env, cwd: os.tmpdir() })
}

function installed(name: string): boolean {
  return fs.existsSync(path.join(MODULES, name, 'package.json'))
}

/** Every markdown table row of out: header, separator, rows; all rows of one table have the header's cell count. */
function tables(out: string): string[][] {
  const found: string[][] = []
  let cur: string[] = []
  for (const l of out.split('\n')) {
    if (l.startsWith('|')) cur.push(l)
    else if (cur.length > 0) {
      found.push(cur)
      cur = []
    }
  }
  if (cur.length > 0) found.push(cur)
  for (const t of found) {
    const cells = t[0]!.split(' | ').length
    assert.ok(/^\|[-:|]+\|$/.test(t[1] ?? ''), `no separator under ${t[0]}`)
    for (const row of t.slice(2))
      assert.is(row.split(' | ').length, cells, `row has another cell count than its header: ${row}`)
  }
  return found
}

interface RunJson {
  verified: boolean
  eventsPerSec: number
  events: number
  latencyMs: { p50: number; p99: number; cdf: number[] }
  cpuSecPerMillion: number
  diskBytesPerEvent: number
  verifyNote: string
  noise: { otherCores: number }
}
interface Json {
  machine: { node: string; cores: number; fileSystem: string; disk: string; loadAtStart: string; date: string }
  loadAtEnd: string
  verified: boolean
  notes: string[]
  systems: { id: string; durability: string }[]
  micro?: { results: { id: string; opsPerSec: { median: number } }[]; notes: string[] }
  noise: { runs: number; noisy: boolean; verdict: string }
  scenarios: {
    id: string
    group: string
    system: string
    runs: RunJson[]
    skipped?: string
    meta?: { samples?: unknown[]; rssSlopeMiBPerMin?: number }
  }[]
}

function checkRuns(json: Json): void {
  assert.is(json.machine.node, process.version)
  assert.ok(json.machine.cores >= 1 && json.machine.fileSystem !== '' && json.machine.disk !== '')
  assert.ok(json.machine.loadAtStart.includes('load average') && json.loadAtEnd.includes('load average'))
  assert.is(json.verified, true)
  for (const s of json.scenarios) {
    if (s.skipped !== undefined) continue
    assert.ok(s.runs.length >= 1, `${s.id}: no runs`)
    for (const r of s.runs) {
      assert.ok(r.verified, `${s.id} not verified`)
      assert.ok(
        r.events > 0 && Number.isFinite(r.eventsPerSec) && Number.isFinite(r.cpuSecPerMillion),
        `${s.id}: numbers missing`,
      )
      assert.ok(Number.isFinite(r.noise.otherCores), `${s.id}: no noise figure`)
      if (s.id.startsWith('floor-serialize')) continue
      assert.ok(Number.isFinite(r.latencyMs.p50) && r.latencyMs.cdf.length > 5, `${s.id}: latency missing`)
      if (s.id.startsWith('floor-emit')) continue // no store: no bytes on disk
      assert.ok(r.diskBytesPerEvent > 0, `${s.id}: disk bytes per event missing`)
    }
  }
}

function wrote(out: string): { json: string; md: string; html: string } {
  const get = (ext: string): string => {
    const m = new RegExp(`^wrote (.+\\.${ext})$`, 'm').exec(out)
    assert.ok(m, `no "wrote *.${ext}" line:\n${out}`)
    assert.ok(fs.existsSync(m![1]!), m![1]!)
    return m![1]!
  }
  return { json: get('json'), md: get('md'), html: get('html') }
}

test('the harness without peers, tinybench or Chart.js still measures mtlog-audit and says what it left out', async () => {
  const work = tempDir('bench-test-bare')
  const out = path.join(work, 'results')
  try {
    const r = await run([
      RUNNER,
      '--quick',
      '--soak-seconds',
      '1',
      '--dir',
      work,
      '--out',
      out,
      '--modules',
      path.join(work, 'no-modules'),
    ])
    assert.is(r.code, 0, `harness exited ${r.code}\n${r.out}\n${r.err}`)
    const t = tables(r.out)
    assert.ok(
      t.some((x) => x[0]!.startsWith('| scenario | durable events/s |')),
      r.out,
    )
    assert.ok(
      t.some((x) => x[0]!.startsWith('| scenario | target events/s |')),
      r.out,
    )
    for (const name of [
      'floor: write 4 KiB + fdatasync (',
      'floor: write 4 KiB + fdatasync into zero-filled',
      'floor: write 64 KiB',
      'floor: write 1 MiB',
      'floor: JSON.stringify',
      'floor: encodeEvent + one promise per event',
      'closed, mtlog-audit, 256 B, window 1 ',
      'window 4096',
      'closed, mtlog-audit, 64 B',
      'closed, mtlog-audit, 1024 B',
      'main + 3 worker_threads',
      'open 1,000/s, mtlog-audit',
      'open 10,000/s, mtlog-audit',
      'highest sustained',
      'soak 1 s',
      'closed, fs-sync, 256 B',
    ]) {
      assert.ok(r.out.includes(name), `no "${name}" in the report:\n${r.out}`)
    }
    for (const said of [
      'peer pino not run: not installed',
      'peer better-sqlite3 not run: not installed',
      'micro benchmarks not run: tinybench is not installed',
      'no charts in the HTML',
    ]) {
      assert.ok(r.out.includes(said), `the report does not say "${said}":\n${r.out}`)
    }
    assert.ok(
      /^- machine: .+, \d+ cores, /m.test(r.out) &&
        r.out.includes(`- node ${process.version}`) &&
        /^- date \d{4}-/m.test(r.out),
      r.out,
    )
    assert.ok(
      /^- at start: load average .*CPU pressure/m.test(r.out) && /^- at end: load average .*CPU pressure/m.test(r.out),
      r.out,
    )
    assert.ok(/^- (NOISY|quiet): \d+ of \d+ runs/m.test(r.out), r.out)
    assert.ok(/^- event payload: 256\.0 B of JSON/m.test(r.out), r.out)

    const files = wrote(r.out)
    for (const f of Object.values(files)) assert.is(path.dirname(f), out)
    const json = JSON.parse(fs.readFileSync(files.json, 'utf8')) as Json
    checkRuns(json)
    assert.equal(
      json.systems.map((s) => s.id),
      ['mtlog-audit', 'fs-sync'],
    )
    assert.equal(
      json.micro?.results.map((m) => m.id),
      ['micro-ring-mp-1p-256B', 'micro-ring-mp-3p-256B'],
    )
    const ids = json.scenarios.map((s) => s.id)
    for (const id of [
      'floor-write-4KiB',
      'floor-write-4KiB-in-place',
      'floor-write-64KiB',
      'floor-write-1MiB',
      'floor-serialize-256B',
      'floor-emit-256B',
      'closed-mtlog-audit-256B-w1',
      'closed-mtlog-audit-256B-w16',
      'closed-mtlog-audit-256B-w256',
      'closed-mtlog-audit-256B-w4096',
      'closed-mtlog-audit-64B-w256',
      'closed-mtlog-audit-1024B-w256',
      'closed-mtlog-audit-4threads-256B-w4096',
      'open-mtlog-audit-256B-r1000',
      'open-mtlog-audit-256B-r10000',
      'open-mtlog-audit-256B-max',
      'open-mtlog-audit-4threads-256B-r10000',
      'soak-mtlog-audit-256B-r2000-1s',
      'closed-fs-sync-256B-w1',
    ]) {
      assert.ok(ids.includes(id), `no scenario ${id} in ${ids.join(', ')}`)
    }
    // The emit ceiling: a figure and a note, never a speed.
    const ceiling = json.scenarios.find((s) => s.id === 'floor-emit-256B')!
    assert.is(ceiling.group, 'floor')
    assert.ok(ceiling.runs.length >= 1, 'floor-emit-256B: no runs')
    for (const run of ceiling.runs) {
      assert.ok(
        Number.isFinite(run.eventsPerSec) && run.eventsPerSec > 0,
        `floor-emit-256B: events/s ${run.eventsPerSec}`,
      )
      assert.is(run.verifyNote, 'n/a (no store)')
    }
    const soak = json.scenarios.find((s) => s.group === 'soak')!
    assert.ok(
      (soak.meta?.samples?.length ?? 0) >= 2 && soak.meta !== undefined && 'rssSlopeMiBPerMin' in soak.meta,
      JSON.stringify(soak.meta),
    )
    assert.is(fs.readFileSync(files.md, 'utf8').trim(), r.out.slice(0, r.out.indexOf('\nwrote ')).trim())
    const page = fs.readFileSync(files.html, 'utf8')
    assert.ok(
      page.startsWith('<!doctype html>') && page.includes('<table>') && page.includes('Chart.js is not installed'),
      'html without tables or the missing-charts note',
    )
    assert.not.ok(page.includes('new Chart('), 'html draws charts without Chart.js')
    // Run directories are removed; only the results are left.
    assert.equal(fs.readdirSync(work).sort(), ['results'])
  } finally {
    fs.rmSync(work, { recursive: true, force: true })
  }
})

test('the harness with whatever bench/node_modules holds: peers side by side, micro benchmarks, charts', async () => {
  const work = tempDir('bench-test-peers')
  const out = path.join(work, 'results')
  try {
    const only = [
      'floor-write-64KiB',
      'closed-mtlog-audit-256B-w16',
      'closed-fs-sync-256B-w1',
      'closed-pino-256B-w1',
      'closed-sqlite-tx-256B-w1',
      'closed-sqlite-group-256B-w16',
      'open-sqlite-group-256B-r1000',
      'micro-crc32c-256B',
      'micro-zlib-crc32-256B',
      'micro-seal-256B',
      'micro-ring-1thread-256B',
    ]
    const r = await run([RUNNER, '--quick', '--dir', work, '--out', out, '--only', only.join(',')])
    assert.is(r.code, 0, `harness exited ${r.code}\n${r.out}\n${r.err}`)
    tables(r.out)
    const files = wrote(r.out)
    const json = JSON.parse(fs.readFileSync(files.json, 'utf8')) as Json
    checkRuns(json)
    const ids = json.scenarios.map((s) => s.id)
    const expect = ['floor-write-64KiB', 'closed-mtlog-audit-256B-w16', 'closed-fs-sync-256B-w1']
    if (installed('pino')) expect.push('closed-pino-256B-w1')
    else assert.ok(r.out.includes('peer pino not run'), r.out)
    if (installed('better-sqlite3'))
      expect.push('closed-sqlite-tx-256B-w1', 'closed-sqlite-group-256B-w16', 'open-sqlite-group-256B-r1000')
    else assert.ok(r.out.includes('peer better-sqlite3 not run'), r.out)
    assert.equal(ids, expect)
    if (installed('better-sqlite3'))
      assert.ok(r.out.includes('| closed, 256 B, window 16 | '), `no comparison row:\n${r.out}`)
    if (installed('tinybench')) {
      const zlibCrc = typeof (zlib as { crc32?: unknown }).crc32 === 'function'
      assert.equal(
        json.micro?.results.map((m) => m.id),
        [
          'micro-crc32c-256B',
          ...(zlibCrc ? ['micro-zlib-crc32-256B'] : []),
          'micro-seal-256B',
          'micro-ring-1thread-256B',
        ],
      )
      for (const m of json.micro!.results) assert.ok(m.opsPerSec.median > 0, m.id)
      assert.ok(r.out.includes('## Micro benchmarks'), r.out)
    } else assert.ok(r.out.includes('micro benchmarks not run'), r.out)
    const page = fs.readFileSync(files.html, 'utf8')
    if (installed('chart.js'))
      assert.ok(
        page.includes('new Chart(') && !page.includes('Chart.js is not installed'),
        'no charts though chart.js is installed',
      )
    else assert.ok(page.includes('Chart.js is not installed'))
    assert.equal(fs.readdirSync(work).sort(), ['results'])
  } finally {
    fs.rmSync(work, { recursive: true, force: true })
  }
})

test('mtlog-audit bench runs the end-to-end scenarios and names the peers it could not run', async () => {
  const work = tempDir('bench-test-cli')
  const jsonFile = path.join(work, 'bench.json')
  try {
    const r = await run([CLI, 'bench', '--quick', '--dir', work, '--json', jsonFile], {
      BENCH_MODULES_DIR: path.join(work, 'no-modules'),
    })
    assert.is(r.code, 0, `cli exited ${r.code}\n${r.out}\n${r.err}`)
    const t = tables(r.out)
    assert.is(t.length, 2, r.out)
    assert.ok(
      t[0]![0]!.startsWith('| scenario | durable events/s |') && t[1]![0]!.startsWith('| scenario | target events/s |'),
      r.out,
    )
    assert.ok(r.out.includes('peer pino not run') && r.out.includes('peer better-sqlite3 not run'), r.out)
    assert.ok(r.out.includes('closed, fs-sync, 256 B, window 1 '), r.out)
    assert.ok(
      /^- at start: load average/m.test(r.out) &&
        /^- at end: load average/m.test(r.out) &&
        /^- noise: (NOISY|quiet)/m.test(r.out),
      r.out,
    )
    assert.ok(/^- verified: every run/m.test(r.out), r.out)
    const json = JSON.parse(fs.readFileSync(jsonFile, 'utf8')) as Json
    assert.is(json.verified, true)
    assert.ok(
      json.scenarios.some((s) => s.id === 'closed-mtlog-audit-4threads-256B-w4096' && s.runs.length === 1),
      'no threads scenario',
    )
    assert.equal(fs.readdirSync(work), ['bench.json'])

    const usage = await run([CLI, 'bench', '--repeat', '0'])
    assert.is(usage.code, 2, usage.out + usage.err)
    assert.ok(usage.err.includes('--repeat'), usage.err)
  } finally {
    fs.rmSync(work, { recursive: true, force: true })
  }
})

test('an open loop that overloads the sink counts the refused emits (ERR_AUDIT_QUEUE_FULL) instead of failing, and still verifies', async () => {
  // Overload without depending on speed: the writer is held inside its first
  // fdatasync after open (gated storage), so nothing drains while the loop sends 10,000
  // events into a 64 KiB ring with 4 queue places: refusals are certain. The
  // gate opens at the first refusal, and everything accepted must then settle.
  const work = tempDir('bench-test-refuse')
  const gate = new Gate()
  let refusedSeen = 0
  try {
    const tiny: System = {
      ...mtlogAudit,
      id: 'mtlog-audit-gated',
      async open(dir) {
        const sink = await AuditSink.open({
          dir,
          ringBytes: 64 * 1024,
          eventBytesMax: 4096,
          batchBytesMax: 8192,
          pendingEmitsMax: 4,
          storage: gate.spec,
        })
        gate.close() // after open: open syncs too
        return {
          emit: (ev) =>
            sink.emit(ev).catch((err: { code?: string }) => {
              if (err.code === 'ERR_AUDIT_QUEUE_FULL' && refusedSeen++ === 0) gate.open()
              throw err
            }),
          counters: () => ({ events: sink.stats().records, syncs: sink.stats().fsyncs }),
          handle: () => sink.handle(),
          close: () => sink.close(),
          destroy: (e) => sink.destroy(e),
          async verify(expected) {
            const v = await verifyLog(dir)
            return { ok: v.ok && v.events === expected, note: `${v.events} events, expected ${expected}` }
          },
        }
      },
    }
    // No warm-up: its closed loop would wait for acks behind the closed gate.
    const cfg = engineConfig(true, { baseDir: work, openSeconds: 0.5, warmupSeconds: 0 })
    const r = await runOpen(cfg, tiny, 256, 20_000)
    assert.ok(refusedSeen > 0, 'the sink never refused an emit')
    assert.is(r.refused, refusedSeen)
    assert.is(r.sustained, false)
    assert.ok(r.verified, r.verifyNote)
    assert.ok(r.events > 0)
    assert.equal(fs.readdirSync(work), [])
  } finally {
    gate.open()
    fs.rmSync(work, { recursive: true, force: true })
  }
})

test.run()
