/**
 * The app thread's face: AuditSink (open, emit, close), producers attached
 * from other threads, options, and the event encoder. Other folders import
 * this file, never a file inside.
 */

export { AuditSink, AttachedProducer, type SinkHandle, type SinkStats } from './sink.js'
export type { Receipt, FlushResult } from './producer.js'
export type { SinkHealth, HealthOptions, HealthReason, HealthReasonCode, HealthStatus } from './health.js'
export { withReasons } from './health.js'
export type { Histogram, SinkHistograms } from './telemetry.js'
export type { AuditSinkOptions } from './options.js'
export { encodeEvent, type Encoded, jsonText } from './event.js'
export type { CheckpointStats } from './checkpointer.js'
export type { EncryptionOptions, PersonalDataOptions, ErasureOptions, ErasureReceipt } from './crypt.js'
