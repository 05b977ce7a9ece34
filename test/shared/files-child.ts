// Runs file-system-edge scenarios in their own process, for test/shared/files.test.ts.
//
//   node files-child.js modes <base> <fileMode>   under umask 000: a writer with a mirror across rotations,
//                                                  then export and recover; prints the mode of every path
//   node files-child.js call <op> <dir> <out>      one public call on dir (open, verify, read, stats, export,
//                                                  recover); prints { code, message, maxRssBytes }
// A call that hangs is the parent's to kill (its hang guard).
import fs from 'node:fs'
import path from 'node:path'
import { AuditSink, exportLog, logStats, readLog, recoverLog, verifyLog } from '../../lib/index.js'

const [mode, ...args] = process.argv.slice(2)
const say = (m: object): void => void process.stdout.write(JSON.stringify(m) + '\n')
const SMALL = { segmentBytesMax: 64 * 1024, batchBytesMax: 8 * 1024, eventBytesMax: 4096 }

function modesUnder(base: string): Record<string, string> {
  const out: Record<string, string> = {}
  const walk = (p: string): void => {
    const st = fs.lstatSync(p)
    out[path.relative(base, p) || '.'] =
      (st.isDirectory() ? 'd' : st.isFile() ? 'f' : 'o') + (st.mode & 0o777).toString(8)
    if (st.isDirectory()) for (const n of fs.readdirSync(p)) walk(path.join(p, n))
  }
  walk(base)
  return out
}

async function modes(base: string, fileMode: 0o600 | 0o640): Promise<void> {
  process.umask(0)
  const dir = path.join(base, 'logs', 'wal')
  const mirror = path.join(base, 'logs', 'mirror')
  const sink = await AuditSink.open({ dir, mirror, fileMode, ...SMALL })
  for (let i = 0; i < 30; i++)
    await Promise.all(
      Array.from({ length: 20 }, (_, k) =>
        sink.emit({
          level: 'Information',
          messageTemplate: 'event {N} {Pad}',
          properties: { N: i * 20 + k, Pad: 'x'.repeat(300) },
        }),
      ),
    )
  const whileOpen = modesUnder(base)
  const segments = sink.stats().segmentsCreated
  await sink.close()
  fs.mkdirSync(path.join(base, 'out'), { mode: 0o700 })
  await exportLog(dir, { format: 'jsonl', output: path.join(base, 'out', 'events.jsonl'), fileMode })
  await exportLog(dir, { format: 'parquet', output: path.join(base, 'out', 'events.parquet'), fileMode })
  await recoverLog(dir, { output: path.join(base, 'recovered', 'wal'), fileMode })
  say({ whileOpen, after: modesUnder(base), segments })
}

async function call(op: string, dir: string, out: string): Promise<void> {
  let result: { code: string; message: string }
  try {
    switch (op) {
      case 'open': {
        const sink = await AuditSink.open({ dir })
        await sink.close()
        break
      }
      case 'verify':
        await verifyLog(dir)
        break
      case 'read':
        for await (const _ of readLog(dir));
        break
      case 'stats':
        await logStats(dir)
        break
      case 'export':
        await exportLog(dir, { format: 'jsonl', output: out })
        break
      case 'recover':
        await recoverLog(dir, { output: out })
        break
      default:
        throw new Error(`unknown op ${op}`)
    }
    result = { code: 'ok', message: '' }
  } catch (err) {
    result = {
      code: (err as { code?: string }).code ?? 'uncoded',
      message: String((err as Error).message).slice(0, 300),
    }
  }
  say({ ...result, maxRssBytes: process.resourceUsage().maxRSS * 1024 })
}

if (mode === 'modes') await modes(args[0]!, Number(args[1]) as 0o600 | 0o640)
else await call(args[0]!, args[1]!, args[2]!)
process.exit(0)
