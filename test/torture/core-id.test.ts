// Campaign pieces add up per library, not per commit (torture/core-id.ts):
// the id must follow every file the library reaches and ignore every other.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { coreId } from '../../torture/core-id.js'

const repo = fs.mkdtempSync(path.join(os.tmpdir(), 'mtlog-core-id-'))
const git = (...args: string[]): string =>
  execFileSync('git', ['-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@example.invalid', ...args], {
    encoding: 'utf8',
  }).trim()
function write(file: string, text: string): void {
  fs.mkdirSync(path.dirname(path.join(repo, file)), { recursive: true })
  fs.writeFileSync(path.join(repo, file), text)
}
function commit(message: string): string {
  git('add', '-A')
  git('commit', '-q', '-m', message)
  return git('rev-parse', 'HEAD')
}

git('init', '-q')
write('lib/index.ts', "export { open } from './sink.js'\n")
write(
  'lib/sink.ts',
  "import type { X } from '../shared/types.js'\nconst w = new URL('../workers/writer.js', import.meta.url)\n",
)
write('shared/types.ts', 'export type X = number\n')
write(
  'workers/writer.ts',
  "const m = await import('./lazy.js')\nimport { crc } from '../shared/crc.js'\nimport fs from 'node:fs'\n",
)
write('workers/lazy.ts', "import './side-effect.js'\nexport const lazy = 1\n")
write('workers/side-effect.ts', 'globalThis.x = 1\n')
write('shared/crc.ts', 'export const crc = 1\n')
write('lib/commands/torture.ts', "import { open } from '../index.js'\n")
write('torture/runner.ts', "import { open } from '../lib/index.js'\n")
const a = commit('a')

test('the closure follows static, side-effect, type, dynamic and worker imports from both entry points, and nothing else', () => {
  assert.equal(coreId(a, repo).files, [
    'lib/index.ts',
    'lib/sink.ts',
    'shared/crc.ts',
    'shared/types.ts',
    'workers/lazy.ts',
    'workers/side-effect.ts',
    'workers/writer.ts',
  ])
  assert.match(coreId(a, repo).id, /^[0-9a-f]{12}$/)
})

test('a commit that changes only files outside the library keeps the id; one inside changes it', () => {
  write('lib/commands/torture.ts', "import { open } from '../index.js'\n// a new option\n")
  write('torture/runner.ts', '// a watchdog\n')
  const b = commit('runner only')
  assert.is(coreId(b, repo).id, coreId(a, repo).id)
  write('workers/lazy.ts', 'export const lazy = 2\n')
  const c = commit('the library')
  assert.is.not(coreId(c, repo).id, coreId(a, repo).id)
})

test('a dirty or unknown commit has no id', () => {
  assert.is(coreId(`${a}+dirty`, repo).id, 'dirty')
  assert.is(coreId('0'.repeat(40), repo).id, 'unknown')
})

test.after(() => fs.rmSync(repo, { recursive: true, force: true }))

test.run()
