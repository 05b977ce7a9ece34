// Smoke test on the current LTS (Node 24), fetched from the npm registry as
// the `node` package: open, emit from the main thread and a worker thread,
// close, verify. Skipped only when MTLOG_SKIP_NODE24=1 (stated in the output).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawnSync } from 'node:child_process'
import { tempDir } from '../helpers/dirs.js'

const SMOKE = new URL('../helpers/smoke.js', import.meta.url).pathname

test('the library works on Node 24: emit from two threads, close, verify', () => {
  if (process.env.MTLOG_SKIP_NODE24 === '1') {
    console.log('node24 smoke skipped: MTLOG_SKIP_NODE24=1')
    return
  }
  const dir = tempDir('node24')
  const r = spawnSync('npx', ['-y', 'node@24', SMOKE, dir], { encoding: 'utf8', timeout: 300_000 })
  assert.is(r.status, 0, `exit ${r.status}\n${r.stdout}\n${r.stderr}`)
  const res = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as {
    node: string
    ok: boolean
    records: number
    emitted: number
  }
  assert.match(res.node, /^v24\./)
  assert.is(res.ok, true)
  assert.is(res.records, res.emitted)
})

test.run()
