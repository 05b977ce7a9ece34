// The package a user installs, tested as a user meets it: this build packed with `npm pack`, the tarball
// installed into two fresh apps made with `npm init -y` (CommonJS, as npm makes it, and "type": "module"),
// each app opening a sink, emitting, closing and reading the log back (on Node 20 and on Node 24), the
// installed CLI run (verify, and short torture and bench runs: their runtimes ship because users run them
// on their own disks), the types checked with the repository's tsc as a TypeScript user with @types/node
// checks them, and the tarball's file list held to what it should carry: no tests, results, source maps,
// bench peers or campaign tools, and no shipped file that points at a file left out.
//
// What is packed: this test's own build folder (dist/ under `npm test`, .build-<name>/ for an engineer's
// private build), copied as dist/ into a stage beside package.json, README.md, LICENSE, CHANGELOG.md and
// docs/, then `npm pack --ignore-scripts`. The prepack script (npm run build) is skipped on purpose: the
// suite has just built this folder, and the stage holds no sources to build from. Packing a copy, not the
// working tree, also keeps another build running in the tree meanwhile out of the tarball.
//
// Needs the npm registry (the tarball's dependencies, @types/node@20; --prefer-offline uses the cache when
// it can). MTLOG_SKIP_NODE24=1 skips the Node 24 runs, as in test/sink/node24.test.ts. No randomness: the
// torture run has a fixed seed.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { tempDir } from '../helpers/dirs.js'

const BUILD = fileURLToPath(new URL('../../', import.meta.url))
const ROOT = path.dirname(path.resolve(BUILD))
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
const NPM_QUIET = ['--no-audit', '--no-fund', '--prefer-offline']
const NODE24 = process.env.MTLOG_SKIP_NODE24 !== '1'
/** The slowest step (an npm install on a cold cache) is far inside this; a hang is a failure, not a wait. */
const CHILD_MS_MAX = 300_000

interface Ran {
  code: number | null
  out: string
  err: string
}

/**
 * The environment of the npm and node children: this process's, without what `npm test` sets for its own
 * package (its lifecycle, its package fields, its local prefix), which would point a child npm at this
 * repository instead of the app it runs in. Registry and cache settings are kept.
 */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env))
    if (!/^npm_(package_|lifecycle_|command$|config_(call|local_prefix)$)|^INIT_CWD$/.test(k)) env[k] = v
  return { ...env, ...extra }
}

function sh(cmd: string, args: string[], cwd: string, extra: Record<string, string> = {}): Promise<Ran> {
  return new Promise((resolve) => {
    const c = spawn(cmd, args, { cwd, env: childEnv(extra), stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    const timer = setTimeout(() => c.kill('SIGKILL'), CHILD_MS_MAX)
    c.stdout.on('data', (d) => (out += d))
    c.stderr.on('data', (d) => (err += d))
    c.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, out, err })
    })
  })
}

function ok(r: Ran, what: string): Ran {
  assert.is(r.code, 0, `${what} exited ${r.code}\n--- stdout\n${r.out}\n--- stderr\n${r.err}`)
  return r
}

interface PackEntry {
  filename: string
  size: number
  unpackedSize: number
  entryCount: number
  files: { path: string; size: number }[]
}

/** What the tests share: the tarball, its listing, and the two installed apps. */
interface Installed {
  pack: PackEntry
  tarball: string
  cjsApp: string
  esmApp: string
}

let installed: Installed | undefined
let setupError: unknown

/** The stage: this build as dist/ (without its tests and build info), beside the files npm always packs. */
function stage(dir: string): void {
  for (const f of ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md'])
    fs.copyFileSync(path.join(ROOT, f), path.join(dir, f))
  fs.cpSync(path.join(ROOT, 'docs'), path.join(dir, 'docs'), { recursive: true })
  fs.cpSync(BUILD, path.join(dir, 'dist'), {
    recursive: true,
    filter: (src) => !/^(test|\.tsbuildinfo)$/.test(path.relative(BUILD, src).split(path.sep)[0] ?? ''),
  })
}

async function app(dir: string, type: 'commonjs' | 'module', tarball: string, more: string[]): Promise<void> {
  fs.mkdirSync(dir)
  ok(await sh('npm', ['init', '-y'], dir), `npm init -y in ${dir}`)
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { type?: string }
  // What npm init makes is the CommonJS app as a user gets it (npm 11 writes "type": "commonjs"; older npm none).
  if (type === 'module') ok(await sh('npm', ['pkg', 'set', 'type=module'], dir), 'npm pkg set type=module')
  else assert.ok(pkg.type === undefined || pkg.type === 'commonjs', `npm init -y made type ${pkg.type}`)
  ok(await sh('npm', ['install', tarball, ...more, ...NPM_QUIET], dir), `npm install in ${dir}`)
}

async function install(): Promise<Installed> {
  const work = tempDir('package')
  const stageDir = path.join(work, 'stage')
  const packDir = path.join(work, 'pack')
  fs.mkdirSync(stageDir)
  fs.mkdirSync(packDir)
  stage(stageDir)
  const packed = ok(
    await sh('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', packDir], stageDir),
    'npm pack',
  )
  const pack = (JSON.parse(packed.out) as PackEntry[])[0]!
  const tarball = path.join(packDir, pack.filename)
  const cjsApp = path.join(work, 'cjs-app')
  const esmApp = path.join(work, 'esm-app')
  // The two installs share npm's cache and nothing else: side by side.
  await Promise.all([app(cjsApp, 'commonjs', tarball, []), app(esmApp, 'module', tarball, ['@types/node@20'])])
  return { pack, tarball, cjsApp, esmApp }
}

test.before(async () => {
  try {
    installed = await install()
  } catch (err) {
    setupError = err // reported by every test: a hook that throws would end the file without a summary
  }
})

function the(): Installed {
  if (installed === undefined) throw new Error(`packing or installing failed: ${(setupError as Error)?.message}`)
  return installed
}

/** Files of the tarball that must never be in it, and why. */
const NEVER: [RegExp, string][] = [
  [/(^|\/)test\/|\.test\.(js|d\.ts)$/, 'a test file'],
  [/(^|\/)results\//, 'a results file'],
  [/\.map$/, 'a source map (it points at .ts files the package does not ship)'],
  [/\.tsbuildinfo$/, 'tsc build info'],
  [/\.ts$(?<!\.d\.ts)/, 'a TypeScript source'],
  [/(^|\/)node_modules\//, "the bench peers' modules"],
  [/^dist\/bench\/(?!engine\/)/, 'the bench harness or its peers (only bench/engine is the runtime of `bench`)'],
  [/^dist\/torture\/(campaign|summarize|core-id)\./, 'a campaign tool'],
  [/^dist\/(bench|torture)\/.*\.d\.ts$/, "types of the CLI's runtimes (nothing a user imports)"],
  [/^dist\/examples\//, 'an example'],
]

/** Relative specifiers of a built file: imports, re-exports, dynamic imports and worker/child URLs. */
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\bnew URL\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g

test('the tarball ships the library, its types, the CLI and its runtimes, and nothing else', () => {
  const { pack } = the()
  const files = new Set(pack.files.map((f) => f.path))
  console.log(
    `tarball: ${pack.entryCount} files, ${pack.size} bytes packed, ${pack.unpackedSize} bytes unpacked (${pack.filename})`,
  )
  const bad = [...files].flatMap((f) => NEVER.filter(([re]) => re.test(f)).map(([, why]) => `${f}: ${why}`))
  assert.equal(bad, [], `files that must not ship:\n${bad.join('\n')}`)

  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    exports: Record<string, Record<string, string> | string>
    bin: Record<string, string>
    scripts: Record<string, string>
  }
  const entries = [
    ...Object.values(pkg.exports).flatMap((e) => (typeof e === 'string' ? [e] : Object.values(e))),
    ...Object.values(pkg.bin),
  ].map((p) => path.posix.normalize(p))
  for (const e of entries) assert.ok(files.has(e), `${e} (exports or bin) is not in the tarball`)
  for (const f of ['README.md', 'LICENSE', 'CHANGELOG.md', 'docs/errors.md'])
    assert.ok(files.has(f), `${f} is not in the tarball`)
  assert.match(pkg.scripts.prepack ?? '', /\bnpm run build\b/, 'no prepack build: a never-built clone packs no dist/')

  // Every library module of this build ships (lib/, shared/, workers/ hold no harness)...
  const lib = ['lib', 'shared', 'workers'].flatMap((d) => builtJs(path.join(BUILD, d)).map((f) => `dist/${f}`))
  const missing = lib.filter((f) => !files.has(f) || !files.has(f.replace(/\.js$/, '.d.ts')))
  assert.equal(missing, [], `library modules (or their .d.ts) not in the tarball: ${missing.join(', ')}`)
  // ...and no shipped file imports, re-exports or starts a file that does not.
  const dangling: string[] = []
  for (const f of files) {
    if (!/\.(js|d\.ts)$/.test(f)) continue
    const text = fs.readFileSync(path.join(BUILD, f.slice('dist/'.length)), 'utf8')
    for (const m of text.matchAll(SPECIFIER)) {
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(f), m[1]!))
      const as = f.endsWith('.d.ts') ? target.replace(/\.js$/, '.d.ts') : target
      if (!files.has(as)) dangling.push(`${f} → ${as}`)
    }
  }
  assert.equal(dangling, [], `shipped files that point at files left out:\n${dangling.join('\n')}`)
})

/** .js files under dir, relative to BUILD, posix separators. */
function builtJs(dir: string): string[] {
  if (!fs.existsSync(dir)) return []
  return (fs.readdirSync(dir, { recursive: true }) as string[])
    .filter((f) => f.endsWith('.js'))
    .map((f) => path.relative(BUILD, path.join(dir, f)).split(path.sep).join('/'))
}

/** The app's script: open a sink, emit three events, close, read them back; one JSON line. */
function appScript(importLine: string): string {
  return `${importLine}
const dir = process.argv[2]
async function main() {
  const sink = await AuditSink.open({ dir })
  const receipts = []
  for (const n of [1, 2, 3])
    receipts.push(await sink.emit({ level: 'Information', messageTemplate: 'Order {N} placed', properties: { N: n } }))
  await sink.close()
  const read = []
  for await (const rec of readLog(dir)) read.push({ seq: rec.seq, template: rec.event.messageTemplate, n: rec.event.properties.N })
  console.log(JSON.stringify({ node: process.version, seqs: receipts.map((r) => r.seq), read }))
}
main().catch((err) => { console.error(err); process.exitCode = 1 })
`
}

const EXPECTED_READ = [1, 2, 3].map((n) => ({ seq: n, template: 'Order {N} placed', n }))

/** Run the app's script on Node 20 (this node) and, unless skipped, Node 24; each writes a log of its own. */
async function runApp(appDir: string, script: string): Promise<string[]> {
  const dirs: string[] = []
  const runs: [string, string[]][] = [[process.execPath, [script]]]
  if (NODE24) runs.push(['npx', ['-y', 'node@24', script]])
  for (const [cmd, args] of runs) {
    const log = path.join(appDir, `audit-${dirs.length}`)
    const r = ok(await sh(cmd, [...args, log], appDir), `${cmd} ${args.join(' ')}`)
    const res = JSON.parse(r.out.trim().split('\n').at(-1)!) as { node: string; seqs: number[]; read: unknown }
    assert.equal(res.seqs, [1, 2, 3], `${res.node}: receipts`)
    assert.equal(res.read, EXPECTED_READ, `${res.node}: what readLog gave back`)
    assert.not.match(r.err, /Warning/, `${res.node} warned: ${r.err}`) // require(esm) is not experimental here
    dirs.push(log)
  }
  if (!NODE24) console.log('node 24 runs skipped: MTLOG_SKIP_NODE24=1')
  return dirs
}

test('a CommonJS app made with `npm init -y` requires the package: open, emit, close, readLog', async () => {
  const { cjsApp } = the()
  fs.writeFileSync(path.join(cjsApp, 'index.js'), appScript("const { AuditSink, readLog } = require('mtlog-audit')"))
  const pkgVersion = ok(
    await sh(process.execPath, ['-p', "require('mtlog-audit/package.json').version"], cjsApp),
    'require package.json',
  )
  const ours = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }
  assert.is(pkgVersion.out.trim(), ours.version)
  await runApp(cjsApp, 'index.js')
})

test('an ESM app imports the package, and the installed CLI verifies and replays what it wrote', async () => {
  const { esmApp } = the()
  fs.writeFileSync(path.join(esmApp, 'index.js'), appScript("import { AuditSink, readLog } from 'mtlog-audit'"))
  const [log] = await runApp(esmApp, 'index.js')
  // `npx --no`: the bin this app installed, never a download.
  const v = ok(await sh('npx', ['--no', 'mtlog-audit', 'verify', log!, '--json'], esmApp), 'mtlog-audit verify')
  assert.is((JSON.parse(v.out) as { ok: boolean }).ok, true)
  const r = ok(await sh('npx', ['--no', 'mtlog-audit', 'replay', log!, '--json'], esmApp), 'mtlog-audit replay')
  const events = r.out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { seq: number; message: string })
  assert.equal(
    events.map((e) => [e.seq, e.message]),
    [1, 2, 3].map((n) => [n, `Order ${n} placed`]),
  )
})

test('the installed CLI runs torture and bench: their runtimes ship', async () => {
  const { cjsApp } = the()
  const npx = (...args: string[]): Promise<Ran> => sh('npx', ['--no', 'mtlog-audit', ...args], cjsApp)
  for (const cmd of ['torture', 'bench']) {
    const help = ok(await npx(cmd, '--help'), `mtlog-audit ${cmd} --help`)
    assert.match(help.out, new RegExp(`^Usage: mtlog-audit ${cmd}`))
  }
  // One iteration each of the scenarios that start files by path: the kill -9 child and its producer
  // thread, the simulated disk loaded as a storage module, and the CLI run beside a live writer.
  const t = ok(
    await npx(
      'torture',
      '--scenario',
      'Kill9DuringWrite,PowerLoss,ConcurrentCorruption',
      '--iterations',
      '1',
      '--quick',
      '--seed',
      '1',
      '--no-progress',
    ),
    'mtlog-audit torture',
  )
  assert.match(t.out, /seed 1: 3 iterations, \d+ real SIGKILLs, \d+ states checked, 0 failures/)
  // The engine with its worker threads; no peers here (they live in a checkout's bench/node_modules).
  const work = tempDir('package-bench')
  const b = ok(await npx('bench', '--quick', '--seconds', '0.05', '--dir', work), 'mtlog-audit bench')
  assert.match(b.out, /- verified: every run;/)
  assert.match(b.out, /peers not run: .*peers\.js does not exist/)
})

test('a TypeScript user with @types/node type-checks against the types (nodenext; ESM and CommonJS files)', async () => {
  const { esmApp } = the()
  // The ts-expect-error lines prove the types are real: were any of them `any`, tsc would report the
  // directive as unused (TS2578) and fail.
  fs.writeFileSync(
    path.join(esmApp, 'check.ts'),
    `import { AuditError, AuditSink, readLog, verifyLog, type AuditEvent } from 'mtlog-audit'

export async function roundTrip(dir: string): Promise<number[]> {
  const event: AuditEvent = { level: 'Warning', messageTemplate: 'Limit {Limit} reached', properties: { Limit: 5 } }
  {
    await using sink = await AuditSink.open({ dir })
    const receipt: { seq: number } = await sink.emit(event)
    void receipt
    // @ts-expect-error: emit takes an event
    void sink.emit(42)
  }
  // @ts-expect-error: 'Loud' is not a level
  const loud: AuditEvent = { level: 'Loud', messageTemplate: 'x' }
  void loud
  const seqs: number[] = []
  for await (const rec of readLog(dir)) seqs.push(rec.seq)
  const ok: boolean = (await verifyLog(dir)).ok
  return ok ? seqs : []
}

export function codeOf(err: unknown): string | undefined {
  return err instanceof AuditError ? err.code : undefined
}
`,
  )
  fs.writeFileSync(
    path.join(esmApp, 'check-cjs.cts'),
    `import { AuditSink, readLog } from 'mtlog-audit'

export async function count(dir: string): Promise<number> {
  const sink = await AuditSink.open({ dir })
  await sink.emit({ level: 'Information', messageTemplate: 'x' })
  await sink.close()
  let n = 0
  for await (const rec of readLog(dir)) n = rec.seq
  // @ts-expect-error: a seq is a number
  const s: string = n
  return s.length
}
`,
  )
  fs.writeFileSync(
    path.join(esmApp, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        module: 'nodenext',
        moduleResolution: 'nodenext',
        target: 'es2022',
        lib: ['es2022', 'esnext.disposable'],
        types: ['node'],
        strict: true,
        noEmit: true,
        skipLibCheck: false, // our .d.ts files are checked too, as a strict user's build checks them
      },
      files: ['check.ts', 'check-cjs.cts'],
    }),
  )
  const r = await sh(process.execPath, [TSC, '-p', 'tsconfig.json'], esmApp)
  assert.is(r.code, 0, `tsc failed:\n${r.out}${r.err}`)
})

test.run()
