/**
 * exportLog: the events of a log, filtered, into one file: JSON lines, CLEF,
 * CSV (RFC 4180) or Parquet (hyparquet-writer).
 *
 *   replay (whole log checked from seq 1) ──► format ──► .<name>.export-<pid>-<rand>.tmp
 *     ──► fdatasync ──► link to <output> (refuses if it exists) or, with force, rename over it
 *
 * A damaged log stops the export with ERR_AUDIT_CORRUPT (the verify error) and
 * no file appears, unless salvage is set: then every intact record is exported
 * and the lost seq ranges are returned. A failed export leaves no partial file.
 */

import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import fs from 'node:fs/promises'
import path from 'node:path'
import { AuditError, ERROR_CODES, ioError } from '../../shared/errors.js'
import { CSV_HEADER, toClef, toCsvRow, toJsonRecord } from './formats.js'
import type { EventFilters } from './query.js'
import type { LogRecord } from './reader.js'
import { replay } from './replay.js'
import type { ReadKeys } from './sealed.js'
import { renderTemplate } from './render.js'
import { listWal, type LostRange } from './salvage.js'
import { checkExportArgs } from './args.js'
import { assertOutside, checkFileMode, createRegular, type FileMode } from '../../shared/files.js'

export const EXPORT_FORMATS = ['jsonl', 'clef', 'csv', 'parquet'] as const
export type ExportFormat = (typeof EXPORT_FORMATS)[number]

export interface ExportOptions extends ReadKeys {
  format: ExportFormat
  /** The file to write. */
  output: string
  /** Replace an existing output file. */
  force?: boolean
  /** Export every intact record of a damaged log instead of refusing. */
  salvage?: boolean
  filters?: EventFilters
  /** Called with each segment's bytes as it is read (progress). */
  onBytes?: (bytes: number) => void
  /** Parquet rows per row group (default 10,000). */
  rowGroupRows?: number
  /** Mode of the output file, whatever the umask: 0o600 (default) or 0o640. */
  fileMode?: FileMode
}

export interface ExportReport {
  output: string
  format: ExportFormat
  /** Events written. */
  records: number
  /** Bytes of the output file. */
  bytes: number
  /** With salvage: seqs that were not intact (an empty list when nothing was lost). */
  lost: LostRange[]
}

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }

/** The Parquet schema: stable column names and types (docs/cli.md). */
export const PARQUET_SCHEMA = [
  { name: 'root', num_children: 7 },
  { name: 'seq', type: 'INT64', repetition_type: 'REQUIRED' },
  { name: 'timestamp', type: 'INT64', converted_type: 'TIMESTAMP_MILLIS', repetition_type: 'REQUIRED' },
  { name: 'level', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
  { name: 'messageTemplate', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
  { name: 'message', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
  { name: 'exception', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
  { name: 'properties', type: 'BYTE_ARRAY', converted_type: 'JSON', repetition_type: 'REQUIRED' },
] as const

interface RowWriter {
  add(rec: LogRecord): Promise<void>
  finish(): Promise<void>
}

const CHUNK_BYTES = 1024 * 1024

/** Text formats: buffered appends to the temp file. */
function textRows(fh: fs.FileHandle, file: string, line: (r: LogRecord) => string, header = ''): RowWriter {
  let buf = header
  const flush = async (): Promise<void> => {
    if (buf === '') return
    const data = Buffer.from(buf)
    buf = ''
    try {
      let done = 0
      while (done < data.length) done += (await fh.write(data, done, data.length - done)).bytesWritten
    } catch (err) {
      throw ioError('write', file, err)
    }
  }
  return {
    async add(r) {
      buf += line(r)
      if (buf.length >= CHUNK_BYTES) await flush()
    },
    finish: flush,
  }
}

async function parquetRows(file: string, rowGroupRows: number, source: string): Promise<RowWriter> {
  // Loaded only when needed: the other commands start faster without it.
  const { fileWriter, ParquetWriter } = await import('hyparquet-writer')
  const writer = new ParquetWriter({
    writer: fileWriter(file),
    schema: PARQUET_SCHEMA as unknown as import('hyparquet').SchemaElement[],
    kvMetadata: [{ key: 'mtlog-audit.source', value: source }],
    createdBy: `mtlog-audit ${pkg.version}`,
  })
  let rows: LogRecord[] = []
  const group = (): void => {
    if (rows.length === 0) return
    const n = rows.length
    writer.write({
      rowGroupSize: n,
      columnData: [
        { name: 'seq', data: BigInt64Array.from(rows, (r) => BigInt(r.seq)) },
        { name: 'timestamp', data: rows.map((r) => r.timestamp) },
        { name: 'level', data: rows.map((r) => r.event.level) },
        { name: 'messageTemplate', data: rows.map((r) => r.event.messageTemplate) },
        { name: 'message', data: rows.map((r) => renderTemplate(r.event.messageTemplate, r.event.properties)) },
        { name: 'exception', data: rows.map((r) => r.event.exception ?? null) },
        { name: 'properties', data: rows.map((r) => r.event.properties) },
      ],
    })
    rows = []
  }
  return {
    async add(r) {
      rows.push(r)
      if (rows.length >= rowGroupRows) group()
    },
    async finish() {
      group()
      await writer.finish()
    },
  }
}

function checkOptions(o: ExportOptions): void {
  if (typeof o !== 'object' || o === null)
    throw new AuditError(ERROR_CODES.OPTION_INVALID, 'export options are required', { details: { option: 'options' } })
  if (!EXPORT_FORMATS.includes(o.format)) {
    throw new AuditError(
      ERROR_CODES.OPTION_INVALID,
      `format: ${JSON.stringify(o.format)} is not one of ${EXPORT_FORMATS.join(', ')}`,
      { details: { option: 'format' } },
    )
  }
  if (typeof o.output !== 'string' || o.output === '')
    throw new AuditError(ERROR_CODES.OPTION_INVALID, 'output: a file name is required', {
      details: { option: 'output' },
    })
  if (o.rowGroupRows !== undefined && (!Number.isSafeInteger(o.rowGroupRows) || o.rowGroupRows < 1)) {
    throw new AuditError(ERROR_CODES.OPTION_INVALID, 'rowGroupRows: must be an integer ≥ 1', {
      details: { option: 'rowGroupRows' },
    })
  }
}

async function checkOutput(out: string, force: boolean): Promise<void> {
  let st
  try {
    st = await fs.stat(out)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
    throw ioError('stat', out, err)
  }
  if (st.isDirectory())
    throw new AuditError(ERROR_CODES.OUTPUT_EXISTS, `${out} is a directory`, { details: { path: out } })
  if (!force)
    throw new AuditError(ERROR_CODES.OUTPUT_EXISTS, `${out} exists (use --force to replace it)`, {
      details: { path: out },
    })
}

/** Export the events of dir that pass the filters into options.output. */
export async function exportLog(dir: string, options: ExportOptions): Promise<ExportReport> {
  options = checkExportArgs(dir, options)
  checkOptions(options)
  await listWal(path.resolve(dir)) // a missing or foreign directory is reported before the output is touched
  const out = path.resolve(options.output)
  assertOutside(out, [dir]) // real paths: never write into the log, even through a symlink
  const fileMode = checkFileMode(options.fileMode)
  await checkOutput(out, options.force === true)
  const tmp = path.join(
    path.dirname(out),
    `.${path.basename(out)}.export-${process.pid}-${randomBytes(4).toString('hex')}.tmp`,
  )
  let fh: fs.FileHandle | undefined
  try {
    fh = await createRegular(tmp, fileMode)
  } catch (err) {
    throw notWritable(out, err)
  }
  const report: ExportReport = { output: out, format: options.format, records: 0, bytes: 0, lost: [] }
  try {
    let sink: RowWriter
    switch (options.format) {
      case 'jsonl':
        sink = textRows(fh, tmp, (r) => JSON.stringify(toJsonRecord(r)) + '\n')
        break
      case 'clef':
        sink = textRows(fh, tmp, (r) => JSON.stringify(toClef(r)) + '\n')
        break
      case 'csv':
        sink = textRows(fh, tmp, toCsvRow, CSV_HEADER)
        break
      case 'parquet':
        await fh.close()
        fh = undefined
        sink = await parquetRows(tmp, options.rowGroupRows ?? 10_000, path.resolve(dir))
        break
    }
    const records = replay(dir, options.filters ?? {}, {
      salvage: options.salvage,
      keyring: options.keyring,
      provider: options.provider,
      verifyAll: true,
      onBytes: options.onBytes,
      onLost: (r) => report.lost.push(r),
    })
    for await (const rec of records) {
      await sink.add(rec)
      report.records++
    }
    await sink.finish()
    fh ??= await fs.open(tmp, 'r+')
    await fh.datasync()
    report.bytes = (await fh.stat()).size
    await fh.close()
    fh = undefined
    await publish(tmp, out, options.force === true)
    return report
  } catch (err) {
    await fh?.close().catch(() => {})
    await fs.rm(tmp, { force: true }).catch(() => {})
    if (err instanceof AuditError) throw err
    throw ioError('export to', out, err)
  }
}

function notWritable(out: string, err: unknown): AuditError {
  const errno = (err as NodeJS.ErrnoException).code
  return new AuditError(
    ERROR_CODES.IO,
    `cannot write ${out}: ${errno ?? (err as Error).message} (the output is written to a temp file in ${path.dirname(out)}, then renamed)`,
    {
      cause: err,
      details: { op: 'create', path: out, errno: errno ?? null },
    },
  )
}

/** Make the finished temp file the output: atomically, never over a file that appeared meanwhile unless forced. */
async function publish(tmp: string, out: string, force: boolean): Promise<void> {
  try {
    if (force) await fs.rename(tmp, out)
    else {
      try {
        await fs.link(tmp, out)
        await fs.rm(tmp)
      } catch (err) {
        // A file system without hard links: check, then rename (a narrow race instead of none).
        if (!['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EXDEV'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err
        await checkOutput(out, false)
        await fs.rename(tmp, out)
      }
    }
  } catch (err) {
    if (err instanceof AuditError) throw err
    if ((err as NodeJS.ErrnoException).code === 'EEXIST')
      throw new AuditError(ERROR_CODES.OUTPUT_EXISTS, `${out} exists (use --force to replace it)`, {
        cause: err,
        details: { path: out },
      })
    throw ioError('rename', out, err)
  }
  const d = await fs.open(path.dirname(out), 'r')
  try {
    await d.sync()
  } finally {
    await d.close()
  }
}
