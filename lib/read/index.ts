/**
 * The read side's face: everything that reads a log and never writes it
 * (readLog, verifyLog, salvage, replay, export, stats, monitor, and the
 * renderers and filters they share). Other folders import this file, never a
 * file inside.
 */

export * from './reader.js'
export * from './salvage.js'
export * from './query.js'
export * from './render.js'
export * from './formats.js'
export * from './replay.js'
export * from './export.js'
export * from './stats.js'
export * from './monitor.js'
export { escapeHtml } from './html.js'
export { checkDir, checkRecoverArgs } from './args.js'
export * from './signed.js'
