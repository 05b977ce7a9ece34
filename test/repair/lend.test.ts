// recover lends records instead of copying them (lib/repair/raw-copy.ts,
// recover.ts): each record is a view into salvage's window, which the next
// read overwrites. The rewriter must be done with each buffer before it asks
// for the next one: rawSegment and append get buffers that are overwritten
// as soon as the next is pulled, of sizes below, at and above its write
// buffer (WRITE_BUFFER_BYTES), in a seeded order, and what lands in the file
// must be what each buffer held when it was lent. Replay with LEND_SEED=<seed>.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { readLog, verifyLog } from '../../lib/index.js'
import { WalRewriter } from '../../lib/repair/index.js'
import { WRITE_BUFFER_BYTES } from '../../lib/repair/rewrite.js'
import { encodeSegmentHeader, GENESIS_HASH, RecordFlag, RecordType, segmentFileName } from '../../shared/format.js'
import { tempDir } from '../helpers/dirs.js'
import { mulberry32, seedFrom } from '../helpers/load.js'

const seed = seedFrom('LEND_SEED')
console.log(`lend seed=${seed} (replay with LEND_SEED=${seed})`)
const rnd = mulberry32(seed)

/** Sizes around the write buffer's edges and far from them, shuffled with the seed. */
function sizes(): number[] {
  const w = WRITE_BUFFER_BYTES
  const xs = [1, 100, 1000, w - 1, w, w + 1, 3 * w + 7, 64 * 1024]
  for (let i = 0; i < 24; i++) xs.push(1 + Math.floor(rnd() * 200_000))
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1))
    ;[xs[i], xs[j]] = [xs[j]!, xs[i]!]
  }
  return xs
}

/** Lend views of one scratch buffer: buffer k is filled with the byte k + 1, and overwritten when the next is pulled. */
function* lent(ns: number[], scratch: Buffer): Generator<Buffer> {
  for (const [k, n] of ns.entries()) {
    const view = scratch.subarray(0, n)
    view.fill((k + 1) & 0xff)
    yield view
    scratch.fill(0xee) // what a window refill does to the bytes lent before
  }
}

test('rawSegment writes each lent buffer as it was when lent, whatever its size against the write buffer', async () => {
  const ns = sizes()
  const dir = tempDir('lend-raw')
  const header = encodeSegmentHeader({
    firstSeq: 1,
    createdMs: 1_700_000_000_000,
    chainStart: Buffer.from(GENESIS_HASH),
    salt: randomBytes(8),
    logId: randomBytes(16),
    batchBytesMax: 1 << 20,
  })
  const w = new WalRewriter(dir)
  const last = {
    seq: ns.length,
    lastSeq: ns.length,
    type: RecordType.SEAL,
    flags: RecordFlag.COMMIT | RecordFlag.SEALED,
    hash: Buffer.alloc(32),
  }
  await w.rawSegment(segmentFileName(1), header, lent(ns, Buffer.alloc(Math.max(...ns))), last, 1)
  const file = fs.readFileSync(path.join(dir, segmentFileName(1)))
  assert.is(file.length, header.length + ns.reduce((a, n) => a + n, 0), `seed ${seed}`)
  assert.ok(file.subarray(0, header.length).equals(header))
  let at = header.length
  for (const [k, n] of ns.entries()) {
    const part = file.subarray(at, at + n)
    const bad = part.findIndex((b) => b !== ((k + 1) & 0xff))
    assert.is(bad, -1, `seed ${seed}: buffer ${k} (${n} bytes) differs at its byte ${bad}`)
    at += n
  }
  assert.is(w.records, ns.length)
})

test('append copies a lent payload before it returns: every event reads back as it was lent', async () => {
  const ns = sizes().map((n) => Math.min(n, 200_000))
  const dir = tempDir('lend-append')
  const w = new WalRewriter(dir)
  const scratch = Buffer.alloc(Math.max(...ns) + 256)
  for (const [k, n] of ns.entries()) {
    // An event whose Pad is n characters of one letter per k; the scratch is overwritten after each append.
    const json = `{"level":"Information","messageTemplate":"lent {K}","properties":{"K":${k},"Pad":"${String.fromCharCode(97 + (k % 26)).repeat(n)}"}}`
    const len = scratch.write(json)
    assert.is(len, json.length, 'the event fits the scratch buffer')
    await w.append({ type: RecordType.EVENT, timeMs: 1_700_000_000_000 + k, payload: scratch.subarray(0, len) })
    scratch.fill(0xee)
  }
  await w.finish(1_700_000_000_000 + ns.length)
  const v = await verifyLog(dir)
  assert.ok(v.ok, JSON.stringify(v.firstBad))
  let k = 0
  for await (const r of readLog(dir)) {
    assert.is(r.event.properties.K, k, `seed ${seed}`)
    assert.is(r.event.properties.Pad, String.fromCharCode(97 + (k % 26)).repeat(ns[k]!), `seed ${seed}: event ${k}`)
    k++
  }
  assert.is(k, ns.length)
})

test.run()
