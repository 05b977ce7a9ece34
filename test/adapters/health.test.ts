// mtlog-audit/health on a real full disk: a small tmpfs mounted as the
// DiskFull torture scenario mounts one (root only; the test says so and
// passes vacuously nowhere: without mount it fails). Health turns fail with
// disk-full, readiness answers 503 while liveness stays 200 (a restart would
// not free space), and readiness recovers once the app reopens the sink on
// a disk with room: the helpers read the current sink through a function.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { AuditSink, readLog } from '../../lib/index.js'
import { healthHandler, HEALTH_PATHS, livenessCheck, readinessCheck } from '../../lib/adapters/health.js'
import { ev, tempDir } from '../helpers/dirs.js'

const SEED = Number(process.env.HEALTH_SEED ?? Date.now() % 2 ** 31)
console.log('health seed', SEED)

async function probe(url: string): Promise<{ status: number; body: { reasons: { code: string }[] } }> {
  const r = await fetch(url)
  return { status: r.status, body: (await r.json()) as { reasons: { code: string }[] } }
}

test('disk full: fail with disk-full, readiness 503, liveness 200; after room and a reopen, ready again', async () => {
  const parent = tempDir('health-tmpfs')
  const mnt = path.join(parent, 'mnt')
  fs.mkdirSync(mnt)
  const kb = 256 + (SEED % 256)
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${kb}k`, 'tmpfs', mnt], { stdio: 'pipe' })
  let sink: AuditSink | undefined
  const server = http.createServer((req, res) => {
    if (!healthHandler(() => sink)(req, res)) {
      res.statusCode = 404
      res.end()
    }
  })
  try {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const ready = readinessCheck(() => sink)
    const live = livenessCheck(() => sink)
    // Before any sink: not ready, alive.
    assert.is((await probe(base + HEALTH_PATHS.ready)).status, 503)
    assert.is((await probe(base + HEALTH_PATHS.live)).status, 200)
    const opts = { segmentBytesMax: 64 * 1024, batchBytesMax: 8 * 1024, eventBytesMax: 4096 }
    sink = await AuditSink.open({ dir: mnt, ...opts })
    assert.is((await probe(base + HEALTH_PATHS.ready)).status, 200)
    const acked: number[] = []
    let failed = false
    for (let i = 0; i < 20_000 && !failed; i += 16) {
      const out = await Promise.allSettled(
        Array.from({ length: 16 }, (_, k) => sink!.emit(ev(i + k, { pad: 'd'.repeat(300) }))),
      )
      for (const o of out) if (o.status === 'fulfilled') acked.push(o.value.seq)
      failed = out.some((o) => o.status === 'rejected')
    }
    assert.ok(failed, `a ${kb} KiB tmpfs never filled up`)
    const h = sink.health()
    assert.is(h.status, 'fail')
    assert.is(h.reasons[0]!.code, 'disk-full', JSON.stringify(h.reasons))
    assert.is(h.live, true)
    const r = await probe(base + HEALTH_PATHS.ready)
    assert.is(r.status, 503)
    assert.is(r.body.reasons[0]!.code, 'disk-full')
    assert.is((await probe(base + HEALTH_PATHS.live)).status, 200, 'liveness must not fail on a full disk')
    const e = await ready().catch((x: { code?: string; details?: { reasons?: string } }) => x)
    assert.is((e as { code?: string }).code, 'ERR_AUDIT_UNHEALTHY')
    assert.is((e as { details?: { reasons?: string } }).details?.reasons, 'disk-full')
    assert.is((await live()).status, 'fail', 'liveness resolves (passes) with the failing health')
    // Room again, and the app reopens: the helpers see the new sink.
    await sink.close().catch(() => undefined)
    execFileSync('mount', ['-o', `remount,size=${kb * 8}k`, mnt], { stdio: 'pipe' })
    sink = await AuditSink.open({ dir: mnt, ...opts })
    assert.is((await probe(base + HEALTH_PATHS.ready)).status, 200)
    assert.is((await ready()).status, 'pass')
    const after = await sink.emit(ev(-1))
    assert.ok(after.seq > Math.max(0, ...acked))
    await sink.close()
    sink = undefined
    const seqs = new Set<number>()
    for await (const rec of readLog(mnt)) seqs.add(rec.seq)
    for (const s of acked) assert.ok(seqs.has(s), `acknowledged seq ${s} lost on the full disk`)
  } finally {
    server.close()
    await sink?.close().catch(() => undefined)
    execFileSync('umount', [mnt], { stdio: 'pipe' })
  }
})

test('draining (graceful shutdown) makes readiness fail while the sink is still open; liveness stays', async () => {
  const sink = await AuditSink.open({ dir: tempDir('health-drain') })
  try {
    let draining = false
    const ready = readinessCheck(sink, { draining: () => draining })
    assert.is((await ready()).status, 'pass')
    draining = true
    const e = await ready().catch((x: { code?: string }) => x)
    assert.is((e as { code?: string }).code, 'ERR_AUDIT_UNHEALTHY')
    assert.is((await livenessCheck(sink, { draining: () => draining })()).live, true)
  } finally {
    await sink.close()
  }
})

test('replication lag (when a source is given) warns, then fails readiness', async () => {
  const sink = await AuditSink.open({ dir: tempDir('health-lag') })
  try {
    let lag = 0
    const ready = readinessCheck(sink, {
      replication: () => ({ s3: lag }),
      replicationWarnS: 10,
      replicationFailS: 100,
    })
    assert.is((await ready()).status, 'pass')
    lag = 50
    const warn = await ready()
    assert.is(warn.status, 'warn')
    assert.is(warn.reasons[0]!.code, 'replication-lag')
    lag = 500
    assert.is(((await ready().catch((x) => x)) as { code?: string }).code, 'ERR_AUDIT_UNHEALTHY')
  } finally {
    await sink.close()
  }
})

test('a writer thread that is gone fails liveness (a restart cures it)', async () => {
  const sink = await AuditSink.open({ dir: tempDir('health-gone') })
  try {
    await sink.emit(ev(1))
    // Terminate the writer from outside, as a crash would: the sink fails WRITER_CRASHED.
    const worker = (sink as unknown as { worker: { terminate(): Promise<number> } }).worker
    await worker.terminate()
    for (let i = 0; i < 500 && sink.health().state === 'open'; i++) await new Promise((r) => setTimeout(r, 10))
    const h = sink.health()
    assert.is(h.reasons[0]!.code, 'writer-gone', JSON.stringify(h.reasons))
    assert.is(h.live, false)
    assert.is(((await livenessCheck(sink)().catch((x) => x)) as { code?: string }).code, 'ERR_AUDIT_UNHEALTHY')
  } finally {
    await sink.close().catch(() => undefined)
  }
})

test.run()
