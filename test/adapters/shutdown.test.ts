// mtlog-audit/shutdown in a real child process: SIGTERM drains (flush, close)
// and exits 0 with a sealed log holding every acknowledged event; a drain
// that cannot finish within its bound destroys the sink and exits 1, and
// still every acknowledged event is in the log.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawn } from 'node:child_process'
import { AuditSink, readLog, verifyLog } from '../../lib/index.js'
import { gracefulShutdown } from '../../lib/adapters/shutdown.js'
import { tempDir } from '../helpers/dirs.js'

const CHILD = new URL('./fixtures/shutdown-child.js', import.meta.url).pathname

interface Run {
  code: number | null
  acked: number[]
  report: { ok: boolean; timedOut: boolean; error?: string; durableSeq?: number } | undefined
  err: string
}

function run(dir: string, mode: string): Promise<Run> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [CHILD, dir, mode], { stdio: ['ignore', 'pipe', 'pipe'] })
    const out: Run = { code: null, acked: [], report: undefined, err: '' }
    let buf = ''
    let sent = false
    c.stdout.setEncoding('utf8')
    c.stdout.on('data', (d: string) => {
      buf += d
      const end = buf.lastIndexOf('\n')
      if (end < 0) return
      for (const line of buf.slice(0, end).split('\n')) {
        if (line.startsWith('A ')) out.acked.push(Number(line.slice(2)))
        else if (line.startsWith('S ')) out.report = JSON.parse(line.slice(2)) as Run['report']
      }
      buf = buf.slice(end + 1)
      // Signal once the loop has made some events durable.
      if (!sent && out.acked.length >= 200) {
        sent = true
        c.kill('SIGTERM')
      }
    })
    c.stderr.on('data', (d) => (out.err += d))
    c.on('close', (code) => {
      out.code = code
      resolve(out)
    })
  })
}

test('SIGTERM: stop taking, flush, close within the bound: exit 0, a sealed log with every acknowledged event', async () => {
  const dir = tempDir('shutdown-ok')
  const r = await run(dir, 'normal')
  assert.is(r.code, 0, r.err)
  assert.ok(r.report?.ok, JSON.stringify(r.report))
  assert.ok(r.acked.length >= 200)
  const v = await verifyLog(dir)
  assert.ok(v.ok, JSON.stringify(v.firstBad))
  assert.is(v.tornTail, undefined)
  assert.is(v.zeroTail, undefined, 'a closed log has no zero tail')
  const seqs = new Set<number>()
  for await (const rec of readLog(dir)) seqs.add(rec.seq)
  for (const s of r.acked) assert.ok(seqs.has(s), `acknowledged seq ${s} missing`)
  assert.ok(r.report!.durableSeq! >= Math.max(...r.acked))
})

test('a drain that cannot finish within its bound: the sink is destroyed (ERR_AUDIT_TIMEOUT), exit 1, nothing acknowledged lost', async () => {
  const dir = tempDir('shutdown-hang')
  const r = await run(dir, 'hang')
  assert.is(r.code, 1, r.err)
  assert.is(r.report?.timedOut, true)
  assert.is(r.report?.error, 'ERR_AUDIT_TIMEOUT')
  const sink = await AuditSink.open({ dir })
  await sink.close()
  const seqs = new Set<number>()
  for await (const rec of readLog(dir)) seqs.add(rec.seq)
  for (const s of r.acked) assert.ok(seqs.has(s), `acknowledged seq ${s} missing`)
})

test('shutdown() without a signal, exit: false: the report, and the listeners are removed by dispose()', async () => {
  const sink = await AuditSink.open({ dir: tempDir('shutdown-api') })
  const before = process.listenerCount('SIGTERM')
  const h = gracefulShutdown({ sink, exit: false })
  assert.is(process.listenerCount('SIGTERM'), before + 1)
  await sink.emit({ level: 'Information', messageTemplate: 'last' })
  const report = await h.shutdown('manual')
  assert.is(report.ok, true)
  assert.is(report.signal, 'manual')
  assert.is(h.draining, true)
  assert.is(sink.health().state, 'closed')
  h.dispose()
  assert.is(process.listenerCount('SIGTERM'), before)
})

test.run()
