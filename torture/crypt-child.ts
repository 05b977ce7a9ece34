// The process test/sink/crypt-crash.test.ts and the EncryptedLog torture
// scenario (torture/scenarios/crypt.ts) kill with SIGKILL. Run as
//   node crypt-child.js '<CryptChildConfig JSON>'
// It opens an encrypted sink with personal data and emits with many emits in
// flight, rotating the data key and erasing a subject on the way; one line per
// fact on stdout (synchronous to a pipe on Linux, so a line written is a line
// the parent gets even if the process dies right after):
//   R <resumedSeq>          open returned
//   A <seq> <n>             emit n resolved with seq (durable)
//   k                       rotateKey() called
//   K <seq> <keyId>         rotateKey() resolved: its key change is durable at seq
//   x <subject>             eraseSubject(subject) called
//   X <seq> <subject>       eraseSubject resolved: its tombstone is durable at seq
//   E <error>               an emit or call rejected (never expected)
import { fileURLToPath } from 'node:url'
import { AuditSink } from '../lib/index.js'

export interface CryptChildConfig {
  dir: string
  keyring: string
  life: number
  events: number
  inflight: number
  rotateEvery: number
  eraseAt: number
  subjects: number
}

export const childEvent = (life: number, n: number, subjects: number) => ({
  level: 'Information' as const,
  messageTemplate: 'Life {Life} event {N} for {PatientName}',
  properties: { Life: life, N: n, PatientId: `p-${n % subjects}`, PatientName: `name-${life}-${n}`, Note: `note-${n}` },
})

// Imported by the test for childEvent; runs only as the child process.
if (process.argv[1] === fileURLToPath(import.meta.url)) await main()

async function main(): Promise<void> {
  const cfg = JSON.parse(process.argv[2]!) as CryptChildConfig
  const say = (line: string): void => void process.stdout.write(`${line}\n`)
  const sink = await AuditSink.open({
    dir: cfg.dir,
    encryption: { keyring: cfg.keyring },
    personalData: { subject: 'PatientId', fields: ['PatientName'] },
    eventBytesMax: 16 * 1024,
    batchBytesMax: 64 * 1024,
    segmentBytesMax: 256 * 1024,
  })
  say(`R ${sink.openReport.resumedSeq}`)
  let next = 0
  let inflight = 0
  const calls: Promise<unknown>[] = []
  await new Promise<void>((resolve) => {
    const start = (): void => {
      while (inflight < cfg.inflight && next < cfg.events) {
        const n = next++
        inflight++
        sink.emit(childEvent(cfg.life, n, cfg.subjects)).then(
          (r) => {
            say(`A ${r.seq} ${n}`)
            inflight--
            if (next >= cfg.events && inflight === 0) resolve()
            else start()
          },
          (err: Error) => say(`E ${err.message}`),
        )
        if (n > 0 && n % cfg.rotateEvery === 0) {
          say('k')
          calls.push(
            sink.rotateKey().then(
              (r) => say(`K ${r.seq} ${r.keyId}`),
              (err: Error) => say(`E ${err.message}`),
            ),
          )
        }
        if (n === cfg.eraseAt) {
          const subject = `p-${cfg.life % cfg.subjects}`
          say(`x ${subject}`)
          calls.push(
            sink.eraseSubject(subject).then(
              (r) => say(`X ${r.seq} ${subject}`),
              (err: Error) => say(`E ${err.message}`),
            ),
          )
        }
      }
    }
    start()
  })
  await Promise.all(calls)
  await sink.close()
  say('D')
}
