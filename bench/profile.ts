/**
 * Where the time goes: one closed loop of mtlog-audit under V8's sampling
 * profiler (`node --cpu-prof`, every thread), summarized per thread as a
 * self-time table (markdown) and drawn as a flame graph (SVG, root at the
 * bottom, width = samples, hover for the function and its share).
 *
 *   node dist/bench/profile.js [events=300000] [window=4096] [payloadBytes=256]
 *     └─► child: node --cpu-prof dist/bench/profile.js --child … (open, closed loop, close; no verification)
 *     └─► bench/results/local/profile-<date>.md, profile-<date>-<thread>.svg
 *
 * The profiler's own cost is in the numbers (a few %); use it for shares, not
 * for throughput (that is bench/run.ts).
 */

import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { localResultsDir } from './engine/checkout.js'
import { eventMaker } from './engine/events.js'
import { loadLine, machineInfo, machineLines, resultStem } from './engine/machine.js'
import { AuditSink } from '../lib/sink/index.js'
import { escapeHtml as esc } from '../lib/read/index.js'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}
interface CpuProfile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
  startTime: number
  endTime: number
}

async function child(events: number, window: number, payloadBytes: number, dir: string): Promise<void> {
  const mk = eventMaker(payloadBytes)
  const sink = await AuditSink.open({ dir })
  const t0 = performance.now()
  const c0 = process.cpuUsage()
  // A closed loop of exactly `events` emits, `window` in flight.
  let sent = 0
  let acked = 0
  await new Promise<void>((resolve, reject) => {
    const one = (): void => {
      if (sent === events) return
      sink.emit(mk(0, sent++)).then(() => (++acked === events ? resolve() : one()), reject)
    }
    for (let k = 0; k < window; k++) one()
  })
  const cpu = process.cpuUsage(c0)
  const s = (performance.now() - t0) / 1000
  await sink.close()
  process.stdout.write(
    JSON.stringify({
      events: acked,
      seconds: s,
      eventsPerSec: acked / s,
      cpuUsPerEvent: (cpu.user + cpu.system) / acked,
    }),
  )
}

const label = (n: ProfileNode): string => {
  const f = n.callFrame
  const file =
    f.url === ''
      ? ''
      : ` ${f.url
          .replace(/^file:\/\//, '')
          .split('/')
          .slice(-2)
          .join('/')}:${f.lineNumber + 1}`
  return `${f.functionName || '(anonymous)'}${file}`
}

/** Self time per function label, in ms, and the total (idle excluded). */
function selfTimes(p: CpuProfile): { rows: [string, number][]; busyMs: number; idleMs: number } {
  const byId = new Map(p.nodes.map((n) => [n.id, n]))
  const self = new Map<string, number>()
  let busy = 0
  let idle = 0
  for (let i = 0; i < p.samples.length; i++) {
    const n = byId.get(p.samples[i]!)!
    const ms = (p.timeDeltas[i] ?? 0) / 1000
    if (n.callFrame.functionName === '(idle)') {
      idle += ms
      continue
    }
    busy += ms
    const k = label(n)
    self.set(k, (self.get(k) ?? 0) + ms)
  }
  return { rows: [...self].sort((a, b) => b[1] - a[1]), busyMs: busy, idleMs: idle }
}

/** A flame graph: each frame as wide as the samples under it; idle left out. */
function flameSvg(p: CpuProfile, title: string): string {
  const byId = new Map(p.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const total = new Map<number, number>()
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i]!
    if (byId.get(id)!.callFrame.functionName === '(idle)') continue
    const ms = (p.timeDeltas[i] ?? 0) / 1000
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur))
      total.set(cur, (total.get(cur) ?? 0) + ms)
  }
  const root = p.nodes[0]!
  const all = total.get(root.id) ?? 0
  if (all === 0) return ''
  const W = 1200,
    rowH = 16
  let depthMax = 0
  let rects = ''
  const visit = (id: number, x: number, depth: number): void => {
    const ms = total.get(id) ?? 0
    const w = (ms / all) * W
    if (w < 0.5) return
    depthMax = Math.max(depthMax, depth)
    const n = byId.get(id)!
    const name = label(n)
    const hue = n.callFrame.url.includes('/node_modules/')
      ? 200
      : n.callFrame.url.startsWith('node:') || n.callFrame.url === ''
        ? 40
        : 10
    rects +=
      `<g><title>${esc(name)} — ${ms.toFixed(1)} ms (${((100 * ms) / all).toFixed(1)} %)</title>` +
      `<rect x="${x.toFixed(1)}" y="${-(depth + 1) * rowH}" width="${w.toFixed(1)}" height="${rowH - 1}" fill="hsl(${hue},70%,${60 + (depth % 3) * 6}%)"/>` +
      (w > 60
        ? `<text x="${(x + 3).toFixed(1)}" y="${-(depth + 1) * rowH + 12}" font-size="11">${esc(name.slice(0, Math.floor(w / 6.5)))}</text>`
        : '') +
      '</g>'
    let cx = x
    for (const c of n.children ?? []) {
      visit(c, cx, depth + 1)
      cx += ((total.get(c) ?? 0) / all) * W
    }
  }
  visit(root.id, 0, 0)
  const H = (depthMax + 2) * rowH + 30
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="monospace" viewBox="0 ${-H + 30} ${W} ${H}">` +
    `<rect x="0" y="${-H + 30}" width="${W}" height="${H}" fill="#fff"/><text x="0" y="${-H + 48}" font-size="13" font-family="sans-serif" font-weight="bold">${title}</text>${rects}</svg>\n`
  )
}

async function main(): Promise<void> {
  const [events = 300_000, window = 4096, payloadBytes = 256] = process.argv.slice(2).map(Number)
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'mtlog-audit-profile-'))
  const m = machineInfo(os.tmpdir())
  try {
    const profDir = path.join(work, 'prof')
    const r = spawnSync(
      process.execPath,
      [
        '--cpu-prof',
        `--cpu-prof-dir=${profDir}`,
        fileURLToPath(import.meta.url),
        '--child',
        String(events),
        String(window),
        String(payloadBytes),
        path.join(work, 'wal'),
      ],
      { encoding: 'utf8' },
    )
    if (r.status !== 0) throw new Error(`profile child failed (${r.status}): ${r.stderr}`)
    const run = JSON.parse(r.stdout) as { events: number; seconds: number; eventsPerSec: number; cpuUsPerEvent: number }
    const outDir = localResultsDir()
    fs.mkdirSync(outDir, { recursive: true })
    const base = path.join(outDir, resultStem(m, 'profile'))
    // One file per thread: the main thread first (lowest thread index in the name).
    const files = fs
      .readdirSync(profDir)
      .filter((f) => f.endsWith('.cpuprofile'))
      .sort()
    let md = `# Where the time goes: mtlog-audit under --cpu-prof\n\n${machineLines(m).join('\n')}\n- load at end: ${loadLine()}\n`
    md += `- command: \`node dist/bench/profile.js ${events} ${window} ${payloadBytes}\`: ${run.events.toLocaleString('en-US')} events of ${payloadBytes} B, ${window} emits in flight from the main thread, sampled by V8's profiler in every thread\n`
    md += `- under the profiler: ${Math.round(run.eventsPerSec).toLocaleString('en-US')} durable events/s, ${run.cpuUsPerEvent.toFixed(2)} µs CPU per event (all threads, process.cpuUsage)\n`
    const names = ['main thread (producer: encode, ring, promises)', 'writer thread (seal, write, fdatasync)']
    files.forEach((f, i) => {
      const p = JSON.parse(fs.readFileSync(path.join(profDir, f), 'utf8')) as CpuProfile
      const { rows, busyMs, idleMs } = selfTimes(p)
      const name = names[i] ?? `thread ${i}`
      md += `\n## ${name}\n\nbusy ${busyMs.toFixed(0)} ms, idle ${idleMs.toFixed(0)} ms; busy per event ${((busyMs * 1000) / run.events).toFixed(2)} µs. "Busy" is every sample not idle: it includes time blocked in a system call (\`fdatasync\`) and in \`Atomics.wait\` (\`sleepUntilWork\`), which are waits, not CPU.\n\n| self ms | % of busy | µs / event | function |\n|---:|---:|---:|---|\n`
      for (const [k, ms] of rows.slice(0, 15))
        md += `| ${ms.toFixed(0)} | ${((100 * ms) / busyMs).toFixed(1)} | ${((ms * 1000) / run.events).toFixed(2)} | \`${k}\` |\n`
      const svg = flameSvg(p, `${name}: flame graph (width = CPU samples, idle left out)`)
      if (svg !== '') {
        fs.writeFileSync(`${base}-t${i}.svg`, svg)
        md += `\nFlame graph: [${path.basename(base)}-t${i}.svg](${path.basename(base)}-t${i}.svg)\n`
      }
    })
    fs.writeFileSync(`${base}.md`, md)
    process.stdout.write(md)
    console.log(`\nwrote ${base}.md and ${files.length} flame graphs`)
  } finally {
    fs.rmSync(work, { recursive: true, force: true })
  }
}

if (process.argv[2] === '--child') {
  const [, , , events, window, payloadBytes, dir] = process.argv
  await child(Number(events), Number(window), Number(payloadBytes), dir!)
} else {
  await main()
}
