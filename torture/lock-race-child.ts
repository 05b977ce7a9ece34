/**
 * A writer process for StaleLockRace (torture/scenarios/lock-race.ts). argv:
 * <dir> <producer p> <salt>. With MTLOG_AUDIT_TEST_LOCK_GATE set in its
 * environment, its open waits at the lock's test seam right after it judged
 * the lock stale (shared/lock.ts). It says, one line each:
 *   O <lockFile>        open succeeded, holding that lock file
 *   X <code>            open refused with that error code
 *   A <seq> <p> <n>     emit n of producer p resolved with seq
 *   E <code>            an emit rejected
 *   D                   closed
 * and obeys stdin: "emit K" (the next K events of the oracle for p, all in
 * flight at once), "close".
 */

import { createInterface } from 'node:readline'
import { AuditSink } from '../lib/sink/index.js'
import { makeOracle } from './events.js'

const [dir, pArg, saltArg] = process.argv.slice(2)
const p = Number(pArg)
const oracle = makeOracle({ salt: Number(saltArg) })
const out = (s: string): boolean => process.stdout.write(s + '\n')

let sink: AuditSink
try {
  sink = await AuditSink.open({ dir: dir! })
} catch (err) {
  out(`X ${(err as { code?: string }).code ?? 'uncoded'}`)
  process.exit(0)
}
out(`O ${sink.openReport.locks[0]?.file ?? '?'}`)
let n = 0
for await (const line of createInterface({ input: process.stdin })) {
  const [cmd, arg] = line.split(' ')
  if (cmd === 'emit') {
    const first = n
    n += Number(arg)
    await Promise.all(
      Array.from({ length: n - first }, (_, k) =>
        sink.emit(oracle.event(p, first + k)).then(
          (r) => out(`A ${r.seq} ${p} ${first + k}`),
          (err: unknown) => out(`E ${(err as { code?: string }).code ?? 'uncoded'}`),
        ),
      ),
    )
    out('F')
  } else if (cmd === 'close') {
    await sink.close()
    out('D')
    break
  }
}
process.exit(0)
