/**
 * Add campaign pieces up (JSON written by `mtlog-audit torture --json`) into
 * the markdown docs/torture.md publishes:
 *   node dist/torture/summarize.js torture/results/campaign-2/*.json
 *
 * Pieces are lanes (`--shard k/K`) and continuations (`--from I`) of the same
 * campaign. An iteration is named by (seed, scenario, index); a piece that
 * repeats an index another piece already counted is refused (exit 1), so the
 * totals never count one iteration twice. Summaries written before sharding
 * existed ran indices 0 .. iterations-1.
 *
 * The last table groups pieces by the library they tested (torture/core-id.ts,
 * read from the git repository in the current directory): the campaign target
 * counts on one core, however many runner or docs commits its pieces span.
 */

import fs from 'node:fs'
import { pathToFileURL } from 'node:url'
import { coreId } from './core-id.js'
import type { CampaignSummary, ScenarioSummary } from './runner.js'

interface Piece extends ScenarioSummary {
  file: string
  seed: number
  commit: string
}

type Range = Pick<ScenarioSummary, 'iterations' | 'firstIndex' | 'nextIndex' | 'step'>

/** One past the last index a piece ran (summaries from before sharding ran 0 .. iterations-1). */
function nextIndexOf(s: Range): number {
  return s.nextIndex ?? (s.firstIndex ?? 0) + s.iterations * (s.step ?? 1)
}

export function indicesOf(s: Range): number[] {
  const step = s.step ?? 1
  const next = nextIndexOf(s)
  const out: number[] = []
  for (let i = s.firstIndex ?? 0; i < next; i += step) out.push(i)
  return out
}

/** Merge pieces per scenario; throws when two pieces share an iteration. */
export function mergePieces(
  pieces: Piece[],
): Map<string, { total: Omit<ScenarioSummary, 'description'>; pieces: Piece[] }> {
  const seen = new Map<string, string>()
  const out = new Map<string, { total: Omit<ScenarioSummary, 'description'>; pieces: Piece[] }>()
  for (const p of pieces) {
    const idx = indicesOf(p)
    if (idx.length !== p.iterations)
      throw new Error(`${p.file}: ${p.name} says ${p.iterations} iterations but its index range holds ${idx.length}`)
    for (const i of idx) {
      const key = `${p.seed}/${p.name}/${i}`
      const other = seen.get(key)
      if (other !== undefined)
        throw new Error(`iteration ${i} of ${p.name} (seed ${p.seed}) is in both ${other} and ${p.file}`)
      seen.set(key, p.file)
    }
    let m = out.get(p.name)
    if (m === undefined) {
      m = {
        total: {
          name: p.name,
          iterations: 0,
          crashStates: 0,
          kills: 0,
          acked: 0,
          recovered: 0,
          failures: [],
          notes: {},
          skipped: [],
          seconds: 0,
          iterationsPerSecond: 0,
          statesPerSecond: 0,
          firstIndex: 0,
          nextIndex: 0,
          step: 1,
        },
        pieces: [],
      }
      out.set(p.name, m)
    }
    const t = m.total
    t.iterations += p.iterations
    t.crashStates += p.crashStates
    t.kills += p.kills
    t.acked += p.acked
    t.recovered += p.recovered
    t.seconds += p.seconds
    t.failures.push(...p.failures)
    t.skipped.push(...p.skipped)
    for (const [k, v] of Object.entries(p.notes)) t.notes[k] = (t.notes[k] ?? 0) + v
    m.pieces.push(p)
  }
  return out
}

function main(files: string[]): void {
  const pieces: Piece[] = files.flatMap((f) => {
    const c = JSON.parse(fs.readFileSync(f, 'utf8')) as CampaignSummary
    return c.scenarios.map((s) => ({ ...s, file: f, seed: c.seed, commit: c.commit ?? '' }))
  })
  const merged = mergePieces(pieces)
  const n = (x: number): string => x.toLocaleString('en-US', { maximumFractionDigits: 1 })
  console.log(
    '| scenario | iterations | real SIGKILLs | states checked | events acked | records recovered | failures | lane-seconds |',
  )
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|')
  const rows = [...merged.values()].map((m) => m.total)
  for (const s of rows)
    console.log(
      `| ${s.name} | ${n(s.iterations)} | ${n(s.kills)} | ${n(s.crashStates)} | ${n(s.acked)} | ${n(s.recovered)} | ${s.failures.length} | ${n(s.seconds)} |`,
    )
  const t = (k: 'iterations' | 'kills' | 'crashStates' | 'acked' | 'recovered' | 'seconds'): number =>
    rows.reduce((a, s) => a + s[k], 0)
  console.log(
    `| **total** | ${n(t('iterations'))} | ${n(t('kills'))} | ${n(t('crashStates'))} | ${n(t('acked'))} | ${n(t('recovered'))} | ${rows.reduce((a, s) => a + s.failures.length, 0)} | ${n(t('seconds'))} |`,
  )
  console.log('')
  console.log('| piece | scenario | commit | seed | indices | iterations | seconds | it/s | states/s |')
  console.log('|---|---|---|---:|---|---:|---:|---:|---:|')
  for (const m of merged.values()) {
    for (const p of m.pieces) {
      const range = `${p.firstIndex ?? 0} ≤ i < ${p.nextIndex ?? p.iterations}${(p.step ?? 1) > 1 ? `, step ${p.step}` : ''}`
      console.log(
        `| ${p.file} | ${p.name} | ${p.commit.slice(0, 10) || '?'} | ${p.seed} | ${range} | ${n(p.iterations)} | ${n(p.seconds)} | ${n(p.iterationsPerSecond)} | ${n(p.statesPerSecond)} |`,
      )
    }
  }
  console.log('')
  // The code under test changes between pieces: what each library (core id) has behind it.
  const ids = new Map<string, string>()
  const byCore = new Map<
    string,
    { commits: Set<string>; kills: number; states: number; failures: number; seconds: number }
  >()
  for (const p of pieces) {
    if (!ids.has(p.commit)) ids.set(p.commit, coreId(p.commit).id)
    const id = ids.get(p.commit)!
    const c = byCore.get(id) ?? { commits: new Set<string>(), kills: 0, states: 0, failures: 0, seconds: 0 }
    c.commits.add(p.commit.slice(0, 7) || '?')
    c.kills += p.kills
    c.states += p.kills > 0 ? 0 : p.crashStates
    c.failures += p.failures.length
    c.seconds += p.seconds
    byCore.set(id, c)
  }
  console.log(
    '| library under test (core id) | commits of its pieces | real SIGKILLs | simulated and damage states (SIGKILL lives not counted twice) | failures | lane-seconds |',
  )
  console.log('|---|---|---:|---:|---:|---:|')
  for (const [id, v] of byCore)
    console.log(
      `| ${id} | ${[...v.commits].join(', ')} | ${n(v.kills)} | ${n(v.states)} | ${v.failures} | ${n(v.seconds)} |`,
    )
  console.log('')
  // Where each lane continues: one past the highest index any piece ran (per seed).
  const next = new Map<string, number>()
  for (const p of pieces) {
    const key = `${p.seed} ${p.name}`
    next.set(key, Math.max(next.get(key) ?? 0, nextIndexOf(p)))
  }
  console.log(`Continue from: ${[...next].map(([k, i]) => `${k} ${i}`).join('; ')}`)
  console.log('')
  for (const s of rows)
    console.log(
      `- **${s.name}**: ${Object.entries(s.notes)
        .map(([k, v]) => `${k} ${n(v)}`)
        .join('; ')}${s.skipped.length ? `; skipped: ${[...new Set(s.skipped)].join('; ')}` : ''}`,
    )
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    main(process.argv.slice(2))
  } catch (err) {
    console.error(`summarize: ${(err as Error).message}`)
    process.exitCode = 1
  }
}
