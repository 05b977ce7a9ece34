/**
 * A stand-in for torture/kill9-child.ts whose sink never opens: it says it is
 * warm ('W'), takes the job line, and then never says 'O' (nor anything else),
 * the way a child stuck before AuditSink.open would. Kill9DuringWrite must call
 * every life of it that waits for a later point a hang; only an 'early' kill
 * (SIGKILL right after the job is handed over) lands as scheduled.
 */
process.stdout.write('W\n')
process.stdin.resume() // read the job, do nothing with it
setInterval(() => undefined, 1 << 30) // stay alive until SIGKILLed
