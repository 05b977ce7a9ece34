// logStats' byHour: labels and order for every timestamp an event may carry,
// including years past 9999 and before year 0 (ISO 8601 extended years, which
// used to be cut to '+275760-09-13' and sorted as strings, before year 1970).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { logStats } from '../../lib/index.js'
import { tracked } from '../helpers/tracked.js'

const t = tracked('stats')
test.after(() => t.cleanup())

test('byHour: extended years keep their sign and digits, and hours are in time order', async () => {
  const dir = t.freshDir()
  const sink = await t.openSink({ dir })
  const times = [
    8.64e15, // +275760-09-13T00:00:00.000Z, the last ms a Date holds
    8.64e15 - 1, // +275760-09-12T23:59:59.999Z
    Date.UTC(2026, 0, 31, 13, 5),
    Date.UTC(2026, 0, 31, 13, 55),
    Date.UTC(10000, 0, 1, 0, 0), // +010000-01-01T00
    -62_198_755_200_000 + 3_600_000 * 5, // -000001-01-01T05 (ISO year -1)
    -8.64e15, // -271821-04-20T00:00:00.000Z, the first
  ]
  for (const ts of times)
    await sink.emit({ timestamp: ts, level: 'Information', messageTemplate: 'at {T}', properties: { T: ts } })
  await sink.close()
  const s = await logStats(dir)
  assert.ok(s.ok)
  assert.equal(s.byHour, [
    { hour: '-271821-04-20T00', events: 1 },
    { hour: '-000001-01-01T05', events: 1 },
    { hour: '2026-01-31T13', events: 2 },
    { hour: '+010000-01-01T00', events: 1 },
    { hour: '+275760-09-12T23', events: 1 },
    { hour: '+275760-09-13T00', events: 1 },
  ])
  assert.is(s.firstTime, '-271821-04-20T00:00:00.000Z')
  assert.is(s.lastTime, '+275760-09-13T00:00:00.000Z')
})

test.run()
