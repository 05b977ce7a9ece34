/**
 * Encryption A/B: one build, encryption off vs on (vs personal data), in one
 * process, interleaved (docs/encryption.md, "Measured").
 *
 *   node dist/bench/crypt-ab.js [--windows 256,4096] [--rounds 6] [--seconds 1.5] [--modes off,on,personal]
 *
 * Every round runs each window in every mode back to back (the order rotates
 * between rounds), each on a fresh directory and keyring, so the disk's drift
 * hits all modes alike; the verdict is the PAIRED ratio mode/off within a round.
 * Figures per run: durable events/s of a closed loop (256-B events); the app
 * thread's CPU per acked event (user + system of the main thread from
 * /proc/self/task/<pid>/stat, clock ticks: emit, encoding, publishing,
 * settling, the loop itself; the writer's work is on its own thread and not in
 * it); and its busy time per event (performance.eventLoopUtilization, wall
 * time, so it also counts time descheduled on a loaded machine).
 * `personal` adds a subject (one of 100) and one personal field to each event,
 * with personalData naming them (the subject keys are made in the warm-up).
 */

import fs from 'node:fs'
import fsp from 'node:fs/promises'
import { execFileSync } from 'node:child_process'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { AuditSink, Keyring } from '../lib/index.js'
import type { AuditEvent } from '../shared/event.js'
import { eventMaker } from './engine/events.js'
import { spread } from './engine/latency.js'
import { closedLoop } from './engine/loops.js'
import { loadLine, machineInfo, machineLines } from './engine/machine.js'
import { fmt } from './engine/tables.js'

type Mode = 'off' | 'on' | 'personal'
interface Sample {
  eventsPerSec: number
  appUsPerEvent: number
  appCpuUsPerEvent: number
}

const TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100

/** CPU seconds (user + system) of this process's main thread so far, from /proc (Linux; clock ticks). */
function mainThreadCpuSeconds(): number {
  const stat = fs.readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(f[11]) + Number(f[12])) / TICKS_PER_SECOND
}

async function once(mode: Mode, window: number, seconds: number, baseDir: string): Promise<Sample> {
  const dir = await fsp.mkdtemp(path.join(baseDir, 'mtlog-audit-crypt-ab-'))
  const base = eventMaker(256)
  const mk =
    mode === 'personal'
      ? (t: number, i: number): AuditEvent => {
          const ev = base(t, i)
          return { ...ev, properties: { ...ev.properties, PatientId: `p-${i % 100}`, PatientName: `Name ${i % 100}` } }
        }
      : base
  try {
    const keyring = path.join(dir, 'keyring.json')
    if (mode !== 'off') (await Keyring.create(keyring)).close()
    const sink = await AuditSink.open({
      dir: path.join(dir, 'log'),
      ...(mode === 'off' ? {} : { encryption: { keyring } }),
      ...(mode === 'personal' ? { personalData: { subject: 'PatientId', fields: ['PatientName'] } } : {}),
    })
    const emit = (e: AuditEvent): Promise<unknown> => sink.emit(e)
    await closedLoop(emit, mk, 0, window, 300, undefined) // warm-up (and the subject keys)
    const elu0 = performance.eventLoopUtilization()
    const cpu0 = mainThreadCpuSeconds()
    const t0 = performance.now()
    const r = await closedLoop(emit, mk, 0, window, seconds * 1000, undefined)
    const elapsed = (performance.now() - t0) / 1000
    const elu = performance.eventLoopUtilization(elu0)
    const cpu = mainThreadCpuSeconds() - cpu0
    await sink.close()
    return {
      eventsPerSec: r.acked / elapsed,
      appUsPerEvent: (elu.active * 1000) / r.acked,
      appCpuUsPerEvent: (cpu * 1e6) / r.acked,
    }
  } finally {
    await fsp.rm(dir, { recursive: true, force: true })
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      windows: { type: 'string' },
      rounds: { type: 'string' },
      seconds: { type: 'string' },
      modes: { type: 'string' },
      dir: { type: 'string' },
    },
  })
  const windows = (values.windows ?? '256,4096').split(',').map(Number)
  const rounds = Number(values.rounds ?? 6)
  const seconds = Number(values.seconds ?? 1.5)
  const modes = (values.modes ?? 'off,on,personal').split(',') as Mode[]
  if (modes[0] !== 'off' || modes.some((m) => !['off', 'on', 'personal'].includes(m)))
    throw new Error('--modes: off first, then on and/or personal')
  const baseDir = values.dir ?? os.tmpdir()
  const machine = machineInfo(baseDir)
  const samples = new Map<string, Sample[]>()
  const key = (w: number, m: Mode): string => `${w} ${m}`
  for (let r = 0; r < rounds; r++) {
    for (const w of windows) {
      const order = modes.map((_, i) => modes[(i + r) % modes.length]!)
      for (const m of order) samples.set(key(w, m), [...(samples.get(key(w, m)) ?? []), await once(m, w, seconds, baseDir)])
    }
    process.stderr.write(`round ${r + 1}/${rounds} done\n`)
  }
  const lines = [
    '# Encryption A/B (closed loop, 256-B events, main thread, one build)',
    '',
    ...machineLines(machine),
    `- at end: ${loadLine()}`,
    `- command: \`node dist/bench/crypt-ab.js ${process.argv.slice(2).join(' ')}\``,
    `- ${rounds} rounds, modes interleaved (order rotating), ${seconds} s measured each, fresh directory and keyring each`,
    '',
    '| window | mode | events/s (median) | / off, paired: median (min–max) | app-thread CPU µs per event (median) | / off, paired: median (min–max) | app-thread busy µs per event (median) | / off, paired |',
    '|---:|---|---:|---:|---:|---:|---:|---:|',
  ]
  for (const w of windows) {
    const off = samples.get(key(w, 'off'))!
    for (const m of modes) {
      const s = samples.get(key(w, m))!
      const tp = spread(s.map((x, i) => x.eventsPerSec / off[i]!.eventsPerSec))
      const busy = spread(s.map((x, i) => x.appUsPerEvent / off[i]!.appUsPerEvent))
      const cpu = spread(s.map((x, i) => x.appCpuUsPerEvent / off[i]!.appCpuUsPerEvent))
      lines.push(
        `| ${w} | ${m} | ${fmt(spread(s.map((x) => x.eventsPerSec)).median, 0)} | ${tp.median.toFixed(2)} (${tp.min.toFixed(2)}–${tp.max.toFixed(2)}) | ${spread(s.map((x) => x.appCpuUsPerEvent)).median.toFixed(2)} | ${cpu.median.toFixed(2)} (${cpu.min.toFixed(2)}–${cpu.max.toFixed(2)}) | ${spread(s.map((x) => x.appUsPerEvent)).median.toFixed(2)} | ${busy.median.toFixed(2)} |`,
      )
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`)
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).message}\n`)
  process.exitCode = 1
})
