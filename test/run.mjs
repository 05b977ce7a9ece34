#!/usr/bin/env node
// Runs every built test file (dist/test/**/*.test.js) in its own node process,
// so a crash or a hung worker in one file cannot hide the others, and ends with
// the one line CI reads: "N passed, N failed".
//
//   node test/run.mjs [filter]   only files whose path contains filter
//   TEST_TIMEOUT_S=600           per-file limit (default 600 s)
import { spawn } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const testDir = path.join(root, 'dist', 'test')
const filter = process.argv[2] ?? ''
const timeoutMs = Number(process.env.TEST_TIMEOUT_S ?? 600) * 1000

function find(dir) {
  const out = []
  for (const name of readdirSync(dir).sort()) {
    const p = path.join(dir, name)
    if (statSync(p).isDirectory()) out.push(...find(p))
    else if (name.endsWith('.test.js')) out.push(p)
  }
  return out
}

const strip = (s) => s.replace(/\x1b\[[0-9;]*m/g, '')

function runFile(file) {
  return new Promise((resolve) => {
    const started = Date.now()
    const child = spawn(process.execPath, [file], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FORCE_COLOR: '0' },
    })
    let out = ''
    child.stdout.on('data', (d) => {
      out += d
      process.stdout.write(d)
    })
    child.stderr.on('data', (d) => {
      out += d
      process.stderr.write(d)
    })
    const timer = setTimeout(() => {
      out += `\n[run] ${file} timed out after ${timeoutMs} ms\n`
      child.kill('SIGKILL')
    }, timeoutMs)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      const text = strip(out)
      const total = Number(/Total:\s+(\d+)/.exec(text)?.[1] ?? NaN)
      const passed = Number(/Passed:\s+(\d+)/.exec(text)?.[1] ?? NaN)
      const skipped = Number(/Skipped:\s+(\d+)/.exec(text)?.[1] ?? 0)
      let p = 0,
        f = 0
      if (Number.isNaN(total) || Number.isNaN(passed))
        f = 1 // crashed before uvu could report
      else {
        p = passed
        f = total - passed - skipped
      }
      if (code !== 0 && f === 0) f = 1 // uvu exits non-zero on failure; a clean summary with a bad exit is a failure too
      resolve({
        file: path.relative(root, file),
        passed: p,
        failed: f,
        skipped,
        ms: Date.now() - started,
        code,
        signal,
      })
    })
  })
}

const files = find(testDir).filter((f) => f.includes(filter))
if (files.length === 0) {
  console.log(`no test files under ${testDir} match "${filter}"`)
  console.log('0 passed, 1 failed')
  process.exit(1)
}
const results = []
for (const file of files) {
  console.log(`\n── ${path.relative(root, file)}`)
  results.push(await runFile(file))
}
console.log('\nfile                                              passed failed  seconds')
for (const r of results)
  console.log(
    `${r.file.padEnd(50)} ${String(r.passed).padStart(6)} ${String(r.failed).padStart(6)} ${(r.ms / 1000).toFixed(1).padStart(8)}`,
  )
const passed = results.reduce((a, r) => a + r.passed, 0)
const failed = results.reduce((a, r) => a + r.failed, 0)
console.log(`${passed} passed, ${failed} failed`)
process.exit(failed === 0 ? 0 : 1)
