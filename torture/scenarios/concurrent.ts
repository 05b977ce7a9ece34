/**
 * ConcurrentCorruption: while three producer threads keep emitting into a live
 * sink (real disk, small segments so it rotates), the runner damages a sealed
 * segment (one flipped bit), checks that verifyLog — run from this thread,
 * beside the live writer — reports exactly that record, then puts the byte back.
 * Once per iteration the check is made by another process too (the CLI's
 * `verify --json`). The writer must not notice: every emit resolves, close is
 * clean, and the final log holds every acknowledged event.
 */

import { execFile } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { Worker } from 'node:worker_threads'
import { AuditSink, verifyLog } from '../../lib/index.js'
import { type Ack, checkLog, parseHeader, parseWal } from '../checker.js'
import { makeOracle } from '../events.js'
import type { ProducerJob, ProducerMsg } from '../producer-worker.js'
import { int } from '../prng.js'
import { emptyResult, type IterCtx, type IterResult, note, type Scenario } from './common.js'

const PRODUCER = new URL('../producer-worker.js', import.meta.url)
const CLI = fileURLToPath(new URL('../../lib/cli/main.js', import.meta.url))
const run = promisify(execFile)

function readWal(dir: string): Map<string, Buffer> {
  const m = new Map<string, Buffer>()
  for (const n of fs.readdirSync(dir)) if (n.endsWith('.wal')) m.set(n, fs.readFileSync(path.join(dir, n)))
  return m
}

export const concurrent: Scenario = {
  name: 'ConcurrentCorruption',
  description:
    'sealed segments damaged while three threads keep emitting: verify (this thread, and another process) finds it; the live writer is not disturbed',
  async run(ctx: IterCtx): Promise<IterResult> {
    const r = emptyResult()
    const dir = path.join(ctx.workDir, 'wal')
    const salt = ctx.seed
    const oracle = makeOracle({ salt })
    const sink = await AuditSink.open({ dir, eventBytesMax: 1024, batchBytesMax: 8192, segmentBytesMax: 64 * 1024 })
    const per = ctx.quick ? int(ctx.rng, 600, 1200) : int(ctx.rng, 1500, 4000)
    const acks: Ack[] = []
    const errors: string[] = []
    const workers = [1, 2, 3].map((p) => {
      const job: ProducerJob = { handle: sink.handle(), p, count: per, inflight: int(ctx.rng, 4, 64), salt }
      const w = new Worker(PRODUCER, { workerData: { job } })
      return new Promise<void>((resolve, reject) => {
        w.on('message', (m: ProducerMsg) => {
          if (m.t === 'acks')
            for (let i = 0; i < m.pairs.length; i += 2) acks.push({ seq: m.pairs[i]!, p, n: m.pairs[i + 1]! })
          else if (m.t === 'error') errors.push(`producer ${p} emit ${m.n}: ${m.code} ${m.message}`)
          else resolve()
        })
        w.once('error', reject)
        w.once('exit', () => resolve())
      })
    })
    const all = Promise.all(workers)
    let finished = false
    void all.then(
      () => (finished = true),
      () => (finished = true),
    )
    let cliDone = false
    while (!finished) {
      await new Promise((res) => setTimeout(res, int(ctx.rng, 1, 15)))
      const segs = fs
        .readdirSync(dir)
        .filter((n) => n.endsWith('.wal'))
        .sort()
      if (segs.length < 3) continue
      const seg = segs[int(ctx.rng, 0, segs.length - 3)]! // sealed: not the active one, nor the one before it
      const file = path.join(dir, seg)
      const orig = fs.readFileSync(file)
      const at = int(ctx.rng, 0, orig.length - 1)
      // Where the damaged byte lives: the header, or the record that holds it.
      const h = parseHeader(orig)
      const headerBytes = typeof h === 'string' ? 80 : h.bytes
      let expect = 0
      if (at >= headerBytes) {
        let off = headerBytes
        while (off < orig.length) {
          const end = off + 64 + orig.readUInt32LE(off + 8)
          if (at < end) break
          off = end
        }
        expect = off
      }
      const bad = Buffer.from(orig)
      bad[at] = bad[at]! ^ (1 << int(ctx.rng, 0, 7))
      const fd = fs.openSync(file, 'r+')
      fs.writeSync(fd, bad, at, 1, at)
      fs.closeSync(fd)
      try {
        r.crashStates++
        const v = await verifyLog(dir)
        const where = `bit flip in live log ${seg} at byte ${at} (record at ${expect})`
        if (v.ok || v.firstBad?.segment !== seg || v.firstBad.offset !== expect) {
          // An earlier segment cannot be bad (we restore every flip), so anything else is a miss.
          r.failures.push({
            message: `verify beside the live writer: ${v.ok ? 'missed the damage' : `named ${v.firstBad?.segment}@${v.firstBad?.offset}`}`,
            detail: where,
          })
        } else note(r, 'detected and located beside the live writer')
        if (!cliDone) {
          cliDone = true
          const out = await run(process.execPath, [CLI, 'verify', '--json', dir]).then(
            (x) => ({ code: 0, stdout: x.stdout }),
            (e: { code?: number; stdout?: string }) => ({ code: e.code ?? -1, stdout: e.stdout ?? '' }),
          )
          let rep: { firstBad?: { segment?: string; offset?: number } } = {}
          try {
            rep = JSON.parse(out.stdout) as typeof rep
          } catch {
            // reported below
          }
          if (out.code !== 1 || rep.firstBad?.segment !== seg || rep.firstBad.offset !== expect)
            r.failures.push({
              message: `mtlog-audit verify (another process) exited ${out.code}, firstBad ${JSON.stringify(rep.firstBad)}; expected exit 1 at ${seg}@${expect}`,
              detail: where,
            })
          else note(r, 'detected by another process (CLI)')
        }
      } finally {
        const fd2 = fs.openSync(file, 'r+')
        fs.writeSync(fd2, orig, at, 1, at)
        fs.closeSync(fd2)
      }
      if (r.failures.length > 0) break
    }
    await all
    await sink.close().catch((e: Error) => errors.push(`close: ${e.message}`))
    r.acked = acks.length
    if (errors.length > 0)
      r.failures.push({ message: `the live writer was disturbed: ${errors[0]}`, detail: `${errors.length} errors` })
    if (acks.length !== per * 3) r.failures.push({ message: `${per * 3 - acks.length} emits never resolved` })
    const c = checkLog(parseWal(readWal(dir)), {
      oracle,
      acked: acks,
      allowTail: false,
      expectEvents: per * 3,
      closed: true,
    })
    r.recovered = c.records
    if (!c.ok) r.failures.push({ message: `final log: ${c.failures[0]}` })
    return r
  },
}
