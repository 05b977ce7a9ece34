/**
 * Two static charts of a harness run, as SVG files a README can show (the
 * HTML report's charts need a browser and Chart.js; these need neither):
 *
 *   <base>-throughput.svg  durable events/s vs emits in flight, closed loop,
 *                          256 B, main thread, one line per system (log-log)
 *   <base>-cpu.svg         CPU seconds per million durable events at 256 in
 *                          flight, one bar per system (lower is better)
 *
 * Values are the medians over the run's repeats, the same numbers as the
 * markdown tables. Written by bench/run.ts beside the .md/.json/.html.
 */

import type { Result } from './report.js'
import { escapeHtml } from '../lib/read/index.js'

const COLORS: Record<string, string> = {
  'mtlog-audit': '#c0392b',
  'fs-sync': '#7f8c8d',
  pino: '#2e86c1',
  'sqlite-tx': '#27ae60',
  'sqlite-group': '#8e44ad',
}
const esc = escapeHtml
const num = (n: number): string => n.toLocaleString('en-US', { maximumFractionDigits: n < 10 ? 1 : 0 })

function median(xs: number[]): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b)
  return s.length === 0 ? NaN : s[Math.floor((s.length - 1) / 2)]!
}

/** Median of one metric per closed-loop, main-thread, 256 B scenario: system → window → value. */
function closedMedians(r: Result, metric: 'eventsPerSec' | 'cpuSecPerMillion'): Map<string, Map<number, number>> {
  const out = new Map<string, Map<number, number>>()
  for (const s of r.scenarios) {
    const sc = s as typeof s & { window?: number }
    if (
      sc.group !== 'closed' ||
      sc.producers !== 1 ||
      sc.payloadBytes !== 256 ||
      sc.window === undefined ||
      sc.runs.length === 0
    )
      continue
    let m = out.get(sc.system)
    if (m === undefined) out.set(sc.system, (m = new Map()))
    m.set(sc.window, median(sc.runs.map((x) => x[metric])))
  }
  return out
}

export function throughputSvg(r: Result): string {
  const data = closedMedians(r, 'eventsPerSec')
  const windows = [...new Set([...data.values()].flatMap((m) => [...m.keys()]))].sort((a, b) => a - b)
  const values = [...data.values()].flatMap((m) => [...m.values()]).filter((v) => v > 0)
  if (windows.length === 0 || values.length === 0) return ''
  const W = 720,
    H = 400,
    L = 80,
    R = 150,
    T = 40,
    B = 50
  const lo = Math.floor(Math.log10(Math.min(...values)))
  const hi = Math.ceil(Math.log10(Math.max(...values)))
  const x = (i: number): number => L + (windows.length === 1 ? 0 : (i * (W - L - R)) / (windows.length - 1))
  const y = (v: number): number => T + ((hi - Math.log10(v)) * (H - T - B)) / Math.max(1, hi - lo)
  let g = ''
  for (let e = lo; e <= hi; e++) {
    g += `<line x1="${L}" x2="${W - R}" y1="${y(10 ** e)}" y2="${y(10 ** e)}" stroke="#ddd"/><text x="${L - 6}" y="${y(10 ** e) + 4}" text-anchor="end" font-size="11">${num(10 ** e)}</text>`
  }
  windows.forEach(
    (w, i) => (g += `<text x="${x(i)}" y="${H - B + 18}" text-anchor="middle" font-size="11">${w}</text>`),
  )
  let k = 0
  for (const [sys, m] of data) {
    const color = COLORS[sys] ?? '#333'
    const pts = windows.map((w, i) => [i, m.get(w)] as const).filter(([, v]) => v !== undefined && v > 0) as [
      number,
      number,
    ][]
    g += `<polyline fill="none" stroke="${color}" stroke-width="${sys === 'mtlog-audit' ? 3 : 1.5}" points="${pts.map(([i, v]) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ')}"/>`
    for (const [i, v] of pts)
      g += `<circle cx="${x(i).toFixed(1)}" cy="${y(v).toFixed(1)}" r="3" fill="${color}"><title>${esc(sys)}, ${windows[i]} in flight: ${num(v)} events/s</title></circle>`
    g += `<text x="${W - R + 10}" y="${T + 14 + k * 18}" font-size="12" fill="${color}">${esc(sys)}</text>`
    k++
  }
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" role="img" aria-label="durable events per second vs emits in flight">` +
    `<rect width="100%" height="100%" fill="#fff"/><text x="${L}" y="22" font-size="14" font-weight="bold">Durable events/s vs emits in flight (closed loop, 256 B, main thread; log scales)</text>` +
    `${g}<text x="${(L + W - R) / 2}" y="${H - 10}" text-anchor="middle" font-size="12">emits in flight</text></svg>\n`
  )
}

export function cpuSvg(r: Result, window = 256): string {
  const rows = [...closedMedians(r, 'cpuSecPerMillion')]
    .map(([sys, m]) => ({ sys, v: m.get(window) }))
    .filter((x): x is { sys: string; v: number } => x.v !== undefined && Number.isFinite(x.v))
  if (rows.length === 0) return ''
  const W = 720,
    rowH = 28,
    L = 130,
    T = 40
  const H = T + rows.length * rowH + 10
  const max = Math.max(...rows.map((x) => x.v))
  const bars = rows
    .map(({ sys, v }, i) => {
      const bw = ((W - L - 120) * v) / max
      const yy = T + i * rowH
      return (
        `<text x="${L - 8}" y="${yy + 17}" text-anchor="end" font-size="12">${esc(sys)}</text><rect x="${L}" y="${yy + 4}" width="${bw.toFixed(1)}" height="${rowH - 10}" fill="${COLORS[sys] ?? '#333'}"/>` +
        `<text x="${L + bw + 6}" y="${yy + 17}" font-size="12">${num(v)} s</text>`
      )
    })
    .join('')
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" role="img" aria-label="CPU seconds per million durable events">` +
    `<rect width="100%" height="100%" fill="#fff"/><text x="0" y="22" font-size="14" font-weight="bold">CPU s per million durable events (all threads; ${window} in flight, 256 B; lower is better)</text>${bars}</svg>\n`
  )
}
