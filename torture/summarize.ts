/**
 * Merge campaign summaries (JSON written by `mtlog-audit torture --json`) into
 * the markdown table docs/torture.md publishes:
 *   node dist/torture/summarize.js torture/results/*.json
 */

import fs from 'node:fs'
import type { CampaignSummary } from './runner.js'

const files = process.argv.slice(2)
const rows = files.flatMap((f) => (JSON.parse(fs.readFileSync(f, 'utf8')) as CampaignSummary).scenarios.map((s) => ({ ...s, file: f })))
const n = (x: number): string => x.toLocaleString('en-US', { maximumFractionDigits: 1 })
console.log('| scenario | iterations | real SIGKILLs | states checked | events acked | records recovered | failures | seconds | it/s | states/s |')
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
for (const s of rows) {
  console.log(`| ${s.name} | ${n(s.iterations)} | ${n(s.kills)} | ${n(s.crashStates)} | ${n(s.acked)} | ${n(s.recovered)} | ${s.failures.length} | ${n(s.seconds)} | ${n(s.iterationsPerSecond)} | ${n(s.statesPerSecond)} |`)
}
const t = (k: 'iterations' | 'kills' | 'crashStates' | 'acked' | 'recovered' | 'seconds'): number => rows.reduce((a, s) => a + s[k], 0)
console.log(`| **total** | ${n(t('iterations'))} | ${n(t('kills'))} | ${n(t('crashStates'))} | ${n(t('acked'))} | ${n(t('recovered'))} | ${rows.reduce((a, s) => a + s.failures.length, 0)} | ${n(t('seconds'))} | | |`)
console.log('')
for (const s of rows) console.log(`- **${s.name}**: ${Object.entries(s.notes).map(([k, v]) => `${k} ${n(v)}`).join('; ')}${s.skipped.length ? `; skipped: ${[...new Set(s.skipped)].join('; ')}` : ''}`)
