// A real `mtlog-audit witness serve` child process for tests.
import { spawn, type ChildProcess } from 'node:child_process'
import { CLI } from './cli-run.js'

export interface Running {
  child: ChildProcess
  url: string
  stdout: string[]
  exited: Promise<number | null>
}

/** Start `witness serve` and wait for its listening line (a guard against a hang, not a timing check). */
export function serve(args: string[]): Promise<Running> {
  const child = spawn(process.execPath, [CLI, 'witness', 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  const lines: string[] = []
  let err = ''
  child.stderr!.on('data', (d) => (err += d))
  return new Promise((resolve, reject) => {
    const guard = setTimeout(() => reject(new Error(`no listening line in 60 s; stderr: ${err}`)), 60_000)
    let buf = ''
    child.stdout!.on('data', (d) => {
      buf += d
      let nl: number
      while ((nl = buf.indexOf('\n')) >= 0) {
        lines.push(buf.slice(0, nl))
        buf = buf.slice(nl + 1)
        const m = /listening on (http:\/\/\S+)$/.exec(lines[lines.length - 1]!)
        if (m) {
          clearTimeout(guard)
          resolve({ child, url: m[1]!, stdout: lines, exited })
        }
      }
    })
    void exited.then((code) => {
      clearTimeout(guard)
      reject(
        Object.assign(new Error(`witness exited ${code} before listening: ${err}`), { exitCode: code, stderr: err }),
      )
    })
  })
}
