/**
 * The pool worker of examples/worker-threads: attaches to the app's sink once
 * (the handle arrives in workerData) and emits one audit event per task,
 * resolving with the receipt only when the event is durable.
 */

import { threadId, workerData } from 'node:worker_threads'
import { AuditSink, type SinkHandle } from '../../lib/index.js'

export interface TaskInput {
  orderId: string
}
export interface TaskOutput {
  orderId: string
  seq: number
  threadId: number
}

const producer = AuditSink.attach((workerData as { handle: SinkHandle }).handle)

export default async function task({ orderId }: TaskInput): Promise<TaskOutput> {
  // (the order's real work would happen here)
  const { seq } = await producer.emit({
    level: 'Information',
    messageTemplate: 'Order {OrderId} fulfilled by worker {ThreadId}',
    properties: { OrderId: orderId, ThreadId: threadId },
  })
  return { orderId, seq, threadId }
}
