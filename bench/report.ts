/**
 * The three outputs of one harness run, from one result object:
 *
 *   result ─► markdown (printed on stdout and written as .md)
 *          ─► JSON (every run, every sample: the source for anything else)
 *          ─► HTML (the markdown's tables + charts drawn by Chart.js, inlined
 *             from bench/node_modules so the file works offline; without
 *             Chart.js the page has the tables and says why there are no charts)
 *
 * bench/README.md explains every table and chart.
 */

import fs from 'node:fs'
import path from 'node:path'
import { RECORD_HEADER_BYTES } from './engine/events.js'
import { spread, type Spread } from './engine/latency.js'
import { type Machine, machineLines, type NoiseReport } from './engine/machine.js'
import type { Scenario } from './engine/specs.js'
import { closedTable, fmt, openTable, summary } from './engine/tables.js'
import { escapeHtml } from '../lib/read/index.js'
import type { MicroReport } from './micro.js'
import type { SoakMeta } from './soak.js'

export interface SystemInfo {
  id: string
  version: string
  durability: string
  blocking: boolean
}

export interface Result {
  benchmark: string
  machine: Machine
  command: string
  config: Record<string, unknown>
  systems: SystemInfo[]
  notes: string[]
  micro: MicroReport | undefined
  scenarios: Scenario[]
  noise: NoiseReport
  loadAtEnd: string
  seconds: number
  verified: boolean
}

const OURS = 'mtlog-audit'

function median(sc: Scenario, f: (s: Record<string, Spread>) => Spread | undefined): number {
  return f(summary(sc))?.median ?? NaN
}

function mdRow(cells: string[]): string {
  return `| ${cells.join(' | ')} |`
}

function microTable(m: MicroReport): string {
  const lines = [mdRow(['benchmark', 'ops/s', 'ns/op', '± % (tinybench rme)']), '|---|---:|---:|---:|']
  for (const r of m.results) {
    const ops =
      r.opsPerSec.min === r.opsPerSec.max
        ? fmt(r.opsPerSec.median, 0)
        : `${fmt(r.opsPerSec.median, 0)} (${fmt(r.opsPerSec.min, 0)}–${fmt(r.opsPerSec.max, 0)})`
    lines.push(
      mdRow([r.baselineOf !== undefined ? `  ${r.title}` : r.title, ops, fmt(r.nsPerOp.median, 1), fmt(r.rmePct, 2)]),
    )
  }
  return lines.join('\n')
}

/** For each closed-loop family and each open rate: mtlog-audit beside the best peer on each metric. Facts, no verdicts. */
export function compareTable(scenarios: Scenario[]): string {
  const lines = [
    mdRow([
      'scenario',
      'mtlog-audit events/s',
      'most events/s among peers',
      'mtlog-audit p99 ms',
      'lowest p99 among peers',
      'mtlog-audit CPU s / M',
      'lowest CPU among peers',
      'mtlog-audit disk B / event',
      'least disk among peers',
    ]),
    '|---|---:|---|---:|---|---:|---|---:|---|',
  ]
  const ran = scenarios.filter((s) => s.runs.length > 0 && s.producers === 1)
  const keys = new Map<string, Scenario[]>()
  for (const s of ran.filter((x) => x.group === 'closed' || (x.group === 'open' && !x.id.endsWith('-max')))) {
    const k =
      s.group === 'closed'
        ? `closed, ${s.payloadBytes} B, window ${s.window}`
        : `open ${fmt(s.rate ?? NaN, 0)}/s, ${s.payloadBytes} B`
    keys.set(k, [...(keys.get(k) ?? []), s])
  }
  for (const [k, group] of keys) {
    const ours = group.find((s) => s.system === OURS)
    const peers = group.filter((s) => s.system !== OURS)
    if (ours === undefined || peers.length === 0) continue
    const best = (f: (s: Record<string, Spread>) => Spread | undefined, high: boolean, digits: number): string => {
      const xs = peers.map((p) => ({ p, v: median(p, f) })).filter((x) => Number.isFinite(x.v))
      if (xs.length === 0) return '-'
      xs.sort((a, b) => (high ? b.v - a.v : a.v - b.v))
      return `${xs[0]!.p.system} ${fmt(xs[0]!.v, digits)}`
    }
    lines.push(
      mdRow([
        k,
        fmt(
          median(ours, (s) => s.eventsPerSec),
          0,
        ),
        best((s) => s.eventsPerSec, true, 0),
        fmt(
          median(ours, (s) => s.p99),
          3,
        ),
        best((s) => s.p99, false, 3),
        group[0]!.group === 'open'
          ? '-'
          : fmt(
              median(ours, (s) => s.cpuSecPerMillion),
              2,
            ),
        group[0]!.group === 'open' ? '-' : best((s) => s.cpuSecPerMillion, false, 2),
        fmt(
          median(ours, (s) => s.diskBytesPerEvent),
          1,
        ),
        best((s) => s.diskBytesPerEvent, false, 1),
      ]),
    )
  }
  return lines.length > 2 ? lines.join('\n') : ''
}

function soakLines(scenarios: Scenario[]): string[] {
  const out: string[] = []
  for (const sc of scenarios.filter((s) => s.group === 'soak' && s.meta !== undefined)) {
    const m = sc.meta as SoakMeta
    const first = m.samples[0]
    const last = m.samples[m.samples.length - 1]
    if (first === undefined || last === undefined) continue
    const peak = (f: (x: (typeof m.samples)[number]) => number): number => Math.max(...m.samples.map(f))
    out.push(
      `- ${sc.title}: ${m.samples.length} samples, one a second. ` +
        `RSS ${fmt(first.rssMiB, 1)} → ${fmt(last.rssMiB, 1)} MiB (peak ${fmt(
          peak((x) => x.rssMiB),
          1,
        )}), slope ${fmt(m.rssSlopeMiBPerMin, 2)} MiB/min; ` +
        `heap used ${fmt(first.heapUsedMiB, 1)} → ${fmt(last.heapUsedMiB, 1)} MiB (peak ${fmt(
          peak((x) => x.heapUsedMiB),
          1,
        )}), slope ${fmt(m.heapSlopeMiBPerMin, 2)} MiB/min; ` +
        `heap total (V8's reservation) ${fmt(first.heapTotalMiB, 1)} → ${fmt(last.heapTotalMiB, 1)} MiB; ` +
        `heap retained after a full GC ${fmt(m.retainedStartMiB, 1)} MiB before, ${fmt(m.retainedEndMiB, 1)} MiB after; ` +
        `${m.flat ? 'flat' : 'NOT flat'} (flat: after the first third of the run neither slope above +${m.flatMiBPerMin} MiB/min, retained growth ≤ ${m.flatMiBPerMin} MiB)`,
    )
  }
  return out
}

export function markdown(r: Result): string {
  const out: string[] = [`# ${r.benchmark}`, '', ...machineLines(r.machine)]
  out.push(`- command: \`${r.command}\``)
  for (const s of r.systems) out.push(`- ${s.id} ${s.version}: ${s.durability}`)
  for (const n of r.notes) out.push(`- ${n}`)
  out.push(
    `- ${String(r.config.repeat)} run(s) per scenario, each on a fresh directory; cells are median (min–max) over the runs`,
  )
  const ours256 = r.scenarios.filter((s) => s.system === OURS && s.payloadBytes === 256 && s.runs.length > 0)
  if (ours256.length > 0) {
    const p = spread(ours256.flatMap((s) => s.runs.map((x) => x.payloadBytes)))
    out.push(
      `- event payload: ${fmt(p.median, 1)} B of JSON (measured by the writer: framed bytes / records − ${RECORD_HEADER_BYTES} B header; ${fmt(p.median + RECORD_HEADER_BYTES, 0)} B per record on disk)`,
    )
  }
  if (r.micro !== undefined && r.micro.results.length > 0)
    out.push('', '## Micro benchmarks (no I/O)', '', microTable(r.micro))
  for (const n of r.micro?.notes ?? []) out.push('', `- ${n}`)
  const closed = r.scenarios.filter((s) => s.group === 'floor' || s.group === 'closed')
  if (closed.length > 0)
    out.push(
      '',
      '## Floors and closed loops (an event counts when its emit resolved after the sync)',
      '',
      closedTable(r.scenarios),
    )
  const open = r.scenarios.filter((s) => s.group === 'open' || s.group === 'soak')
  if (open.length > 0) {
    out.push('', "## Open loops (latency from each event's intended send time)", '', openTable(r.scenarios))
    out.push(
      '',
      `Sustained: every event acked before the end of the grace period, none refused, and p99 ≤ ${String(r.config.sustainP99Ms)} ms. A cut run counts its missing acks at the cut (a lower bound).`,
    )
  }
  const soak = soakLines(r.scenarios)
  if (soak.length > 0) out.push('', '## Memory over a sustained run', '', ...soak)
  const cmp = compareTable(r.scenarios)
  if (cmp !== '') out.push('', '## mtlog-audit beside the best peer on each metric (main thread, medians)', '', cmp)
  out.push(
    '',
    '## Noise',
    '',
    `- at start: ${r.machine.loadAtStart}`,
    `- at end: ${r.loadAtEnd}`,
    `- ${r.noise.verdict}`,
    `- CPU pressure during runs: median ${fmt(r.noise.cpuPressurePct.median, 1)} %, max ${fmt(r.noise.cpuPressurePct.max, 1)} % (includes this benchmark's own threads); I/O pressure: median ${fmt(r.noise.ioPressurePct.median, 1)} %, max ${fmt(r.noise.ioPressurePct.max, 1)} %`,
    `- verified: ${r.verified ? 'every run' : 'FAILED'}; total ${fmt(r.seconds, 1)} s`,
  )
  return `${out.join('\n')}\n`
}

// ── HTML ────────────────────────────────────────────────────────────────────

const esc = escapeHtml

function inline(s: string): string {
  return esc(s).replace(/`([^`]+)`/g, '<code>$1</code>')
}

/** The markdown this module writes (headings, lists, pipe tables, paragraphs) as HTML. */
function mdToHtml(md: string): string {
  const out: string[] = []
  const lines = md.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!
    if (l.startsWith('# ')) out.push(`<h1>${inline(l.slice(2))}</h1>`)
    else if (l.startsWith('## ')) out.push(`<h2>${inline(l.slice(3))}</h2>`)
    else if (l.startsWith('- ')) {
      const items: string[] = []
      for (; i < lines.length && lines[i]!.startsWith('- '); i++) items.push(`<li>${inline(lines[i]!.slice(2))}</li>`)
      i--
      out.push(`<ul>${items.join('')}</ul>`)
    } else if (l.startsWith('|')) {
      const rows: string[][] = []
      for (; i < lines.length && lines[i]!.startsWith('|'); i++) rows.push(lines[i]!.slice(2, -2).split(' | '))
      i--
      const [head, , ...body] = rows
      out.push(
        `<table><thead><tr>${(head ?? []).map((c) => `<th>${inline(c)}</th>`).join('')}</tr></thead><tbody>${body
          .map((r) => `<tr>${r.map((c, k) => `<td${k > 0 ? ' class="n"' : ''}>${inline(c)}</td>`).join('')}</tr>`)
          .join('')}</tbody></table>`,
      )
    } else if (l.trim() !== '') out.push(`<p>${inline(l)}</p>`)
  }
  return out.join('\n')
}

/** What the charts draw, small: medians per scenario and the median run's CDF. */
function chartData(r: Result): unknown {
  const medianRun = (sc: Scenario): Scenario['runs'][number] | undefined => {
    const sorted = [...sc.runs].sort((a, b) => a.eventsPerSec - b.eventsPerSec)
    return sorted[(sorted.length - 1) >> 1]
  }
  return {
    ours: OURS,
    systems: r.systems.map((s) => s.id),
    scenarios: r.scenarios
      .filter((s) => s.runs.length > 0)
      .map((s) => {
        const m = summary(s)
        const mr = medianRun(s)
        return {
          id: s.id,
          title: s.title,
          group: s.group,
          system: s.system,
          producers: s.producers,
          payloadBytes: s.payloadBytes,
          window: s.window ?? null,
          rate: s.rate ?? null,
          max: s.id.endsWith('-max'),
          eventsPerSec: m.eventsPerSec!.median,
          eventsPerSecMin: m.eventsPerSec!.min,
          eventsPerSecMax: m.eventsPerSec!.max,
          p50: m.p50!.median,
          p99: m.p99!.median,
          p999: m.p999!.median,
          cpuUsPerEvent: m.cpuSecPerMillion!.median,
          diskBytesPerEvent: m.diskBytesPerEvent!.median,
          cdf: mr?.latencyMs.cdf ?? [],
        }
      }),
    soak: r.scenarios
      .filter((s) => s.group === 'soak' && s.meta !== undefined)
      .map((s) => ({ title: s.title, samples: (s.meta as SoakMeta).samples })),
    micro:
      r.micro?.results.map((m) => ({
        title: m.id.replace(/^micro-/, ''),
        nsPerOp: m.nsPerOp.median,
        baseline: m.baselineOf !== undefined,
      })) ?? [],
  }
}

// Runs in the page: draws the charts from DATA with Chart.js. Plain ES2020, no build step.
const CHART_SCRIPT = String.raw`
const D = DATA
const Q = [0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9999, 1]
const palette = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf']
const color = (name) => name === D.ours ? '#111' : palette[(D.systems.indexOf(name) + 8) % palette.length]
const mainThread = (s) => s.producers === 1
function chart(id, title, config) {
  const box = document.createElement('figure')
  box.innerHTML = '<canvas></canvas><figcaption></figcaption>'
  box.querySelector('figcaption').textContent = title
  document.getElementById('charts').appendChild(box)
  config.options = Object.assign({ animation: false, responsive: true, plugins: { title: { display: true, text: title } } }, config.options || {})
  new Chart(box.querySelector('canvas'), config)
}
const logAxis = (label) => ({ type: 'logarithmic', title: { display: true, text: label } })
const linAxis = (label) => ({ type: 'linear', title: { display: true, text: label }, beginAtZero: true })
const closed256 = D.scenarios.filter((s) => s.group === 'closed' && s.payloadBytes === 256)
const line = (label, pts, c, dash) => ({ label, data: pts, borderColor: c, backgroundColor: c, borderDash: dash ? [6, 4] : [], showLine: true, pointRadius: 4, tension: 0 })

// 1. throughput vs concurrency
chart('tput', 'Durable events/s vs emits in flight (closed loop, 256 B; dashed: main + 3 worker threads)', {
  type: 'scatter',
  data: { datasets: [
    ...D.systems.map((sys) => line(sys, closed256.filter((s) => s.system === sys && mainThread(s)).map((s) => ({ x: s.window, y: s.eventsPerSec })), color(sys))),
    line(D.ours + ', 4 threads', closed256.filter((s) => s.system === D.ours && !mainThread(s)).map((s) => ({ x: s.window, y: s.eventsPerSec })), color(D.ours), true),
  ].filter((d) => d.data.length > 0) },
  options: { scales: { x: logAxis('emits in flight (window)'), y: logAxis('durable events/s') } },
})
// 2. p99 vs concurrency
chart('p99', 'p99 emit→durable latency vs emits in flight (closed loop, 256 B)', {
  type: 'scatter',
  data: { datasets: D.systems.map((sys) => line(sys, closed256.filter((s) => s.system === sys && mainThread(s)).map((s) => ({ x: s.window, y: s.p99 })), color(sys))).filter((d) => d.data.length > 0) },
  options: { scales: { x: logAxis('emits in flight (window)'), y: logAxis('p99 ms') } },
})
// 3. percentiles at each window, grouped bars
for (const w of [...new Set(closed256.map((s) => s.window))]) {
  const xs = closed256.filter((s) => s.window === w && mainThread(s))
  if (xs.length === 0) continue
  chart('pct' + w, 'Latency percentiles, closed loop, window ' + w + ', 256 B', {
    type: 'bar',
    data: { labels: xs.map((s) => s.system), datasets: [['p50', '#9ecae1'], ['p99', '#3182bd'], ['p999', '#08519c']].map(([k, c]) => ({ label: k, data: xs.map((s) => s[k]), backgroundColor: c })) },
    options: { scales: { y: logAxis('ms') } },
  })
}
// 4. CDFs
const cdf = (title, xs) => {
  if (xs.length === 0) return
  chart('cdf', title, {
    type: 'scatter',
    data: { datasets: xs.map((s) => line(s.system + (s.producers > 1 ? ', 4 threads' : ''), s.cdf.map((ms, i) => ({ x: Math.max(ms, 0.001), y: Q[i] * 100 })).filter((p) => Number.isFinite(p.x)), color(s.system), s.producers > 1)) },
    options: { scales: { x: logAxis('latency ms (log)'), y: { type: 'linear', min: 0, max: 100, title: { display: true, text: 'percent of events at or below' } } } },
  })
}
for (const rate of [...new Set(D.scenarios.filter((s) => s.group === 'open' && !s.max && s.payloadBytes === 256).map((s) => s.rate))])
  cdf('Latency CDF, open loop ' + rate.toLocaleString('en-US') + '/s, 256 B (from intended send time)', D.scenarios.filter((s) => s.group === 'open' && !s.max && s.rate === rate && s.payloadBytes === 256))
for (const w of [1, 256]) cdf('Latency CDF, closed loop window ' + w + ', 256 B', closed256.filter((s) => s.window === w && mainThread(s)))
// 5. open loop p99 vs rate
const open = D.scenarios.filter((s) => s.group === 'open' && s.payloadBytes === 256 && mainThread(s))
chart('openp99', 'p99 from intended send time vs offered rate (open loop, 256 B; includes the highest sustained rate)', {
  type: 'scatter',
  data: { datasets: D.systems.map((sys) => line(sys, open.filter((s) => s.system === sys).sort((a, b) => a.rate - b.rate).map((s) => ({ x: s.rate, y: s.p99 })), color(sys))).filter((d) => d.data.length > 0) },
  options: { scales: { x: logAxis('offered events/s'), y: logAxis('p99 ms') } },
})
// 6. CPU per event and disk per event, by payload size
const sizes = [...new Set(D.scenarios.filter((s) => s.group === 'closed').map((s) => s.payloadBytes))].sort((a, b) => a - b)
const sizeWindow = (() => { const w = D.scenarios.filter((s) => s.group === 'closed' && s.payloadBytes !== 256).map((s) => s.window); return w.length ? w[0] : 256 })()
const bySize = (key, title, axis) => chart(key, title, {
  type: 'bar',
  data: { labels: D.systems, datasets: sizes.map((b, i) => ({ label: b + ' B', backgroundColor: ['#c6dbef', '#6baed6', '#2171b5', '#08306b'][i % 4],
    data: D.systems.map((sys) => { const s = D.scenarios.find((x) => x.group === 'closed' && mainThread(x) && x.system === sys && x.payloadBytes === b && x.window === sizeWindow); return s ? s[key] : null }) })) },
  options: { scales: { y: axis } },
})
bySize('cpuUsPerEvent', 'CPU µs per durable event (all threads; closed loop, window ' + sizeWindow + ')', logAxis('CPU µs / event'))
bySize('diskBytesPerEvent', 'Bytes on disk per event after close (closed loop, window ' + sizeWindow + ')', linAxis('bytes / event'))
// 7. memory
for (const s of D.soak) chart('mem', 'Memory during ' + s.title + ' (sampled every second)', {
  type: 'scatter',
  data: { datasets: [line('RSS MiB', s.samples.map((x) => ({ x: x.t, y: x.rssMiB })), '#d62728'), line('heap total MiB', s.samples.map((x) => ({ x: x.t, y: x.heapTotalMiB })), '#ff7f0e', true),
    line('heap used MiB', s.samples.map((x) => ({ x: x.t, y: x.heapUsedMiB })), '#1f77b4')] },
  options: { scales: { x: linAxis('seconds'), y: linAxis('MiB') } },
})
// 8. micro
if (D.micro.length > 0) chart('micro', 'Micro benchmarks: ns per operation (grey: trivial baselines)', {
  type: 'bar',
  data: { labels: D.micro.map((m) => m.title), datasets: [{ label: 'ns/op', data: D.micro.map((m) => m.nsPerOp), backgroundColor: D.micro.map((m) => m.baseline ? '#bbb' : '#3182bd') }] },
  options: { indexAxis: 'y', scales: { x: logAxis('ns / op') }, plugins: { legend: { display: false } } },
})
`

export function html(r: Result, md: string, chartJs: string | undefined): string {
  // The run's description first, then the charts, then the tables.
  const cut = md.indexOf('\n## ')
  const head = cut === -1 ? md : md.slice(0, cut)
  const rest = cut === -1 ? '' : md.slice(cut)
  const data = JSON.stringify(chartData(r), (_k, v: unknown) =>
    typeof v === 'number' && !Number.isFinite(v) ? null : v,
  ).replaceAll('<', '\\u003c')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(r.benchmark)} ${esc(r.machine.date)}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222 }
table { border-collapse: collapse; margin: 1em 0; font-size: 12px } th, td { border: 1px solid #ccc; padding: 3px 6px } th { background: #f3f3f3 }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap } code { background: #f3f3f3; padding: 0 3px }
#charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(540px, 1fr)); gap: 1.5em } figure { margin: 0 } figcaption { display: none }
.warn { background: #fff3cd; padding: .5em 1em }
</style></head><body>
${mdToHtml(head)}
<h2>Charts</h2>
${chartJs === undefined ? '<p class="warn">No charts: Chart.js is not installed in bench/node_modules (npm install --prefix bench). The tables below have every number.</p>' : ''}
<div id="charts"></div>
${mdToHtml(rest)}
${
  chartJs === undefined
    ? ''
    : `<script>${chartJs.replaceAll('</script', '<\\/script')}</script>
<script>const DATA = ${data};
${CHART_SCRIPT}</script>`
}
</body></html>
`
}

/** Chart.js's UMD build, to inline (undefined when bench/node_modules lacks it). */
export function loadChartJs(modulesDir: string): { source: string; version: string } | undefined {
  const dir = path.join(modulesDir, 'chart.js')
  for (const f of ['dist/chart.umd.min.js', 'dist/chart.umd.js']) {
    const p = path.join(dir, f)
    if (fs.existsSync(p)) {
      const version = (JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version: string })
        .version
      return { source: fs.readFileSync(p, 'utf8'), version }
    }
  }
  return undefined
}
