// The built CLI run many times in ONE process: each run evaluates
// lib/cli/main.js afresh (the real entry point: argument parsing, the command,
// the exit-code mapping), with its own argv, its stdout and stderr captured
// and process.exitCode read and reset after it. For tests that check the CLI's
// verdict on many logs, where a node process per log would cost more than the
// check (test/workers/v2-seal.test.ts):
//   node dist/test/helpers/cli-many.js <file.json: [[...args], ...]>  →  JSON [{ code, out, err }, ...]
import fs from 'node:fs'
import { spawn } from 'node:child_process'
import type { CliResult } from './cli-run.js'

const MAIN = new URL('../../lib/cli/main.js', import.meta.url).href

/** Run `mtlog-audit <args>` for each args, all in one child process. */
export function cliMany(runs: string[][], scratch: string): Promise<CliResult[]> {
  fs.writeFileSync(scratch, JSON.stringify(runs))
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [new URL(import.meta.url).pathname, scratch])
    let out = ''
    let err = ''
    c.stdout.on('data', (d) => (out += d))
    c.stderr.on('data', (d) => (err += d))
    c.on('close', (code) => {
      if (code !== 0) reject(new Error(`cli-many exited ${code}: ${err.slice(0, 2000)}`))
      else resolve(JSON.parse(out) as CliResult[])
    })
  })
}

if (process.argv[1] === new URL(import.meta.url).pathname) {
  const runs = JSON.parse(fs.readFileSync(process.argv[2]!, 'utf8')) as string[][]
  const results: CliResult[] = []
  const write = { out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr) }
  for (let k = 0; k < runs.length; k++) {
    let out = ''
    let err = ''
    process.stdout.write = ((s: string | Uint8Array) => ((out += String(s)), true)) as typeof process.stdout.write
    process.stderr.write = ((s: string | Uint8Array) => ((err += String(s)), true)) as typeof process.stderr.write
    process.argv = [process.argv[0]!, 'mtlog-audit', ...runs[k]!]
    process.exitCode = undefined
    try {
      await import(`${MAIN}?run=${k}`)
    } finally {
      process.stdout.write = write.out
      process.stderr.write = write.err
    }
    results.push({ code: Number(process.exitCode ?? 0), out, err })
  }
  process.exitCode = 0
  write.out(JSON.stringify(results))
}
