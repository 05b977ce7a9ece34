/**
 * The campaign report: a JSON summary (the record of what ran) and a
 * self-contained HTML page (no scripts, no network) with inline SVG charts:
 * iterations/s per scenario, checked states and acknowledged events per
 * scenario (log scale), and every failure with the command that replays it.
 */

import type { CampaignSummary, ScenarioSummary } from './runner.js'
import { escapeHtml } from '../lib/read/index.js'

const esc = escapeHtml
const fmt = (n: number): string => n.toLocaleString('en-US', { maximumFractionDigits: 2 })

function barChart(
  title: string,
  rows: { label: string; value: number }[],
  opts: { log?: boolean; unit?: string } = {},
): string {
  const w = 720
  const rowH = 26
  const left = 190
  const h = 40 + rows.length * rowH
  const tr = (v: number): number => (opts.log ? Math.log10(1 + v) : v)
  const max = Math.max(1e-9, ...rows.map((r) => tr(r.value)))
  const bars = rows
    .map((r, i) => {
      const y = 30 + i * rowH
      const bw = ((w - left - 150) * tr(r.value)) / max
      return (
        `<text x="${left - 8}" y="${y + 16}" text-anchor="end" font-size="12">${esc(r.label)}</text>` +
        `<rect x="${left}" y="${y + 3}" width="${bw.toFixed(1)}" height="${rowH - 8}" fill="#3b6ea5"/>` +
        `<text x="${left + bw + 6}" y="${y + 16}" font-size="12">${fmt(r.value)}${opts.unit ?? ''}</text>`
      )
    })
    .join('')
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" role="img" aria-label="${esc(title)}">` +
    `<text x="0" y="16" font-size="14" font-weight="bold">${esc(title)}${opts.log ? ' (log scale)' : ''}</text>${bars}</svg>`
  )
}

function scenarioRow(s: ScenarioSummary): string {
  return (
    `<tr><td>${esc(s.name)}</td><td>${fmt(s.iterations)}</td><td>${fmt(s.kills)}</td><td>${fmt(s.crashStates)}</td><td>${fmt(s.acked)}</td><td>${fmt(s.recovered)}</td>` +
    `<td class="${s.failures.length ? 'bad' : 'ok'}">${s.failures.length}</td><td>${fmt(s.seconds)}</td><td>${fmt(s.iterationsPerSecond)}</td><td>${fmt(s.statesPerSecond)}</td></tr>`
  )
}

export function renderHtml(c: CampaignSummary): string {
  const rows = c.scenarios
  const notes = rows
    .map(
      (s) =>
        `<h3>${esc(s.name)}</h3><p>${esc(s.description)}</p>` +
        (s.skipped.length ? `<p class="bad">skipped parts: ${esc([...new Set(s.skipped)].join('; '))}</p>` : '') +
        `<table><tr><th>counter</th><th>count</th></tr>${Object.entries(s.notes)
          .map(([k, v]) => `<tr><td>${esc(k)}</td><td>${fmt(v)}</td></tr>`)
          .join('')}</table>`,
    )
    .join('')
  const failures = rows
    .flatMap((s) =>
      s.failures.map(
        (f) =>
          `<li><b>${esc(s.name)}</b> iteration ${f.iteration}, seed <code>${f.seed}</code>: ${esc(f.message)}` +
          `<br><code>${esc(f.replay)}</code>${f.exact ? `<br><code>${esc(f.exact)}</code>` : ''}${f.detail ? `<details><summary>evidence</summary><pre>${esc(f.detail)}</pre></details>` : ''}</li>`,
      ),
    )
    .join('')
  return `<!doctype html><html><head><meta charset="utf-8"><title>mtlog-audit torture report, seed ${c.seed}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}.ok{color:#176b2c}.bad{color:#b00020;font-weight:bold}code{background:#f3f3f3;padding:0 3px}</style></head><body>
<h1>mtlog-audit torture report</h1>
<p>Command: <code>${esc(c.command)}</code><br>Seed <code>${c.seed}</code> · started ${esc(c.started)} · ${fmt(c.seconds)} s · ${esc(c.machine.cpus)} · ${esc(c.machine.platform)} · node ${esc(c.node)}</p>
<p class="${c.totals.failures ? 'bad' : 'ok'}">${fmt(c.totals.iterations)} iterations · ${fmt(c.totals.kills)} real SIGKILLs · ${fmt(c.totals.crashStates)} checked states (simulated crash/damage states) · ${fmt(c.totals.acked)} events acknowledged · ${c.totals.failures} failures</p>
<table><tr><th>scenario</th><th>iterations</th><th>real SIGKILLs</th><th>states checked</th><th>acked</th><th>records recovered</th><th>failures</th><th>seconds</th><th>it/s</th><th>states/s</th></tr>${rows.map(scenarioRow).join('')}</table>
${barChart(
  'Iterations per second',
  rows.map((s) => ({ label: s.name, value: s.iterationsPerSecond })),
)}
${barChart(
  'States checked (crash states, damage cases, SIGKILLs)',
  rows.map((s) => ({ label: s.name, value: s.crashStates + s.kills })),
  { log: true },
)}
${barChart(
  'Events acknowledged',
  rows.map((s) => ({ label: s.name, value: s.acked })),
  { log: true },
)}
<h2>Failures</h2>${failures ? `<ol>${failures}</ol>` : '<p class="ok">none</p>'}
<h2>Per scenario</h2>${notes}
</body></html>`
}
