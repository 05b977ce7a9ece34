// Crash states the v2 torture runner found failing on 2026-12-02, kept as
// fixtures and re-checked with `mtlog-audit torture --check-state`:
// - PowerLoss seeds 1704997978, 2104581887, 2140529849: a genuine torn write
//   was refused as corrupt (the torn-write rule wanted a zero run to start and
//   end on a sector boundary; the records' own zero bytes lengthen it);
// - ByzantineStorage seeds 437177415, 1939204323: with a mirror, a seq only
//   the torn copy showed was handed to a new event (reconcile kept the lost
//   range of the copy that was ahead).
//
// The five re-checks run in one node process (test/helpers/cli-many.ts: the
// CLI's real entry point, evaluated afresh per state), not a process each.
import { readdirSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { cliMany } from '../helpers/cli-many.js'
import type { CliResult } from '../helpers/cli-run.js'

const STATES = fileURLToPath(new URL('../../../test/fixtures/torture-states/', import.meta.url))
const names = readdirSync(STATES).sort()
let checked: Promise<CliResult[]> | undefined
const results = (): Promise<CliResult[]> =>
  (checked ??= cliMany(
    names.map((name) => ['torture', '--check-state', path.join(STATES, name)]),
    path.join(os.tmpdir(), `mtlog-states-${process.pid}.json`),
  ))

names.forEach((name, k) => {
  test(`torture state ${name} passes the checker`, async () => {
    const r = (await results())[k]!
    assert.is(r.code, 0, `${r.out}\n${r.err}`)
    assert.match(r.out, /passes now/)
  })
})

test.run()
