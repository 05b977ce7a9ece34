/** `mtlog-audit monitor <dir>`: a live view of a running log, read-only, from another process. */

import type { Command } from 'commander'
import { InvalidArgumentError } from 'commander'
import { LogWatcher, type MonitorSnapshot } from '../../read/index.js'
import { EXIT, mb, run } from '../common.js'

const CSI = '\x1b['

function lag(ms: number | undefined): string {
  if (ms === undefined) return '-'
  if (ms < 60_000) return `${(ms / 1000).toFixed(3)} s`
  const s = Math.round(ms / 1000)
  return s < 3600 ? `${Math.floor(s / 60)}m ${s % 60}s` : `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`
}

export function screen(s: MonitorSnapshot, windowMs: number): string[] {
  const writer =
    s.writer === undefined
      ? 'none (no LOCK: no writer has the log open)'
      : `pid ${s.writer.pid} on ${s.writer.host}, ${s.writer.alive ? 'alive' : 'not running (stale LOCK)'}`
  const lines = [
    `mtlog-audit monitor  ${s.dir}    (q or Ctrl-C to quit)`,
    '',
    `  time         ${s.at}`,
    `  status       ${s.errorCount === 0 ? 'OK' : `DAMAGE SEEN (${s.errorCount} problem${s.errorCount === 1 ? '' : 's'})`}`,
    `  committed    seq ${s.committedSeq}`,
    `  events/s     ${s.eventsPerSecond.toFixed(1)}  (committed, over the last ${windowMs / 1000} s)`,
    `  durable lag  ${lag(s.durableLagMs)}  (now − timestamp of the last committed record${s.lastCommitTime === undefined ? '' : `, ${s.lastCommitTime}`})`,
    `  tail         ${s.tailBytes} bytes written after the last COMMIT (not yet committed)`,
    `  segment      ${s.segment ?? '-'}  ${mb(s.segmentBytes)} MB  (${s.segments} segment${s.segments === 1 ? '' : 's'})`,
    `  writer       ${writer}`,
    `  problems     ${s.errors.length === 0 ? 'none' : ''}`,
  ]
  for (const e of s.errors) lines.push(`    ${e}`)
  return lines
}

function intervalArg(v: string): number {
  const n = Number(v)
  if (!/^\d+$/.test(v) || n < 50 || n > 60_000)
    throw new InvalidArgumentError('must be an integer from 50 to 60000 (ms)')
  return n
}

export function register(program: Command): void {
  program
    .command('monitor')
    .description(
      'live view of a running log (read-only, from another process): events/s, durable lag, tail, segment, problems',
    )
    .argument('<dir>', 'the WAL directory')
    .option('--interval <ms>', 'refresh every ms milliseconds', intervalArg, 1000)
    .option('--once', 'print one snapshot and exit')
    .option('--json', 'print snapshots as JSON lines instead of the screen')
    .addHelpText(
      'after',
      `
Durable lag = now − timestamp of the last committed record; tail = bytes after the last COMMIT.
On a terminal the screen refreshes in place; q or Ctrl-C quits. Otherwise one snapshot per refresh.
Exit codes: 0 quit and no damage seen, 1 damage was seen, 2 usage, 3 no WAL / not a WAL.`,
    )
    .action((dir: string, opts: { interval: number; once?: boolean; json?: boolean }) =>
      run(async () => {
        const watcher = new LogWatcher(dir, { windowMs: Math.max(5000, opts.interval * 3) })
        const windowMs = Math.max(5000, opts.interval * 3)
        const tty = process.stdout.isTTY === true && opts.json !== true
        let snap = await watcher.poll() // a missing or foreign directory fails here, before the screen is taken
        if (opts.once) {
          snap = await watcher.poll() // a problem counts once it is seen twice (a read can race a write)
          console.log(opts.json ? JSON.stringify(snap) : screen(snap, windowMs).join('\n'))
          return snap.errorCount > 0 ? EXIT.INTEGRITY : EXIT.OK
        }
        let quit: () => void = () => {}
        const stopped = new Promise<void>((resolve) => (quit = resolve))
        const onKey = (d: Buffer): void => {
          const k = d.toString('latin1')
          if (k.includes('q') || k.includes('Q') || k.includes('\x03')) quit()
        }
        const stdinRaw = process.stdin.isTTY === true
        if (stdinRaw) {
          process.stdin.setRawMode(true)
          process.stdin.on('data', onKey)
          process.stdin.resume()
        }
        process.once('SIGINT', quit)
        process.once('SIGTERM', quit)
        if (tty) process.stdout.write(`${CSI}?25l${CSI}2J`)
        try {
          for (;;) {
            if (tty)
              process.stdout.write(
                `${CSI}H${screen(snap, windowMs)
                  .map((l) => `${l}${CSI}K`)
                  .join('\n')}\n${CSI}J`,
              )
            else if (opts.json) process.stdout.write(JSON.stringify(snap) + '\n')
            else
              process.stdout.write(
                `${snap.at} committed seq ${snap.committedSeq}  ${snap.eventsPerSecond.toFixed(1)} events/s  lag ${lag(snap.durableLagMs)}  tail ${snap.tailBytes} B  ${snap.segment ?? '-'}  problems ${snap.errorCount}\n`,
              )
            let timer: NodeJS.Timeout | undefined
            const tick = new Promise<'tick'>((resolve) => (timer = setTimeout(() => resolve('tick'), opts.interval)))
            const why = await Promise.race([tick, stopped.then(() => 'quit' as const)])
            clearTimeout(timer)
            if (why === 'quit') break
            snap = await watcher.poll()
          }
        } finally {
          if (stdinRaw) {
            process.stdin.off('data', onKey)
            process.stdin.setRawMode(false)
            process.stdin.pause()
          }
          process.off('SIGINT', quit)
          process.off('SIGTERM', quit)
          if (tty) process.stdout.write(`${CSI}?25h\n`)
        }
        return snap.errorCount > 0 ? EXIT.INTEGRITY : EXIT.OK
      }),
    )
}
