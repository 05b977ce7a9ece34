// The house's rules, read from the source (docs/architecture.md, "Rooms"):
// every relative import (static, type, dynamic, re-export, worker URL) of every
// source file under lib/, shared/, workers/, bench/, torture/ and examples/ is an
// edge from one room to another, and each edge must be one the table allows.
// A folder under lib/ is entered through its index.ts; shared/ is a library of
// small modules imported file by file. And every source file of the library
// (lib/, shared/, workers/) has a row in docs/architecture.md's module table.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from 'uvu'
import * as assert from 'uvu/assert'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** Rooms, longest prefix first; a file belongs to the first room whose prefix it starts with. */
const ROOMS = [
  'lib/index.ts',
  'lib/compliance/rules/',
  'lib/compliance/report/',
  'lib/replicate/backends/',
  'lib/integrity/',
  'lib/crypto/',
  'lib/sink/',
  'lib/read/',
  'lib/repair/',
  'lib/replicate/',
  'lib/adapters/',
  'lib/cli/',
  'shared/',
  'workers/',
  'bench/',
  'torture/',
  'examples/',
] as const
type Room = (typeof ROOMS)[number]

const LIB_FACES: Room[] = [
  'lib/integrity/',
  'lib/crypto/',
  'lib/compliance/rules/',
  'lib/sink/',
  'lib/read/',
  'lib/replicate/backends/',
  'lib/replicate/',
  'lib/repair/',
  'lib/compliance/report/',
  'lib/adapters/',
]

/** Which rooms each room may import (its own room is always allowed). */
const MAY: Record<Room, readonly Room[]> = {
  'shared/': [],
  'lib/integrity/': ['shared/'],
  'lib/crypto/': ['shared/'],
  'lib/compliance/rules/': ['shared/'],
  'lib/sink/': ['shared/', 'lib/integrity/', 'lib/crypto/', 'lib/compliance/rules/'],
  'lib/read/': ['shared/', 'lib/integrity/', 'lib/crypto/', 'lib/replicate/backends/'],
  'lib/replicate/backends/': ['shared/', 'lib/integrity/'],
  'lib/replicate/': ['shared/', 'lib/integrity/', 'lib/replicate/backends/'],
  'lib/repair/': ['shared/', 'lib/read/', 'lib/integrity/', 'lib/crypto/'],
  'lib/compliance/report/': [
    'shared/',
    'lib/read/',
    'lib/integrity/',
    'lib/crypto/',
    'lib/replicate/',
    'lib/replicate/backends/',
  ],
  'lib/adapters/': ['shared/', 'lib/sink/', 'lib/read/', 'lib/replicate/'],
  'lib/index.ts': ['shared/', ...LIB_FACES],
  'lib/cli/': ['shared/', 'lib/index.ts', ...LIB_FACES, 'workers/', 'bench/', 'torture/'],
  'workers/': ['shared/', 'lib/integrity/', 'lib/crypto/', 'lib/replicate/', 'lib/replicate/backends/'],
  'bench/': ['shared/', 'lib/index.ts', ...LIB_FACES],
  'torture/': ['shared/', 'lib/index.ts', ...LIB_FACES, 'workers/'],
  'examples/': ['lib/index.ts', 'lib/adapters/'],
}

/**
 * Which rooms' files a room may start as a thread or process (`new URL(...)`
 * handed to a Worker or a child process): a thread boundary, not an import.
 */
const MAY_SPAWN: Partial<Record<Room, readonly Room[]>> = {
  'lib/sink/': ['workers/'],
  'bench/': ['torture/'],
  'torture/': ['lib/cli/'],
}

const SPECIFIER = /(\bfrom\s*|\bimport\s+|\bimport\s*\(\s*|\bnew URL\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g

function roomOf(rel: string): Room | undefined {
  return ROOMS.find((r) => (r.endsWith('/') ? rel.startsWith(r) : rel === r))
}

function sources(dir: string): string[] {
  const out: string[] = []
  const abs = path.join(ROOT, dir)
  for (const name of readdirSync(abs).sort()) {
    if (name === 'node_modules' || name === 'results') continue
    const rel = path.posix.join(dir, name)
    if (statSync(path.join(ROOT, rel)).isDirectory()) out.push(...sources(rel))
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(rel)
  }
  return out
}

interface Edge {
  from: string
  to: string
  line: number
  spawn: boolean
}

function edgesOf(file: string): Edge[] {
  const text = readFileSync(path.join(ROOT, file), 'utf8')
  const edges: Edge[] = []
  for (const m of text.matchAll(SPECIFIER)) {
    const spec = m[2]!
    if (!/\.(js|ts)$/.test(spec)) continue // a URL to data (package.json, a fixture folder)
    const to = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec)).replace(/\.js$/, '.ts')
    edges.push({ from: file, to, line: text.slice(0, m.index).split('\n').length, spawn: m[1]!.startsWith('new URL') })
  }
  return edges
}

const FILES = ['lib', 'shared', 'workers', 'bench', 'torture', 'examples'].flatMap(sources)

test('every source file belongs to a room of the table', () => {
  const homeless = FILES.filter((f) => roomOf(f) === undefined)
  assert.equal(homeless, [], `files outside every room: ${homeless.join(', ')}`)
})

test('every import points the way the table allows', () => {
  const bad: string[] = []
  for (const file of FILES) {
    const from = roomOf(file)!
    for (const e of edgesOf(file)) {
      const to = roomOf(e.to)
      if (to === undefined) {
        bad.push(`${file}:${e.line} imports ${e.to}, which is in no room`)
        continue
      }
      if (to === from) continue
      const allowed = e.spawn ? [...MAY[from], ...(MAY_SPAWN[from] ?? [])] : MAY[from]
      if (!allowed.includes(to)) bad.push(`${file}:${e.line} (${from}) may not import ${e.to} (${to})`)
    }
  }
  assert.equal(bad, [], bad.join('\n'))
})

test('a folder under lib/ is entered through its index.ts', () => {
  const bad: string[] = []
  for (const file of FILES) {
    const from = roomOf(file)!
    for (const e of edgesOf(file)) {
      const to = roomOf(e.to)!
      if (to === from || !LIB_FACES.includes(to) || e.spawn) continue
      // lib/adapters/ files are each a subpath export: entered file by file.
      if (to === 'lib/adapters/') continue
      if (e.to !== `${to}index.ts`) bad.push(`${file}:${e.line} imports ${e.to}: import ${to}index.ts instead`)
    }
  }
  assert.equal(bad, [], bad.join('\n'))
})

test('nothing in lib/ outside lib/cli/ loads torture/ or bench/', () => {
  const bad = FILES.filter((f) => f.startsWith('lib/') && !f.startsWith('lib/cli/'))
    .flatMap(edgesOf)
    .filter((e) => e.to.startsWith('torture/') || e.to.startsWith('bench/'))
    .map((e) => `${e.from}:${e.line} → ${e.to}`)
  assert.equal(bad, [], bad.join('\n'))
})

test('the rule table itself refuses a forbidden edge (read/ → sink/, shared/ → lib/)', () => {
  assert.not.ok(MAY['lib/read/'].includes('lib/sink/'))
  assert.not.ok(MAY['shared/'].includes('lib/sink/'))
  assert.not.ok(MAY['lib/sink/'].includes('bench/'))
  assert.is(roomOf('lib/read/reader.ts'), 'lib/read/')
  assert.is(roomOf('lib/replicate/backends/s3.ts'), 'lib/replicate/backends/')
})

test('docs/architecture.md has a module-table row for every file of the library', () => {
  const doc = readFileSync(path.join(ROOT, 'docs/architecture.md'), 'utf8')
  const rows = new Set<string>()
  for (const m of doc.matchAll(/^\|([^|\n]*)\|/gm)) for (const c of m[1]!.matchAll(/`([^`]+\.ts)`/g)) rows.add(c[1]!)
  const library = FILES.filter((f) => f.startsWith('lib/') || f.startsWith('shared/') || f.startsWith('workers/'))
  const missing = library.filter((f) => !rows.has(f))
  assert.equal(missing, [], `missing from docs/architecture.md's module table: ${missing.join(', ')}`)
  const stale = [...rows].filter(
    (r) => (r.startsWith('lib/') || r.startsWith('shared/') || r.startsWith('workers/')) && !library.includes(r),
  )
  assert.equal(stale, [], `rows for files that do not exist: ${stale.join(', ')}`)
})

test.run()
