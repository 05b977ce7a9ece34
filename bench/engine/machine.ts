/**
 * The machine a bench runs on, and how busy the rest of it was: CPU, memory,
 * disk and file system (machineInfo), load and pressure right now (loadLine),
 * CPU used by other processes and CPU / I/O pressure during one run
 * (noiseMark ─► noiseSince), and the verdict over all runs (noiseReport).
 * Other people's work skews the numbers, so every run records it.
 */

import { execFileSync } from 'node:child_process'
import fsSync from 'node:fs'
import fsp from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type { Run } from './engine.js'
import { spread, type Spread } from './latency.js'
import { fmt } from './tables.js'

export interface Noise {
  /** CPU cores' worth used by other processes (all CPU time minus this process's), averaged over the run. */
  otherCores: number
  /** Share of the run during which some runnable thread waited for a CPU (/proc/pressure/cpu), %. */
  cpuPressurePct: number
  /** Share of the run during which some task waited for I/O (/proc/pressure/io), %. */
  ioPressurePct: number
}

interface NoiseMark {
  wallMs: number
  busyMs: number
  ownUs: number
  cpuSomeUs: number
  ioSomeUs: number
}

function psiTotal(kind: 'cpu' | 'io'): number {
  try {
    const m = /^some .*total=(\d+)/m.exec(fsSync.readFileSync(`/proc/pressure/${kind}`, 'utf8'))
    return m ? Number(m[1]) : NaN
  } catch {
    return NaN
  }
}

function busyMs(): number {
  let sum = 0
  for (const c of os.cpus()) sum += c.times.user + c.times.nice + c.times.sys + c.times.irq
  return sum
}

export function noiseMark(): NoiseMark {
  const u = process.cpuUsage()
  return {
    wallMs: performance.now(),
    busyMs: busyMs(),
    ownUs: u.user + u.system,
    cpuSomeUs: psiTotal('cpu'),
    ioSomeUs: psiTotal('io'),
  }
}

export function noiseSince(m: NoiseMark): Noise {
  const now = noiseMark()
  const wall = Math.max(1, now.wallMs - m.wallMs)
  return {
    otherCores: Math.max(0, (now.busyMs - m.busyMs - (now.ownUs - m.ownUs) / 1000) / wall),
    cpuPressurePct: ((now.cpuSomeUs - m.cpuSomeUs) / 1000 / wall) * 100,
    ioPressurePct: ((now.ioSomeUs - m.ioSomeUs) / 1000 / wall) * 100,
  }
}

// ── machine ─────────────────────────────────────────────────────────────────

function sh(cmd: string, args: string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return undefined
  }
}

function readTrim(file: string): string | undefined {
  try {
    return fsSync.readFileSync(file, 'utf8').trim()
  } catch {
    return undefined
  }
}

/** File system, device and (where /sys tells) the disk's model and kind. */
function diskOf(dir: string): { fileSystem: string; disk: string } {
  const out = sh('df', ['-PT', dir])?.split('\n')
  const f = out?.[out.length - 1]?.split(/\s+/)
  if (f === undefined || f.length < 7)
    return { fileSystem: sh('stat', ['-f', '-c', '%T', dir]) ?? 'unknown', disk: 'unknown' }
  const dev = f[0]!
  let disk = dev
  try {
    let name = path.basename(fsSync.realpathSync(dev))
    if (!fsSync.existsSync(`/sys/block/${name}`)) {
      const parent = path.basename(path.dirname(fsSync.realpathSync(`/sys/class/block/${name}`)))
      if (fsSync.existsSync(`/sys/block/${parent}`)) name = parent
    }
    const model = readTrim(`/sys/block/${name}/device/model`)
    const rot = readTrim(`/sys/block/${name}/queue/rotational`)
    const sizeGiB = (Number(readTrim(`/sys/block/${name}/size`) ?? NaN) * 512) / 2 ** 30
    disk = `${name}${model ? ` ${model}` : ''}${rot === '0' ? ', non-rotational' : rot === '1' ? ', rotational' : ''}${Number.isFinite(sizeGiB) ? `, ${sizeGiB.toFixed(0)} GiB` : ''}`
  } catch {
    // keep the device name
  }
  return { fileSystem: `${f[1]} (${dev} mounted on ${f[6]})`, disk }
}

function psiAvg(kind: 'cpu' | 'io'): string {
  const some = /^some avg10=([\d.]+) avg60=([\d.]+)/m.exec(readTrim(`/proc/pressure/${kind}`) ?? '')
  return some ? `${some[1]}% (10 s), ${some[2]}% (60 s)` : 'n/a'
}

/** Load average and CPU / I/O pressure right now (printed at the start and end of every run). */
export function loadLine(): string {
  return `load average ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}, CPU pressure ${psiAvg('cpu')}, I/O pressure ${psiAvg('io')}`
}

export interface Machine {
  cpu: string
  cores: number
  memoryGiB: number
  os: string
  node: string
  benchDir: string
  fileSystem: string
  disk: string
  loadAtStart: string
  date: string
}

export function machineInfo(baseDir: string): Machine {
  const cpus = os.cpus()
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    benchDir: baseDir,
    ...diskOf(baseDir),
    loadAtStart: loadLine(),
    date: new Date().toISOString(),
  }
}

/** The file-name stem of a results set: `<kind>-<date of the run, to the second>` (bench-2026-11-25T15-38-28). */
export function resultStem(m: Machine, kind: string): string {
  return `${kind}-${m.date.slice(0, 19).replaceAll(':', '-')}`
}

/**
 * A script's report in the folder out: `<kind>-<date>.md` (the markdown it
 * printed) and `.json` (the machine, then `data`: when it started, its
 * arguments, its figures).
 */
export async function writeReport(
  out: string,
  m: Machine,
  kind: string,
  md: string,
  data: Record<string, unknown>,
): Promise<void> {
  await fsp.mkdir(out, { recursive: true })
  const base = path.join(out, resultStem(m, kind))
  await fsp.writeFile(`${base}.md`, md)
  await fsp.writeFile(`${base}.json`, `${JSON.stringify({ machine: m, ...data }, null, 2)}\n`)
}

export function machineLines(m: Machine): string[] {
  return [
    `- machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}`,
    `- node ${m.node}; bench dir ${m.benchDir} on ${m.fileSystem}; disk ${m.disk}`,
    `- date ${m.date}`,
    `- at start: ${m.loadAtStart}`,
  ]
}

export interface NoiseReport {
  runs: number
  noisyRuns: number
  thresholdCores: number
  otherCores: Spread
  cpuPressurePct: Spread
  ioPressurePct: Spread
  loadAtStart: string
  loadAtEnd: string
  noisy: boolean
  verdict: string
}

/** Noisy: more than a tenth of the runs had other processes above the threshold, or the load at either end exceeded half the cores. */
export function noiseReport(
  runs: Run[],
  thresholdCores: number,
  loadAtStart: string,
  loadAtEnd: string,
  load1Start: number,
  load1End: number,
): NoiseReport {
  const noisyRuns = runs.filter((r) => r.noise.otherCores > thresholdCores).length
  const cores = os.cpus().length
  const busyLoad = Math.max(load1Start, load1End) > cores / 2
  const noisy = noisyRuns * 10 > runs.length || busyLoad
  const other = spread(runs.map((r) => r.noise.otherCores))
  const verdict =
    `${noisy ? 'NOISY' : 'quiet'}: ${noisyRuns} of ${runs.length} runs had other processes above ${thresholdCores} cores ` +
    `(other processes: median ${fmt(other.median, 2)}, max ${fmt(other.max, 2)} cores); 1-min load ${load1Start.toFixed(2)} at start, ${load1End.toFixed(2)} at end on ${cores} cores`
  return {
    runs: runs.length,
    noisyRuns,
    thresholdCores,
    otherCores: other,
    cpuPressurePct: spread(runs.map((r) => r.noise.cpuPressurePct)),
    ioPressurePct: spread(runs.map((r) => r.noise.ioPressurePct)),
    loadAtStart,
    loadAtEnd,
    noisy,
    verdict,
  }
}
