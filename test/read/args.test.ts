// Hostile arguments to every public read function (and recoverLog): each is
// ERR_AUDIT_OPTION_INVALID naming the argument, with a bounded message, before
// anything is read or written; options are read once (lib/read/args.ts).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import path from 'node:path'
import {
  AuditError,
  exportLog,
  LogWatcher,
  logStats,
  readLog,
  recoverLog,
  replay,
  salvageSegments,
  verifyLog,
} from '../../lib/index.js'
import { tracked } from '../helpers/tracked.js'

const t = tracked('args')
test.after(() => t.cleanup())

let dir = ''
test.before(async () => {
  dir = t.freshDir()
  const sink = await t.openSink({ dir })
  for (let i = 1; i <= 3; i++) await sink.emit({ level: 'Information', messageTemplate: 'e{N}', properties: { N: i } })
  await sink.close()
})

/** Run a call (a promise, a generator or a constructor) to its first step; return what it threw. */
async function thrown(call: () => unknown): Promise<unknown> {
  try {
    const r = call()
    if (r !== null && typeof r === 'object' && Symbol.asyncIterator in r) await (r as AsyncGenerator).next()
    else await r
  } catch (err) {
    return err
  }
  return undefined
}

async function optionInvalid(what: string, call: () => unknown, option?: string): Promise<void> {
  const err = await thrown(call)
  assert.ok(err instanceof AuditError, `${what}: ${String(err)}`)
  const e = err as AuditError
  assert.is(e.code, 'ERR_AUDIT_OPTION_INVALID', `${what}: ${e.message}`)
  if (option !== undefined) assert.is(e.details?.option, option, `${what}: ${e.message}`)
  assert.ok(e.message.length < 300, `${what}: a message of ${e.message.length} chars`)
}

const huge = 'x'.repeat(10 * 2 ** 20)
const throwingGetter = (key: string): object =>
  Object.defineProperty({}, key, {
    enumerable: true,
    get: () => {
      throw new Error('getter')
    },
  })

test('readLog and verifyLog: a directory that is not a path string', async () => {
  for (const bad of [5, undefined, null, '', {}, 'a\0b', 'd'.repeat(5000)]) {
    await optionInvalid(`readLog(${String(bad)})`, () => readLog(bad as never), 'dir')
    await optionInvalid(`verifyLog(${String(bad)})`, () => verifyLog(bad as never), 'dir')
  }
})

test('salvageSegments: a directory or mirror that is not a path string (it used to throw a raw TypeError)', async () => {
  for (const bad of [5, null, '', {}, 'a\0b', 'd'.repeat(5000)]) {
    await optionInvalid(`salvageSegments(${String(bad)})`, () => salvageSegments(bad as never), 'dir')
    await optionInvalid(`salvageSegments(dir, ${String(bad)})`, () => salvageSegments(dir, bad as never), 'mirror')
  }
  await optionInvalid('salvageSegments(undefined)', () => salvageSegments(undefined as never), 'dir')
  let segments = 0
  for await (const seg of salvageSegments(dir)) segments += [...seg.items].length > 0 ? 1 : 0
  assert.is(segments, 1, 'a plain directory is still salvaged')
})

test('readLog: fromSeq NaN (which used to yield nothing), bad types, getters that throw', async () => {
  await optionInvalid('fromSeq NaN', () => readLog(dir, { fromSeq: NaN }), 'fromSeq')
  await optionInvalid('toSeq 1.5', () => readLog(dir, { toSeq: 1.5 }), 'toSeq')
  await optionInvalid('fromSeq "2"', () => readLog(dir, { fromSeq: '2' as never }), 'fromSeq')
  await optionInvalid('fromSeq 0', () => readLog(dir, { fromSeq: 0 }), 'fromSeq')
  await optionInvalid('onSegment 5', () => readLog(dir, { onSegment: 5 as never }), 'onSegment')
  await optionInvalid('options 5', () => readLog(dir, 5 as never), 'options')
  await optionInvalid('a getter that throws', () => readLog(dir, throwingGetter('fromSeq')), 'fromSeq')
  const trap = new Proxy(
    {},
    {
      ownKeys: () => {
        throw new Error('trap')
      },
    },
  )
  await optionInvalid('a Proxy whose ownKeys throws', () => readLog(dir, trap))
  await optionInvalid('verifyLog onSegment', () => verifyLog(dir, { onSegment: 'x' as never }), 'onSegment')
})

test('readLog reads its options once: a getter that changes answers is asked once', async () => {
  let reads = 0
  const options = Object.defineProperty({}, 'fromSeq', { enumerable: true, get: () => (reads++ === 0 ? 2 : NaN) })
  const seqs: number[] = []
  for await (const r of readLog(dir, options)) seqs.push(r.seq)
  assert.is(reads, 1)
  assert.is(seqs[0]! >= 2 && seqs.length >= 2, true, seqs.join())
  assert.not.ok(seqs.includes(1))
})

test('replay: bad filters and options', async () => {
  await optionInvalid('replay(5)', () => replay(5 as never), 'dir')
  await optionInvalid('filters null', () => replay(dir, null as never), 'filters')
  await optionInvalid('from an object', () => replay(dir, { from: {} as never }), 'from')
  await optionInvalid('to a 10-MB string', () => replay(dir, { to: huge }), 'to')
  await optionInvalid('level 5', () => replay(dir, { level: 5 as never }), 'level')
  await optionInvalid('level a 10-MB string', () => replay(dir, { level: huge }), 'level')
  await optionInvalid('where a string', () => replay(dir, { where: 'a=1' as never }), 'where')
  await optionInvalid('where without =', () => replay(dir, { where: [huge] }), 'where')
  await optionInvalid('where with no property', () => replay(dir, { where: ['  =x'] }), 'where')
  await optionInvalid('where of 2^32 - 1 slots', () => replay(dir, { where: new Array(2 ** 32 - 1) }), 'where')
  await optionInvalid('fromSeq NaN', () => replay(dir, { fromSeq: NaN }), 'fromSeq')
  await optionInvalid('salvage "yes"', () => replay(dir, {}, { salvage: 'yes' as never }), 'salvage')
  await optionInvalid('onLost 1', () => replay(dir, {}, { onLost: 1 as never }), 'onLost')
  let n = 0
  for await (const r of replay(dir, { where: ['N!=2'], level: '>=Debug' })) n += r.seq > 0 ? 1 : 0
  assert.is(n, 2, 'good filters still work')
})

test('exportLog: bad arguments are refused before the output is touched', async () => {
  const out = path.join(t.freshDir(), 'out.jsonl')
  await optionInvalid('exportLog(5)', () => exportLog(5 as never, { format: 'jsonl', output: out }), 'dir')
  await optionInvalid('no options', () => exportLog(dir, undefined as never), 'options')
  await optionInvalid('a 10-MB format', () => exportLog(dir, { format: huge as never, output: out }), 'format')
  await optionInvalid('output 5', () => exportLog(dir, { format: 'jsonl', output: 5 as never }), 'output')
  await optionInvalid(
    'force "yes"',
    () => exportLog(dir, { format: 'jsonl', output: out, force: 'y' as never }),
    'force',
  )
  await optionInvalid(
    'filters with a bad fromSeq',
    () => exportLog(dir, { format: 'jsonl', output: out, filters: { fromSeq: -1 } }),
    'fromSeq',
  )
  await optionInvalid('rowGroupRows 0', () => exportLog(dir, { format: 'parquet', output: out, rowGroupRows: 0 }))
  assert.not.ok(fs.existsSync(out))
  assert.equal(fs.readdirSync(path.dirname(out)), [])
})

test('logStats, LogWatcher, recoverLog: bad arguments', async () => {
  await optionInvalid('logStats(null)', () => logStats(null as never), 'dir')
  await optionInvalid('logStats onBytes', () => logStats(dir, { onBytes: 1 as never }), 'onBytes')
  await optionInvalid('new LogWatcher(5)', () => new LogWatcher(5 as never), 'dir')
  await optionInvalid('windowMs -1', () => new LogWatcher(dir, { windowMs: -1 }), 'windowMs')
  const output = path.join(t.freshDir(), 'recovered')
  await optionInvalid('recoverLog(5)', () => recoverLog(5 as never, { output }), 'dir')
  await optionInvalid('no options', () => recoverLog(dir, undefined as never), 'options')
  await optionInvalid('output 5', () => recoverLog(dir, { output: 5 as never }), 'output')
  await optionInvalid('mirror {}', () => recoverLog(dir, { output, mirror: {} as never }), 'mirror')
  await optionInvalid('segmentBytesMax "big"', () => recoverLog(dir, { output, segmentBytesMax: 'big' as never }))
  await optionInvalid('a getter that throws', () => recoverLog(dir, throwingGetter('output') as never), 'output')
  assert.not.ok(fs.existsSync(output))
})

test('the checks refuse nothing good: every function still works on a real log with plain options', async () => {
  assert.ok((await verifyLog(dir, {})).ok)
  assert.ok((await logStats(dir, {})).records >= 3)
  const watcher = new LogWatcher(dir, { windowMs: 1000 })
  assert.ok((await watcher.poll()).committedSeq >= 3)
})

test('recoverLog with plain options still recovers (its checks refuse nothing good)', async () => {
  const output = path.join(t.freshDir(), 'recovered')
  const report = await recoverLog(dir, { output })
  assert.ok(report.ok, JSON.stringify(report.records))
  assert.ok((await verifyLog(output)).ok)
})

test.run()
