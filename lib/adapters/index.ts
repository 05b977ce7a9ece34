/**
 * The integrations room's face: everything in lib/adapters/ that loads no peer
 * dependency. Each integration is also its own subpath export (package.json):
 * mtlog-audit/pino, /pino-transport, /winston, /http, /prometheus, /health,
 * /shutdown. mtlog-audit/winston is not re-exported here: it loads winston.
 * The package entry (lib/index.ts) does not import this room, so
 * `import 'mtlog-audit'` never loads an integration.
 */

export {
  AuditDestination,
  auditDestination,
  auditLog as auditPinoLog,
  flushLogger,
  literalTemplate,
  pinoLevel,
  pinoLineToEvent,
  type AuditDestinationOptions,
  type PinoLineOptions,
  type PinoLoggerLike,
} from './pino.js'
export { auditExpress, auditFastify, outcomeEvent, type AuditEmitter, type HttpAuditOptions } from './http.js'
export {
  AUDIT_METRICS,
  auditMetricNames,
  registerAuditMetrics,
  type AuditMetrics,
  type AuditMetricsOptions,
  type MetricSpec,
  type PromClientLike,
} from './prometheus.js'
export {
  checkHealth,
  healthHandler,
  HEALTH_PATHS,
  livenessCheck,
  readinessCheck,
  type HealthCheckOptions,
} from './health.js'
export { gracefulShutdown, type ShutdownHandle, type ShutdownOptions, type ShutdownReport } from './shutdown.js'
export { type AuditTarget, type SinkSource } from './common.js'
