/**
 * flush() barriers of one Producer: "every emit accepted so far settled".
 *
 *   accept() ─► emit number n (1, 2, ...), in acceptance order
 *   resolved(k) ─► emits 1..resolved resolved (they resolve in acceptance order)
 *   rejected(first, k, err) ─► emits first..first+k-1 rejected (the sink failed, closed, was destroyed)
 *   wait(durableSeq) ─► a barrier for 1..accepted
 *
 * Contract: a barrier resolves once every emit it covers resolved, and
 * rejects with the first rejection when any emit it covers was rejected.
 * Rejections are terminal for a producer (nothing accepted after one ever
 * resolves), so a number is all a barrier needs; barriers are settled in
 * order because their numbers only grow.
 */

import type { FlushResult } from './producer.js'

interface Barrier {
  /** Covers the emits numbered 1..target. */
  target: number
  resolve: (r: FlushResult) => void
  reject: (e: Error) => void
}

export class Barriers {
  /** Emits accepted so far (the number of the last one). */
  accepted = 0
  /** Emits 1..resolved resolved. */
  private resolvedUpTo = 0
  /** The number of the first accepted emit that was rejected, and why. */
  private firstRejected = Infinity
  private rejection: Error | undefined
  private readonly waiting: Barrier[] = []

  constructor(private readonly durableSeq: () => number) {}

  /** The emits right after the resolved ones (the pending ones) start here. */
  get nextToResolve(): number {
    return this.resolvedUpTo + 1
  }

  /** A barrier for every emit accepted so far. */
  wait(): Promise<FlushResult> {
    const target = this.accepted
    if (target >= this.firstRejected) return Promise.reject(this.rejection!)
    if (target <= this.resolvedUpTo) return Promise.resolve({ durableSeq: this.durableSeq() })
    return new Promise((resolve, reject) => this.waiting.push({ target, resolve, reject }))
  }

  /** k more emits resolved, in acceptance order. */
  resolved(k: number): void {
    this.resolvedUpTo += k
    if (this.waiting.length > 0) this.settle()
  }

  /** Emits numbered first.. (k of them) were rejected with err after acceptance. */
  rejected(first: number, k: number, err: Error): void {
    if (k === 0) return
    if (first < this.firstRejected) {
      this.firstRejected = first
      this.rejection = err
    }
    if (this.waiting.length > 0) this.settle()
  }

  private settle(): void {
    let i = 0
    for (; i < this.waiting.length; i++) {
      const b = this.waiting[i]!
      if (b.target >= this.firstRejected) b.reject(this.rejection!)
      else if (b.target <= this.resolvedUpTo) b.resolve({ durableSeq: this.durableSeq() })
      else break
    }
    this.waiting.splice(0, i)
  }
}
