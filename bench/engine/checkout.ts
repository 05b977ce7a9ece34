/**
 * Where the package is, and the peers of a checkout. packageRoot() walks up
 * from this file to the directory holding package.json; the peers (pino,
 * better-sqlite3, fs-sync) are bench/peers.ts, built to dist/bench/peers.js,
 * with bench/node_modules, loaded at run time when a checkout has them.
 * localResultsDir() is where the harness's scripts write their reports by
 * default: bench/results/local/, ignored by git (bench/results/ itself holds
 * only the sets the docs quote, committed by hand).
 */

import fsSync from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { System } from './system.js'

export function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url))
  while (!fsSync.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir)
    if (up === dir) return process.cwd()
    dir = up
  }
  return dir
}

/** The default folder of the harness's reports: regenerated files stay out of the repository. */
export function localResultsDir(root = packageRoot()): string {
  return path.join(root, 'bench', 'results', 'local')
}

/** Where a checkout keeps the peers' modules, and the built module that wraps them. */
export interface PeerLoad {
  systems: System[]
  notes: string[]
}

export async function loadPeersFromCheckout(root = packageRoot()): Promise<PeerLoad> {
  const wrapper = path.join(root, 'dist', 'bench', 'peers.js')
  if (!fsSync.existsSync(wrapper)) {
    return {
      systems: [],
      notes: [
        `peers not run: ${wrapper} does not exist (the peers live in the repository's bench/: in a checkout, npm install --prefix bench && npx tsc -p .)`,
      ],
    }
  }
  const mod = (await import(pathToFileURL(wrapper).href)) as { loadPeers(modulesDir: string): Promise<PeerLoad> }
  return mod.loadPeers(process.env.BENCH_MODULES_DIR ?? path.join(root, 'bench', 'node_modules'))
}

/**
 * The library of a built dist/ directory, imported: lib/index.js since the
 * house layout, lib/sink.js in builds before it (A/B scripts pair builds).
 */
export async function importBuild(dist: string): Promise<typeof import('../../lib/index.js')> {
  const file = ['index.js', 'sink.js'].map((f) => path.resolve(dist, 'lib', f)).find((f) => fsSync.existsSync(f))
  if (file === undefined) throw new Error(`${dist} is not a built dist/ directory (no lib/index.js or lib/sink.js)`)
  return (await import(pathToFileURL(file).href)) as typeof import('../../lib/index.js')
}

/** Options with "$DIR" in any string value replaced by the run's log directory. */
export function withDir<T>(options: T, dir: string): T {
  return JSON.parse(JSON.stringify(options).replaceAll('$DIR', dir.replaceAll('\\', '\\\\'))) as T
}
