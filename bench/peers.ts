/**
 * The peers: what a user would pick instead of mtlog-audit, each held to the
 * same durability (an emit counts only once its bytes were synced), driven by
 * the same load generators (bench/engine/loops.ts) through the same System
 * interface.
 *
 *   fs-sync       fs.writeSync + fs.fdatasyncSync per event (JSON line)
 *   pino          pino with destination { sync: true, fsync: true }: sonic-boom
 *                 does writeSync + fsyncSync inside each logger call
 *   sqlite-tx     better-sqlite3, WAL, synchronous=FULL, one transaction (commit) per event
 *   sqlite-group  the same, group commit: emits queue up; one transaction per
 *                 ≤ sqliteGroupMax queued events on the next setImmediate; each
 *                 emit resolves after its transaction's commit
 *
 * The peers' modules are dev dependencies of bench/ only (bench/package.json,
 * npm install --prefix bench). They are loaded from that directory at run
 * time, so the build and `npm test` never need them; when one is missing the
 * harness says so and runs without it.
 */

import fs from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import type { AuditEvent } from '../shared/event.js'
import type { PeerLoad } from './engine/checkout.js'
import type { Counters, Session, System } from './engine/system.js'

/** Events per transaction at most, for sqlite-group. */
export const SQLITE_GROUP_MAX = 4096

// The few parts of each peer's API used here (their own types live in bench/node_modules, which the build must not need).
interface SonicBoom {
  end(): void
  on(ev: 'close' | 'error', fn: (e?: Error) => void): void
}
interface PinoLogger {
  info(obj: object, msg: string): void
}
interface PinoModule {
  (opts: object, dest: SonicBoom): PinoLogger
  destination(opts: { dest: string; sync: boolean; fsync: boolean; mkdir?: boolean }): SonicBoom
}
interface SqliteStatement {
  run(...args: unknown[]): unknown
  get(...args: unknown[]): unknown
}
interface SqliteDb {
  pragma(s: string, o?: { simple: boolean }): unknown
  exec(s: string): void
  prepare(s: string): SqliteStatement
  transaction(fn: (rows: [number, string][]) => void): (rows: [number, string][]) => void
  close(): void
}
type SqliteModule = new (file: string) => SqliteDb

const RESOLVED: Promise<void> = Promise.resolve()

function countLines(file: string): number {
  const b = fs.readFileSync(file)
  let n = 0
  for (let i = b.indexOf(10); i !== -1; i = b.indexOf(10, i + 1)) n++
  return n
}

function lineVerify(file: string, expected: number, what: string): { ok: boolean; note: string } {
  const n = countLines(file)
  return { ok: n === expected, note: n === expected ? `${n} ${what}` : `${n} ${what}, expected ${expected}` }
}

/** The JSON every file peer stores: the event plus its time, as one line. */
function line(ev: AuditEvent): string {
  return `${JSON.stringify({ time: Date.now(), level: ev.level, messageTemplate: ev.messageTemplate, properties: ev.properties })}\n`
}

export const fsSync: System = {
  id: 'fs-sync',
  version: `node:fs, node ${process.version}`,
  durability: 'fs.writeSync of one JSON line, then fs.fdatasyncSync, before emit() returns',
  blocking: true,
  async open(dir) {
    const file = path.join(dir, 'events.jsonl')
    const fd = fs.openSync(file, 'wx')
    let pos = 0
    const c: Counters = { events: 0, syncs: 0 }
    let closed = false
    return {
      emit(ev) {
        try {
          const b = Buffer.from(line(ev))
          let off = 0
          while (off < b.length) off += fs.writeSync(fd, b, off, b.length - off, pos + off)
          pos += b.length
          fs.fdatasyncSync(fd)
          c.syncs++
          c.events++
          return RESOLVED
        } catch (err) {
          return Promise.reject(err)
        }
      },
      counters: () => ({ ...c }),
      async close() {
        if (!closed) fs.closeSync(fd)
        closed = true
      },
      async destroy() {
        if (!closed) fs.closeSync(fd)
        closed = true
      },
      verify: async (expected) => lineVerify(file, expected, 'lines'),
    }
  },
}

function pinoSystem(pino: PinoModule, version: string): System {
  return {
    id: 'pino',
    version,
    durability:
      'logger.info() with pino.destination({ sync: true, fsync: true }): writeSync + fsyncSync before it returns',
    blocking: true,
    async open(dir) {
      const file = path.join(dir, 'pino.log')
      const dest = pino.destination({ dest: file, sync: true, fsync: true })
      const logger = pino({ base: null }, dest)
      const c: Counters = { events: 0, syncs: 0 }
      let closing: Promise<void> | undefined
      const close = (): Promise<void> => {
        closing ??= new Promise<void>((resolve, reject) => {
          dest.on('close', () => resolve())
          dest.on('error', (e) => reject(e ?? new Error('pino destination error')))
          dest.end()
        })
        return closing
      }
      return {
        emit(ev) {
          try {
            logger.info(ev.properties ?? {}, ev.messageTemplate)
            c.syncs++ // sonic-boom: one fsyncSync per synchronous write
            c.events++
            return RESOLVED
          } catch (err) {
            return Promise.reject(err)
          }
        },
        counters: () => ({ ...c }),
        close,
        destroy: () => close().catch(() => {}),
        verify: async (expected) => lineVerify(file, expected, 'lines'),
      }
    },
  }
}

function openDb(Database: SqliteModule, dir: string): { db: SqliteDb; insert: SqliteStatement } {
  const db = new Database(path.join(dir, 'audit.db'))
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = FULL')
  const mode = db.pragma('journal_mode', { simple: true })
  const sync = db.pragma('synchronous', { simple: true })
  if (mode !== 'wal' || sync !== 2)
    throw new Error(`sqlite peer: journal_mode=${String(mode)}, synchronous=${String(sync)} (wanted wal, 2 = FULL)`)
  db.exec('CREATE TABLE events (seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, event TEXT NOT NULL)')
  return { db, insert: db.prepare('INSERT INTO events (time, event) VALUES (?, ?)') }
}

function body(ev: AuditEvent): string {
  return JSON.stringify({ level: ev.level, messageTemplate: ev.messageTemplate, properties: ev.properties })
}

function sqliteVerify(Database: SqliteModule, dir: string, expected: number): { ok: boolean; note: string } {
  const db = new Database(path.join(dir, 'audit.db'))
  try {
    const n = (db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n
    return { ok: n === expected, note: n === expected ? `${n} rows` : `${n} rows, expected ${expected}` }
  } finally {
    db.close()
  }
}

function sqliteTx(Database: SqliteModule, version: string): System {
  return {
    id: 'sqlite-tx',
    version,
    durability:
      'better-sqlite3, journal_mode=WAL, synchronous=FULL: one INSERT, one commit (WAL sync) per event before emit() returns',
    blocking: true,
    async open(dir) {
      const { db, insert } = openDb(Database, dir)
      const c: Counters = { events: 0, syncs: 0 }
      let open = true
      const close = async (): Promise<void> => {
        if (open) db.close()
        open = false
      }
      return {
        emit(ev) {
          try {
            insert.run(Date.now(), body(ev))
            c.syncs++
            c.events++
            return RESOLVED
          } catch (err) {
            return Promise.reject(err)
          }
        },
        counters: () => ({ ...c }),
        close,
        destroy: close,
        verify: async (expected) => sqliteVerify(Database, dir, expected),
      }
    },
  }
}

interface Queued {
  time: number
  event: string
  resolve: () => void
  reject: (e: Error) => void
}

function sqliteGroup(Database: SqliteModule, version: string, groupMax: number): System {
  return {
    id: 'sqlite-group',
    version,
    durability: `better-sqlite3, WAL, synchronous=FULL, group commit: one transaction per ≤ ${groupMax} queued events; each emit() resolves after its transaction's commit`,
    blocking: false,
    async open(dir) {
      const { db, insert } = openDb(Database, dir)
      const c: Counters = { events: 0, syncs: 0 }
      let queue: Queued[] = []
      let scheduled = false
      let failure: Error | undefined
      let open = true
      const commit = db.transaction((rows: [number, string][]) => {
        for (const [time, event] of rows) insert.run(time, event)
      })
      const flush = (): void => {
        scheduled = false
        if (!open) return
        const batch = queue.length <= groupMax ? queue : queue.slice(0, groupMax)
        queue = queue.length <= groupMax ? [] : queue.slice(groupMax)
        try {
          commit(batch.map((q) => [q.time, q.event]))
          c.syncs++
          c.events += batch.length
          for (const q of batch) q.resolve()
        } catch (err) {
          failure = err as Error
          for (const q of [...batch, ...queue]) q.reject(failure)
          queue = []
        }
        if (queue.length > 0) schedule()
      }
      const schedule = (): void => {
        if (scheduled) return
        scheduled = true
        setImmediate(flush)
      }
      const drained = async (): Promise<void> => {
        while (queue.length > 0 || scheduled) await new Promise((r) => setImmediate(r))
      }
      return {
        emit(ev) {
          if (failure !== undefined) return Promise.reject(failure)
          if (!open) return Promise.reject(new Error('sqlite-group: closed'))
          return new Promise<void>((resolve, reject) => {
            queue.push({ time: Date.now(), event: body(ev), resolve, reject })
            schedule()
          })
        },
        counters: () => ({ ...c }),
        async close() {
          await drained()
          if (open) db.close()
          open = false
        },
        async destroy(err) {
          for (const q of queue) q.reject(err)
          queue = []
          if (open) db.close()
          open = false
        },
        verify: async (expected) => sqliteVerify(Database, dir, expected),
      }
    },
  }
}

function versionOf(modulesDir: string, name: string): string {
  return (JSON.parse(fs.readFileSync(path.join(modulesDir, name, 'package.json'), 'utf8')) as { version: string })
    .version
}

/**
 * Every peer whose module is in modulesDir (bench/node_modules), and a note for
 * each that is not. fs-sync needs nothing and is always there.
 */
export async function loadPeers(modulesDir: string): Promise<PeerLoad> {
  const req = createRequire(path.join(modulesDir, '..', 'package.json'))
  const systems: System[] = [fsSync]
  const notes: string[] = []
  const load = <T>(name: string): T | undefined => {
    if (!fs.existsSync(path.join(modulesDir, name, 'package.json'))) {
      notes.push(`peer ${name} not run: not installed in ${modulesDir} (npm install --prefix bench)`)
      return undefined
    }
    try {
      return req(path.join(modulesDir, name)) as T
    } catch (err) {
      notes.push(
        `peer ${name} not run: cannot load it from ${modulesDir} (${(err as Error).message.split('\n')[0]}); npm install --prefix bench`,
      )
      return undefined
    }
  }
  const pino = load<PinoModule>('pino')
  if (pino !== undefined)
    systems.push(
      pinoSystem(pino, `${versionOf(modulesDir, 'pino')}, sonic-boom ${versionOf(modulesDir, 'sonic-boom')}`),
    )
  const Database = load<SqliteModule>('better-sqlite3')
  if (Database !== undefined) {
    const probe = new Database(':memory:')
    const sqlite = (probe.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v
    probe.close()
    const version = `better-sqlite3 ${versionOf(modulesDir, 'better-sqlite3')}, SQLite ${sqlite}`
    systems.push(sqliteTx(Database, version), sqliteGroup(Database, version, SQLITE_GROUP_MAX))
  }
  return { systems, notes }
}
