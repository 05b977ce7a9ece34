// Crash states the v2 torture runner found failing on 2026-12-02, kept as
// fixtures and re-checked with `mtlog-audit torture --check-state`:
// - PowerLoss seeds 1704997978, 2104581887, 2140529849: a genuine torn write
//   was refused as corrupt (the torn-write rule wanted a zero run to start and
//   end on a sector boundary; the records' own zero bytes lengthen it);
// - ByzantineStorage seeds 437177415, 1939204323: with a mirror, a seq only
//   the torn copy showed was handed to a new event (reconcile kept the lost
//   range of the copy that was ahead).
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { CLI } from '../helpers/cli-run.js'

const STATES = fileURLToPath(new URL('../../../test/fixtures/torture-states/', import.meta.url))

for (const name of readdirSync(STATES).sort()) {
  test(`torture state ${name} passes the checker`, () => {
    const r = spawnSync(process.execPath, [CLI, 'torture', '--check-state', path.join(STATES, name)], {
      encoding: 'utf8',
      timeout: 120_000,
    })
    assert.is(r.status, 0, `${r.stdout}\n${r.stderr}`)
    assert.match(r.stdout, /passes now/)
  })
}

test.run()
