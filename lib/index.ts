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
export { readLog, verifyLog, type LogRecord, type ReadOptions, type VerifyReport, type BadSpot } from './reader.js'
export { AuditError, ERROR_CODES, type ErrorCode } from '../shared/errors.js'
export { LIMITS } from '../shared/limits.js'
export type { Storage, StorageSpec } from '../shared/storage.js'
export type { MirrorOpenReport, OpenReport, TornTailReport } from '../shared/protocol.js'
