// The small CLI defects of issue 13, each held by a test: the bench harness's --help (it crashed with a
// stack trace) and its usage errors; `replay --json` (it was refused although docs/cli.md promised --json);
// --json on every command that reads a log, and on version; and docs/cli.md's command table, which lacked
// torture and bench: it must name every command `mtlog-audit --help` lists. No randomness.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { cli, cliAsync, nodeAsync, SMALL, writeLog } from '../helpers/cli-run.js'
import { ev, tempDir } from '../helpers/dirs.js'

const RUNNER = fileURLToPath(new URL('../../bench/run.js', import.meta.url))
const DOCS_CLI = fileURLToPath(new URL('../../../docs/cli.md', import.meta.url))
const EVENTS = 12

/** A stack trace has frames ("    at fn (file:line)"); a usage error is a sentence. */
const STACK_FRAME = /^\s+at .+:\d+/m

test('bench/run.js --help prints the options and exits 0', async () => {
  const r = await nodeAsync([RUNNER, '--help'], { cwd: os.tmpdir() })
  assert.is(r.code, 0, r.err)
  assert.is(r.err, '')
  assert.match(r.out, /^Usage: node dist\/bench\/run\.js \[options\]/)
  for (const flag of ['--quick', '--repeat', '--only', '--out', '--dir', '--soak-seconds', '--help'])
    assert.ok(r.out.includes(flag), `--help does not mention ${flag}`)
  const short = await nodeAsync([RUNNER, '-h'], { cwd: os.tmpdir() })
  assert.is(short.code, 0)
  assert.is(short.out, r.out)
})

test('bench/run.js: an unknown option or a bad value is a message on stderr, exit 2, and nothing runs', async () => {
  const work = tempDir('defects-bench')
  const out = path.join(work, 'out')
  const cases: [string[], RegExp][] = [
    [['--no-such-flag'], /^bench\/run: Unknown option '--no-such-flag'/],
    [['--repeat', '0'], /^bench\/run: --repeat must be an integer ≥ 1 \(got "0"\)/],
    [['--seconds', 'soon'], /^bench\/run: --seconds must be a number/],
    [['stray'], /^bench\/run: .*stray/],
  ]
  const runs = await Promise.all(
    cases.map(([args]) => nodeAsync([RUNNER, ...args, '--out', out, '--dir', work], { cwd: os.tmpdir() })),
  )
  runs.forEach((r, i) => {
    const [args, message] = cases[i]!
    assert.is(r.code, 2, `${args.join(' ')}: exit ${r.code}\n${r.err}`)
    assert.match(r.err, message)
    assert.not.match(r.err, STACK_FRAME, `${args.join(' ')} printed a stack trace:\n${r.err}`)
    assert.is(r.out, '', `${args.join(' ')} ran something:\n${r.out}`)
  })
  assert.equal(fs.readdirSync(work), [], 'a refused run wrote reports or run directories')
})

/** One small log, shared by the tests below (read-only commands do not change it). */
let logDir: string | undefined
async function theLog(): Promise<string> {
  if (logDir === undefined) {
    const dir = tempDir('defects-log')
    await writeLog(
      dir,
      Array.from({ length: EVENTS }, (_, i) => ev(i)),
      SMALL,
    )
    logDir = dir
  }
  return logDir
}

test('replay --json is --format json; with --format it is a usage error', async () => {
  const dir = await theLog()
  const [json, format, clash, same] = await Promise.all([
    cliAsync('replay', dir, '--json'),
    cliAsync('replay', dir, '--format', 'json'),
    cliAsync('replay', dir, '--json', '--format', 'clef'),
    cliAsync('replay', dir, '--format', 'json', '--json'),
  ])
  assert.is(json.code, 0, json.err)
  assert.is(json.out, format.out)
  const seqs = json.out
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { seq: number }).seq)
  assert.equal(
    seqs,
    Array.from({ length: EVENTS }, (_, i) => i + 1),
  )
  for (const r of [clash, same]) {
    assert.is(r.code, 2, r.err)
    assert.match(r.err, /option '--json' cannot be used with option '--format <format>'/)
    assert.is(r.out, '')
  }
})

test('every command that reads a log, and version, prints its result as JSON with --json', async () => {
  const dir = await theLog()
  const work = tempDir('defects-json')
  const cases: [string, string[], (out: string) => void][] = [
    ['verify', ['verify', dir, '--json'], (o) => assert.is(JSON.parse(o).ok, true)],
    [
      'replay',
      ['replay', dir, '--json'],
      (o) =>
        assert.is(
          o
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l)).length,
          EVENTS,
        ),
    ],
    [
      'export',
      ['export', dir, '--format', 'jsonl', '--output', path.join(work, 'out.jsonl'), '--json'],
      (o) => assert.is(JSON.parse(o).records, EVENTS),
    ],
    [
      'recover',
      ['recover', dir, '--output', path.join(work, 'recovered'), '--json'],
      (o) => assert.is(JSON.parse(o).ok, true),
    ],
    ['stats', ['stats', dir, '--json'], (o) => assert.is(JSON.parse(o).ok, true)],
    ['monitor', ['monitor', dir, '--once', '--json'], (o) => assert.type(JSON.parse(o).committedSeq, 'number')],
    ['version', ['version', '--json'], (o) => assert.type(JSON.parse(o).version, 'string')],
  ]
  const runs = await Promise.all(cases.map(([, args]) => cliAsync(...args)))
  runs.forEach((r, i) => {
    const [name, , check] = cases[i]!
    // monitor's exit code is its verdict (1: a problem seen), which test/cli/monitor.test.ts holds; here, the JSON.
    const codes = name === 'monitor' ? [0, 1] : [0]
    assert.ok(codes.includes(r.code!), `${name} --json: exit ${r.code}\n${r.err}`)
    try {
      check(r.out)
    } catch (err) {
      throw new Error(`${name} --json printed no JSON result: ${(err as Error).message}\n${r.out.slice(0, 500)}`)
    }
  })
})

test('torture and bench take --json <file> (a file, as docs/cli.md says)', () => {
  for (const cmd of ['torture', 'bench']) {
    const r = cli(cmd, '--help')
    assert.is(r.code, 0, r.err)
    assert.match(r.out, /--json <file(\.json)?>/, `${cmd} --help:\n${r.out}`)
  }
})

/** Command names in `mtlog-audit --help` ("Commands:" section), without `help`. */
function commandsOfHelp(help: string): string[] {
  const section = help.split(/^Commands:$/m)[1] ?? ''
  return [...section.matchAll(/^ {2}([a-z][a-z0-9-]*)\b/gm)].map((m) => m[1]!).filter((c) => c !== 'help')
}

test("docs/cli.md's command table names every command of `mtlog-audit --help`", () => {
  const help = cli('--help')
  assert.is(help.code, 0)
  const commands = commandsOfHelp(help.out)
  for (const c of ['verify', 'replay', 'export', 'recover', 'stats', 'monitor', 'version', 'torture', 'bench'])
    assert.ok(commands.includes(c), `--help does not list ${c} (or the help parser is wrong):\n${help.out}`)
  const doc = fs.readFileSync(DOCS_CLI, 'utf8')
  const table = new Set([...doc.matchAll(/^\| `([a-z][a-z0-9-]*)\b[^`]*` \|/gm)].map((m) => m[1]!))
  const missing = commands.filter((c) => !table.has(c))
  assert.equal(missing, [], `commands without a row in docs/cli.md's command table: ${missing.join(', ')}`)
})

test.run()
