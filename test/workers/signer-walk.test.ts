// The signer's leaves (workers/signer/walk.ts appendLeaves): from the leaf ring
// (shared/leaf-ring.ts) while it holds them, from disk for the rest. Whatever
// mix a task gets, the tree is the one the log's bytes make; a slot the writer
// overwrote is a miss, never a wrong leaf; and the ring's hashes are really
// used (a wrong one changes the root, which is why the writer's must be right:
// test/integrity/*.test.ts verify every checkpoint against the log itself).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { AuditSink } from '../../lib/index.js'
import { CompactRange, leafHash } from '../../lib/integrity/index.js'
import { leafBytes } from '../../shared/format.js'
import { LeafRing } from '../../shared/leaf-ring.js'
import { appendLeaves, walkRecords } from '../../workers/signer/walk.js'
import { ev, tempDir } from '../helpers/dirs.js'

const dir = tempDir('signer-walk')
{
  const sink = await AuditSink.open({ dir })
  for (let i = 0; i < 300; i += 50) await Promise.all(Array.from({ length: 50 }, (_, k) => sink.emit(ev(i + k))))
  await sink.close()
}

/** Every record's [seq, lastSeq] and leaf hash, from disk. */
const records: { seq: number; lastSeq: number; hash: Buffer }[] = []
{
  // Computed from each record's content and the hash before it, not taken from its hash field.
  let prev = Buffer.alloc(32)
  await walkRecords(dir, 1, Number.MAX_SAFE_INTEGER - 1, (r) => {
    const hash = leafHash(leafBytes(r.type, r.seq, r.lastSeq, r.timeMs, prev, r.payload))
    prev = Buffer.from(r.hash)
    records.push({ seq: r.seq, lastSeq: r.lastSeq, hash })
  }).catch(() => undefined) // the walk ends past the last record: what it visited is the log
}
const lastSeq = records.at(-1)!.lastSeq

async function tree(ring?: LeafRing): Promise<{ root: string; fromRing: number; fromDisk: number }> {
  const range = CompactRange.empty()
  const r = await appendLeaves(dir, range, 1, lastSeq, undefined, undefined, ring)
  assert.is(r.covers, lastSeq)
  return { root: range.root().toString('hex'), fromRing: r.fromRing, fromDisk: r.fromDisk }
}

test('ring leaves, then disk: the same tree as from disk alone', async () => {
  assert.ok(records.length > 300, `${records.length} records (events, the open and close seals)`)
  const disk = await tree()
  assert.is(disk.fromDisk, records.length)
  const ring = new LeafRing(LeafRing.memory(512))
  for (const r of records.slice(0, 100)) ring.put(r.seq, r.lastSeq, r.hash)
  const mixed = await tree(ring)
  assert.is(mixed.fromRing, 100)
  assert.is(mixed.fromDisk, records.length - 100)
  assert.is(mixed.root, disk.root)
  for (const r of records) ring.put(r.seq, r.lastSeq, r.hash)
  const all = await tree(ring)
  assert.equal([all.fromRing, all.fromDisk], [records.length, 0])
  assert.is(all.root, disk.root)
})

test('a slot the writer overwrote is a miss: those leaves come from disk', async () => {
  const ring = new LeafRing(LeafRing.memory(8))
  for (const r of records.slice(0, 20)) ring.put(r.seq, r.lastSeq, r.hash) // seqs 1..12 overwritten by 9..20
  assert.is(ring.get(1, Buffer.alloc(32)), undefined)
  const t = await tree(ring)
  assert.equal([t.fromRing, t.fromDisk], [0, records.length])
  assert.is(t.root, (await tree()).root)
})

test("the ring's hashes are used as they are: a wrong one changes the root", async () => {
  const ring = new LeafRing(LeafRing.memory(512))
  for (const r of records.slice(0, 50)) ring.put(r.seq, r.lastSeq, r.hash)
  const wrong = Buffer.from(records[4]!.hash)
  wrong[0]! ^= 1
  ring.put(records[4]!.seq, records[4]!.lastSeq, wrong)
  assert.is.not((await tree(ring)).root, (await tree()).root)
})

test.run()
