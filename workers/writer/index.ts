/**
 * The writer's open-time code, for tools that check crash states offline
 * (torture/): resume() is what open() runs on a directory, reconcile() what it
 * runs on a primary and its mirror. The thread's entry point is main.ts.
 */

export { resume, type Resumed, type TornTail, type ZeroTail } from './resume.js'
export { reconcile, type MirrorReport } from './mirror.js'
