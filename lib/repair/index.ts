/**
 * Repair's face: recoverLog (salvage or mirror repair of a damaged log into a
 * NEW log, offline) and the rewriter it writes with. Other folders import this
 * file, never a file inside.
 */

export { recoverLog, RECOVERY_REPORT_FILE, SEQ_POLICY, type RecoverOptions, type RecoverReport } from './recover.js'
export { checkOutputDir } from './output.js'
export { WalRewriter, type RewriteOptions, type RewriteRecord } from './rewrite.js'
