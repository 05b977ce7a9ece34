/**
 * mtlog-audit: the audit sink that cannot lose data.
 *
 *   const sink = await AuditSink.open({ dir: './audit' })
 *   const { seq } = await sink.emit({ level: 'Information', messageTemplate: '...', properties: {} })
 *   await sink.close()
 *
 * See README.md for the guarantees, docs/ for the format and the error codes.
 */

export { AuditSink, AttachedProducer, type SinkHandle, type SinkStats } from './sink.js'
export type { Receipt } from './producer.js'
export { LEVELS, type AuditEvent, type Level, type StoredEvent } from './event.js'
export type { AuditSinkOptions } from './options.js'
export { readLog, verifyLog, type LogRecord, type ReadOptions, type VerifyOptions, type VerifyReport, type BadSpot } from './reader.js'
export { AuditError, ERROR_CODES, type ErrorCode } from '../shared/errors.js'
export { LIMITS } from '../shared/limits.js'
export type { Storage, StorageSpec } from '../shared/storage.js'
export type { MirrorOpenReport, OpenReport, TornTailReport } from '../shared/protocol.js'
export { replay, type ReplayOptions } from './replay.js'
export { exportLog, EXPORT_FORMATS, PARQUET_SCHEMA, type ExportFormat, type ExportOptions, type ExportReport } from './export.js'
export { recoverLog, RECOVERY_REPORT_FILE, SEQ_POLICY, type RecoverOptions, type RecoverReport } from './recover.js'
export { logStats, type LogStats, type SegmentStats, type StatsOptions } from './stats.js'
export { LogWatcher, type MonitorSnapshot } from './monitor.js'
export { renderTemplate, parseTemplate, renderValue, type TemplateToken } from './render.js'
export { compileFilters, matchesFilters, parseLevelFilter, parseTime, LEVEL_SHORT, type EventFilters, type CompiledFilters } from './query.js'
export { toClef, toCsvRow, toJsonRecord, toText, csvField, CSV_COLUMNS, CSV_HEADER, CLEF_SEQ_PROPERTY, type JsonRecord } from './formats.js'
export { salvageSegments, type LostRange, type RepairRange, type SkippedRecord, type SegmentResult } from './salvage.js'
