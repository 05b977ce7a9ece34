/**
 * Output of the runs: the median (min–max) of every metric of a scenario
 * (summary), number formatting, the two markdown tables (floors and closed
 * loops; open loops and the soak), and JSON with NaN and ±Infinity as null.
 */

import type { Run } from './engine.js'
import { spread, type Spread } from './latency.js'
import type { Scenario } from './specs.js'

export function summary(sc: Scenario): Record<string, Spread> {
  const pick = (f: (r: Run) => number | undefined): Spread => spread(sc.runs.map((r) => f(r) ?? NaN))
  return {
    eventsPerSec: pick((r) => r.eventsPerSec),
    p50: pick((r) => r.latencyMs.p50),
    p99: pick((r) => r.latencyMs.p99),
    p999: pick((r) => r.latencyMs.p999),
    max: pick((r) => r.latencyMs.max),
    fsyncsPerSec: pick((r) => r.fsyncsPerSec),
    eventsPerFsync: pick((r) => r.eventsPerFsync),
    cpuSecPerMillion: pick((r) => r.cpuSecPerMillion),
    diskBytesPerEvent: pick((r) => r.diskBytesPerEvent),
    payloadBytes: pick((r) => r.payloadBytes),
    sendLagMaxMs: pick((r) => r.sendLagMaxMs),
    serviceP99: pick((r) => r.serviceLatencyMs?.p99),
    otherCores: pick((r) => r.noise.otherCores),
  }
}

const fmtN = new Map<number, Intl.NumberFormat>()
export function fmt(v: number, digits: number): string {
  if (!Number.isFinite(v)) return '-'
  let f = fmtN.get(digits)
  if (f === undefined)
    fmtN.set(
      digits,
      (f = new Intl.NumberFormat('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })),
    )
  return f.format(v)
}

function cell(s: Spread | undefined, digits: number, runs: number): string {
  if (s === undefined) return '-'
  if (runs <= 1 || s.min === s.max || !Number.isFinite(s.min)) return fmt(s.median, digits)
  return `${fmt(s.median, digits)} (${fmt(s.min, digits)}–${fmt(s.max, digits)})`
}

function verifiedCell(sc: Scenario): string {
  const n = sc.runs.length
  const ok = sc.runs.filter((r) => r.verified).length
  return ok === n ? `${ok}/${n}` : `FAILED ${n - ok}/${n}`
}

function mdRow(cells: string[]): string {
  return `| ${cells.map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`
}

function mdHead(head: string[]): string[] {
  return [mdRow(head), `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`]
}

/** Floors and closed loops: one row per scenario. */
export function closedTable(scenarios: Scenario[]): string {
  const lines = mdHead([
    'scenario',
    'durable events/s',
    'p50 ms',
    'p99 ms',
    'p999 ms',
    'CPU s / M events',
    'disk B / event',
    'fdatasyncs/s',
    'events/fdatasync',
    'verified',
  ])
  for (const sc of scenarios.filter((s) => s.group === 'floor' || s.group === 'closed')) {
    const n = sc.runs.length
    if (sc.skipped !== undefined) {
      lines.push(mdRow([sc.title, `not run: ${sc.skipped}`, '', '', '', '', '', '', '', '']))
      continue
    }
    const s = summary(sc)
    lines.push(
      mdRow([
        sc.title,
        cell(s.eventsPerSec, 0, n),
        cell(s.p50, 3, n),
        cell(s.p99, 3, n),
        cell(s.p999, 3, n),
        cell(s.cpuSecPerMillion, 2, n),
        cell(s.diskBytesPerEvent, 1, n),
        cell(s.fsyncsPerSec, 0, n),
        cell(s.eventsPerFsync, 1, n),
        verifiedCell(sc),
      ]),
    )
  }
  return lines.join('\n')
}

/** Open loops and the soak: latency from the intended send time. */
export function openTable(scenarios: Scenario[]): string {
  const lines = mdHead([
    'scenario',
    'target events/s',
    'durable events/s',
    'p50 ms',
    'p99 ms',
    'p999 ms',
    'max ms',
    'sustained',
    'sender lag max ms',
    'verified',
  ])
  for (const sc of scenarios.filter((s) => s.group === 'open' || s.group === 'soak')) {
    const n = sc.runs.length
    if (sc.skipped !== undefined) {
      lines.push(
        mdRow([
          sc.title,
          sc.rate !== undefined ? fmt(sc.rate, 0) : '-',
          `not run: ${sc.skipped}`,
          '',
          '',
          '',
          '',
          '',
          '',
          '',
        ]),
      )
      continue
    }
    const s = summary(sc)
    const sustained = sc.runs.filter((r) => r.sustained).length
    const cut = sc.runs.filter((r) => r.cut).length
    const refused = spread(sc.runs.map((r) => r.refused ?? 0))
    const why = [cut > 0 ? `${cut} cut` : '', refused.max > 0 ? `${cell(refused, 0, n)} refused` : '']
      .filter((x) => x !== '')
      .join(', ')
    lines.push(
      mdRow([
        sc.title,
        fmt(sc.rate ?? NaN, 0),
        cell(s.eventsPerSec, 0, n),
        cell(s.p50, 3, n),
        cell(s.p99, 3, n),
        cell(s.p999, 3, n),
        cell(s.max, 2, n),
        `${sustained}/${n}${why !== '' ? ` (${why})` : ''}`,
        cell(s.sendLagMaxMs, 2, n),
        verifiedCell(sc),
      ]),
    )
  }
  return lines.join('\n')
}

/** JSON with NaN and ±Infinity as null. */
export function toJson(v: unknown): string {
  return `${JSON.stringify(v, (_k, x: unknown) => (typeof x === 'number' && !Number.isFinite(x) ? null : x), 2)}\n`
}
