/**
 * Which library a campaign piece tested. A piece records the commit it ran
 * (`--commit`), but most commits change the runner, the benchmarks or the
 * docs, not the library; pieces on two commits add up exactly when the
 * library's sources are the same at both.
 *
 * coreId(commit) = SHA-256 over (path, git blob id) of every source file the
 * library's entry points reach at that commit: static and side-effect imports, dynamic
 * `import('./x.js')`, and worker entries `new URL('./x.js', import.meta.url)`,
 * followed from CORE_ENTRIES; relative specifiers only (packages are pinned by
 * package-lock.json, not counted here). torture/, bench/, the CLI's commands
 * and docs are outside the closure, so changing them keeps the id.
 *
 * Read from git (the commit's tree, not the working tree); a commit recorded
 * as `<sha>+dirty` has no id.
 */

import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import path from 'node:path'

/** The library's entry points: the public API and the writer thread. */
export const CORE_ENTRIES = ['lib/index.ts', 'workers/writer/main.ts'] as const

const SPECIFIER = /(?:\bfrom\s*|\bimport\s+|\bimport\s*\(\s*|\bnew URL\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g

export interface CoreId {
  /** First 12 hex digits of the digest; 'dirty' or 'unknown' when it cannot be computed. */
  id: string
  /** The files in the closure, sorted. */
  files: string[]
}

function git(repo: string, args: string[]): string {
  return execFileSync('git', ['-C', repo, ...args], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'ignore'],
  })
}

export function coreId(commit: string, repo = process.cwd()): CoreId {
  if (commit.endsWith('+dirty')) return { id: 'dirty', files: [] }
  let tree: Map<string, string>
  try {
    tree = new Map(
      git(repo, ['ls-tree', '-r', commit])
        .split('\n')
        .filter(Boolean)
        .map((line) => {
          const tab = line.indexOf('\t')
          return [line.slice(tab + 1), line.slice(0, tab).split(' ')[2]!] as [string, string]
        }),
    )
  } catch {
    return { id: 'unknown', files: [] }
  }
  const seen = new Set<string>()
  const todo: string[] = CORE_ENTRIES.filter((f) => tree.has(f))
  while (todo.length > 0) {
    const file = todo.pop()!
    if (seen.has(file)) continue
    seen.add(file)
    const text = git(repo, ['cat-file', '-p', tree.get(file)!])
    for (const m of text.matchAll(SPECIFIER)) {
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), m[1]!))
      const ts = target.replace(/\.js$/, '.ts')
      if (tree.has(ts)) todo.push(ts)
      else if (tree.has(target)) todo.push(target)
    }
  }
  const files = [...seen].sort()
  const h = createHash('sha256')
  for (const f of files) h.update(`${f}\0${tree.get(f)}\n`)
  return { id: files.length === 0 ? 'unknown' : h.digest('hex').slice(0, 12), files }
}
