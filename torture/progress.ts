/**
 * A small progress line on stderr: scenario, a bar, iterations, iterations/s,
 * crash states, failures. Redrawn in place on a TTY; on a pipe (a background
 * campaign) one plain line every `plainEveryMs`.
 */

export class Progress {
  private last = 0
  private readonly tty = process.stderr.isTTY === true

  constructor(
    private readonly enabled: boolean,
    private readonly plainEveryMs = 15_000,
  ) {}

  update(
    s: {
      scenario: string
      done: number
      total: number
      startedMs: number
      states: number
      kills: number
      failures: number
    },
    force = false,
  ): void {
    if (!this.enabled) return
    const now = Date.now()
    if (!force && now - this.last < (this.tty ? 100 : this.plainEveryMs)) return
    this.last = now
    const secs = Math.max((now - s.startedMs) / 1000, 1e-3)
    const frac = s.total > 0 ? Math.min(1, s.done / s.total) : 0
    const width = 24
    const fill = Math.round(frac * width)
    const bar = `${'█'.repeat(fill)}${'░'.repeat(width - fill)}`
    const line = `${s.scenario.padEnd(22)} ${bar} ${s.done}/${s.total} it  ${(s.done / secs).toFixed(2)} it/s  ${s.states} states  ${s.kills} kills  ${s.failures} failures  ${secs.toFixed(0)} s`
    if (this.tty) process.stderr.write(`\r\x1b[2K${line}`)
    else process.stderr.write(`${new Date().toISOString()} ${line}\n`)
  }

  end(): void {
    if (this.enabled && this.tty) process.stderr.write('\n')
  }
}
