// The package's integration surface: every subpath export points at a built
// file, the optional peers are peerDependencies marked optional (and exact
// devDependencies), and `import 'mtlog-audit'` loads none of them: a child
// process records every module the loader resolves (fixtures/record-loads.js).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { tempDir } from '../helpers/dirs.js'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
/** This build's root (dist/ or a private .build-NAME/): where the exports' dist/ paths land. */
const BUILD = fileURLToPath(new URL('../../', import.meta.url))
const PKG = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  exports: Record<string, { types: string; default: string } | string>
  peerDependencies: Record<string, string>
  peerDependenciesMeta: Record<string, { optional: boolean }>
  devDependencies: Record<string, string>
}
const PEERS = ['pino', 'winston', 'express', 'fastify', 'prom-client', 'thread-stream']
const HOOK = new URL('./fixtures/record-loads.js', import.meta.url).href

function built(p: string): string {
  return path.join(BUILD, p.replace(/^\.\/dist\//, ''))
}

test('every integration is a subpath export whose types and code exist in the build', () => {
  for (const sub of ['pino', 'pino-transport', 'winston', 'http', 'prometheus', 'health', 'shutdown']) {
    const e = PKG.exports[`./${sub}`]
    assert.ok(typeof e === 'object', `no export ./${sub}`)
    const entry = e as { types: string; default: string }
    assert.is(entry.default, `./dist/lib/adapters/${sub}.js`)
    assert.ok(fs.existsSync(built(entry.default)), `${entry.default} is not built`)
    assert.ok(fs.existsSync(built(entry.types)), `${entry.types} is not built`)
  }
})

test('the peers are optional peerDependencies and exact-pinned devDependencies', () => {
  for (const p of PEERS) {
    assert.ok(PKG.peerDependencies[p], `${p} is not a peer dependency`)
    assert.is(PKG.peerDependenciesMeta[p]?.optional, true, `${p} is not optional`)
    assert.match(PKG.devDependencies[p] ?? '', /^\d+\.\d+\.\d+$/, `${p} is not exact-pinned`)
  }
  assert.match(PKG.devDependencies.pino!, /^10\./)
  assert.match(PKG.devDependencies.winston!, /^3\./)
  assert.match(PKG.devDependencies.express!, /^5\./)
  assert.match(PKG.devDependencies.fastify!, /^5\./)
  assert.match(PKG.devDependencies['prom-client']!, /^15\./)
})

function loads(entry: string): string[] {
  const log = path.join(tempDir('loads'), 'loads.txt')
  fs.writeFileSync(log, '')
  const code = `await import(${JSON.stringify(entry)})`
  const r = spawnSync(process.execPath, ['--import', HOOK, '--input-type=module', '-e', code], {
    env: { ...process.env, MTLOG_LOAD_LOG: log },
    encoding: 'utf8',
  })
  assert.is(r.status, 0, r.stderr)
  return fs.readFileSync(log, 'utf8').split('\n').filter(Boolean)
}

function peersIn(lines: string[]): string[] {
  return PEERS.filter((p) => lines.some((l) => l.includes(`/node_modules/${p}/`) || l === `cjs:${p}`))
}

test('import of the package entry loads none of the optional peers (the recorder does see a peer when one loads)', () => {
  const entry = loads(new URL('../../lib/index.js', import.meta.url).href)
  assert.ok(
    entry.some((l) => l.endsWith('/lib/index.js')),
    'the recorder saw nothing',
  )
  assert.equal(peersIn(entry), [])
  // The face of the integrations room and the peer-free subpaths load none either.
  for (const f of ['index', 'pino', 'pino-transport', 'http', 'prometheus', 'health', 'shutdown'])
    assert.equal(peersIn(loads(new URL(`../../lib/adapters/${f}.js`, import.meta.url).href)), [], f)
  // A control: mtlog-audit/winston loads winston, and the recorder sees it.
  assert.equal(peersIn(loads(new URL('../../lib/adapters/winston.js', import.meta.url).href)), ['winston'])
})

test.run()
