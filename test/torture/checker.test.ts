// The torture machinery checked against itself: the simulated disk loses what
// a power loss loses, the independent checker catches every kind of loss and
// forgery it claims to, and a storage that acknowledges before it is durable is
// caught by the PowerLoss check (a runner whose checks pass with events missing
// proves nothing).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import os from 'node:os'
import path from 'node:path'
import fs from 'node:fs'
import { createHash } from 'node:crypto'
import { crc32c } from '../../shared/crc32c.js'
import { checkLog, parseWal } from '../../torture/checker.js'
import { ackedAt, recoverAndCheck } from '../../torture/crashcheck.js'
import { checkEvidence, writeEvidence } from '../../torture/evidence.js'
import { makeOracle } from '../../torture/events.js'
import { mulberry32 } from '../../torture/prng.js'
import { POLICIES, SimFs } from '../../torture/sim-fs.js'
import { runSim } from '../../torture/workload.js'
import { Replayer } from '../../torture/scenarios/common.js'

const journal = new SharedArrayBuffer(16 * 1024 * 1024)
const base = fs.mkdtempSync(path.join(os.tmpdir(), 'mtlog-torture-self-'))
const D = '/d'

test('SimFs: unsynced writes, creates and renames are lost on power loss; synced ones stay', () => {
  const f = SimFs.from(undefined)
  f.mkdir(D)
  const a = f.create(`${D}/a`)
  f.write(a, 0, Buffer.from('hello'))
  f.sync(a)
  f.syncDir(D)
  f.write(a, 5, Buffer.from(' world'))
  const b = f.create(`${D}/b.tmp`)
  f.write(b, 0, Buffer.from('x'))
  f.sync(b)
  f.rename(`${D}/b.tmp`, `${D}/b`)
  const lost = f.crash(POLICIES.dropAll!, () => 0.5).get(D)!
  assert.equal([...lost.keys()], ['a'])
  assert.is(lost.get('a')!.toString(), 'hello')
  const kept = f.crash(POLICIES.process!, () => 0.5).get(D)!
  assert.equal([...kept.keys()].sort(), ['a', 'b'])
  assert.is(kept.get('a')!.toString(), 'hello world')
  // A torn write keeps a prefix of the last write only.
  const torn = f
    .crash({ dirOps: 'none', keep: 1, reorder: false, tear: 'prefix' }, mulberry32(3))
    .get(D)!
    .get('a')!
    .toString()
  assert.ok(torn.startsWith('hello') && ' world'.startsWith(torn.slice(5)), torn)
})

async function cleanRun(
  seed: number,
): Promise<{
  files: Map<string, Buffer>
  run: Awaited<ReturnType<typeof runSim>>
  oracle: ReturnType<typeof makeOracle>
  dir: string
}> {
  const dir = path.join(base, `w${seed}`)
  const oracle = makeOracle({ salt: seed })
  const run = await runSim({ dir, oracle, producer: 1, count: 80, rng: mulberry32(seed), journal })
  const f = SimFs.from(undefined)
  for (const op of run.ops) f.apply(op)
  return { files: f.volatileFiles().get(dir)!, run, oracle, dir }
}

/** Rewrite record i's payload and re-seal everything after it (valid CRCs and chain): a forgery only the oracle can catch. */
function forge(files: Map<string, Buffer>, mutate: (payload: Buffer) => Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>()
  let prev: Buffer = Buffer.alloc(32)
  const names = [...files.keys()].filter((n) => n.endsWith('.wal')).sort()
  let first = true
  for (const name of names) {
    const b = files.get(name)!
    const parts: Buffer[] = []
    const hdr = Buffer.from(b.subarray(0, 80))
    prev.copy(hdr, 32)
    hdr.writeUInt32LE(crc32c(hdr.subarray(0, 72)), 72)
    parts.push(hdr)
    const seed = crc32c(hdr.subarray(64, 72))
    let off = 80
    while (off < b.length) {
      const len = b.readUInt32LE(off + 8)
      let payload: Buffer = Buffer.from(b.subarray(off + 64, off + 64 + len))
      if (first) {
        payload = mutate(payload)
        first = false
      }
      const rec = Buffer.alloc(64 + payload.length)
      b.copy(rec, 0, off, off + 32)
      rec.writeUInt32LE(payload.length, 8)
      payload.copy(rec, 64)
      prev.copy(rec, 32)
      const h = createHash('sha256').update(rec.subarray(8, 64)).update(payload).digest()
      h.copy(rec, 32)
      rec.writeUInt32LE(crc32c(rec.subarray(8), seed), 4)
      prev = h
      parts.push(rec)
      off += 64 + len
    }
    out.set(name, Buffer.concat(parts))
  }
  return out
}

test('checker: a clean log passes; a missing acked event, a forged event and a reordered log do not', async () => {
  const { files, run, oracle } = await cleanRun(11)
  const ok = checkLog(parseWal(files), { oracle, acked: run.acks, allowTail: false, expectRecords: run.acks.length })
  assert.ok(ok.ok, ok.failures.join(' | '))
  // Loss: cut the last segment back by one batch.
  const names = [...files.keys()].filter((n) => n.endsWith('.wal')).sort()
  const last = names.at(-1)!
  const parsed = parseWal(files)
  const lastRec = parsed.records.at(-1)!
  const shorter = new Map(files)
  const cutAt = parsed.records.filter((r) => r.segment === last && r.end < lastRec.end).at(-1)?.end ?? 80
  shorter.set(last, files.get(last)!.subarray(0, cutAt))
  const lost = checkLog(parseWal(shorter), { oracle, acked: run.acks, allowTail: false })
  assert.not.ok(lost.ok)
  assert.ok(
    lost.failures.some((m) => m.includes('is missing')),
    lost.failures.join(' | '),
  )
  // Forgery with valid CRCs and chain: an event that was never emitted.
  const forged = forge(files, (p) => Buffer.from(p.toString().replace('"pad":"', '"pad":"X')))
  const fr = checkLog(parseWal(forged), { oracle, acked: [], allowTail: false })
  assert.ok(parseWal(forged).problem === undefined, 'the forgery must be structurally valid')
  assert.not.ok(fr.ok)
  assert.ok(
    fr.failures.some((m) => m.includes('differs from what was emitted')),
    fr.failures.join(' | '),
  )
  // A flipped bit is structural damage.
  const flipped = new Map(files)
  const b = Buffer.from(files.get(names[0]!)!)
  b[200] = b[200]! ^ 4
  flipped.set(names[0]!, b)
  assert.not.ok(checkLog(parseWal(flipped), { oracle, acked: run.acks, allowTail: false }).ok)
})

test('mutation: a storage whose fdatasync reports success and persists nothing is caught by the PowerLoss check', async () => {
  const dir = path.join(base, 'lying')
  const oracle = makeOracle({ salt: 5 })
  const rng = mulberry32(5)
  // Every sync lies from the nth on (a disk cache that ignores flushes).
  let caught = 0
  for (let nth = 3; nth < 9; nth++) {
    const run = await runSim({
      dir,
      oracle,
      producer: 1,
      count: 40,
      rng,
      journal,
      sim: { byzantine: { lieSyncFrom: nth } },
    })
    const rep = new Replayer(undefined, run.ops)
    const fsEnd = rep.to(run.ops.length)
    const state = fsEnd.crash(POLICIES.dropAll!, rng)
    const acked = ackedAt(run.acks, run.ops.length)
    const res = recoverAndCheck(state, dir, oracle, acked)
    if (res.failures.some((m) => m.includes('is missing'))) {
      caught++
      // The saved state re-checks to exactly the same failures (exact replay).
      const file = writeEvidence(base, 'mutation', nth, res.failures[0]!, { dir, files: state, acked, salt: 5 })
      assert.equal(checkEvidence(file).failures, res.failures)
    }
  }
  assert.ok(
    caught > 0,
    'a lying fdatasync never lost an acknowledged event under power loss: the check would pass with events missing',
  )
})

test.after(() => fs.rmSync(base, { recursive: true, force: true }))
test.run()
