// Every error code must be documented, and errors must survive the trip
// between threads with their code, details and cause.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readFileSync } from 'node:fs'
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads'
import { AuditError, ERROR_CODES, fromWire, toWire } from '../../shared/errors.js'

const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8')

test('every error code is documented in docs/errors.md', () => {
  const missing = Object.values(ERROR_CODES).filter((code) => !doc.includes(`\`${code}\``))
  assert.equal(missing, [], `undocumented codes: ${missing.join(', ')}`)
})

test('docs/errors.md documents no code that does not exist', () => {
  const known = new Set<string>(Object.values(ERROR_CODES))
  const documented = [...doc.matchAll(/`(ERR_AUDIT_[A-Z_]+)`/g)].map((m) => m[1]!)
  assert.equal(
    documented.filter((c) => !known.has(c)),
    [],
  )
})

test('codes are unique and all start with ERR_AUDIT_', () => {
  const codes = Object.values(ERROR_CODES)
  assert.is(new Set(codes).size, codes.length)
  for (const c of codes) assert.match(c, /^ERR_AUDIT_[A-Z_]+$/)
})

test('an error crosses postMessage with code, details and cause chain intact', () => {
  const fsErr = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' })
  const io = new AuditError(ERROR_CODES.IO, 'fdatasync failed on x.wal', {
    cause: fsErr,
    details: { op: 'fdatasync', path: 'x.wal', errno: 'EIO' },
  })
  const { port1, port2 } = new MessageChannel()
  port1.postMessage(toWire(io))
  const got = fromWire(receiveMessageOnPort(port2)!.message)
  port1.close()
  assert.ok(got instanceof AuditError)
  assert.is((got as AuditError).code, 'ERR_AUDIT_IO')
  assert.equal((got as AuditError).details, { op: 'fdatasync', path: 'x.wal', errno: 'EIO' })
  assert.is((got.cause as NodeJS.ErrnoException).code, 'EIO')
  assert.is((got.cause as Error).message, 'EIO: i/o error, fdatasync')
})

test('a plain Error without a code arrives as ERR_UNKNOWN, not as one of ours', () => {
  const got = fromWire(toWire(new Error('boom')))
  assert.not.ok(got instanceof AuditError)
  assert.is((got as NodeJS.ErrnoException).code, 'ERR_UNKNOWN')
})

test.run()
