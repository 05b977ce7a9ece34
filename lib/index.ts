/**
 * mtlog-audit: the audit sink that cannot lose data.
 *
 *   const sink = await AuditSink.open({ dir: './audit' })
 *   const { seq } = await sink.emit({ level: 'Information', messageTemplate: '...', properties: {} })
 *   await sink.close()
 *
 * See README.md for the guarantees, docs/ for the format and the error codes.
 */

export {
  AuditSink,
  AttachedProducer,
  type SinkHandle,
  type SinkStats,
  type Receipt,
  type AuditSinkOptions,
  type FlushResult,
  type SinkHealth,
  type HealthOptions,
  type HealthReason,
  type HealthReasonCode,
  type HealthStatus,
  type Histogram,
  type SinkHistograms,
  type EncryptionOptions,
  type PersonalDataOptions,
  type ErasureOptions,
  type ErasureReceipt,
} from './sink/index.js'
export {
  Keyring,
  type KeyProvider,
  type KeyringOptions,
  type KeyInfo,
  LocalKeyProvider,
  ENCRYPTED_MARKER,
  ERASED_MARKER,
} from './crypto/index.js'
export { LEVELS, type AuditEvent, type Level, type StoredEvent } from '../shared/event.js'
export {
  readLog,
  verifyLog,
  type LogRecord,
  type LogEntry,
  type ControlRecord,
  type ReadOptions,
  type VerifyOptions,
  type VerifyReport,
  type BadSpot,
  replay,
  type ReplayOptions,
  exportLog,
  EXPORT_FORMATS,
  PARQUET_SCHEMA,
  type ExportFormat,
  type ExportOptions,
  type ExportReport,
  logStats,
  type LogStats,
  type SegmentStats,
  type StatsOptions,
  LogWatcher,
  type MonitorSnapshot,
  renderTemplate,
  parseTemplate,
  renderValue,
  type TemplateToken,
  compileFilters,
  matchesFilters,
  parseLevelFilter,
  parseTime,
  LEVEL_SHORT,
  type EventFilters,
  type CompiledFilters,
  toClef,
  toCsvRow,
  toJsonRecord,
  toText,
  csvField,
  CSV_COLUMNS,
  CSV_HEADER,
  CLEF_SEQ_PROPERTY,
  type JsonRecord,
  salvageSegments,
  payloadOf,
  type LostRange,
  type RepairRange,
  type SkippedRecord,
  type SegmentResult,
  readRecords,
  type RawRecord,
  logTree,
  type LogTree,
  type LogCheckpoint,
  verifySigned,
  type SignedReport,
  type CheckpointCheck,
  type Parting,
  latestCheckpoint,
  proveRecord,
  proveConsistency,
} from './read/index.js'
// Tamper evidence (docs/integrity.md): keys, checkpoints, offline checks of proofs.
export {
  checkConsistency,
  checkProofBundle,
  loadVerifier,
  loadVerifiers,
  openCheckpoint,
  writeKeyPair,
  type Checkpoint,
  type NoteVerifier,
  type ProofCheck,
} from './integrity/index.js'
export type { CheckpointStats } from './sink/index.js'
export {
  recoverLog,
  RECOVERY_REPORT_FILE,
  SEQ_POLICY,
  type RecoverOptions,
  type RecoverReport,
} from './repair/index.js'
export { AuditError, ERROR_CODES, type ErrorCode } from '../shared/errors.js'
export { LIMITS } from '../shared/limits.js'
export type { Storage, StorageSpec } from '../shared/storage.js'
export type { MirrorOpenReport, OpenReport, TornTailReport } from '../shared/ring/protocol.js'
