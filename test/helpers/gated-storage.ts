// A Storage module (see shared/storage.ts, loaded by the writer through the
// `storage` option) that is the real file system, except that fdatasync waits
// while the gate is closed. Tests use it to hold the writer inside a group
// commit, deterministically, while producers fill the ring.
//
// config.gate: SharedArrayBuffer of 3 int32: [0] 1 = closed, 0 = open;
// [1] counts fdatasync calls that found the gate closed (a test waits for it);
// [2] tickets: each lets one held fdatasync through while the gate stays closed.
import { realStorage, type Storage } from '../../shared/storage.js'

export interface GateConfig {
  gate: SharedArrayBuffer
}

export function createStorage(config: GateConfig): Storage {
  const g = new Int32Array(config.gate)
  return {
    ...realStorage,
    fdatasync(fd: number): void {
      if (Atomics.load(g, 0) !== 0) {
        Atomics.add(g, 1, 1)
        Atomics.notify(g, 1)
        for (;;) {
          if (Atomics.load(g, 0) === 0) break
          const t = Atomics.load(g, 2)
          if (t > 0) {
            if (Atomics.compareExchange(g, 2, t, t - 1) === t) break
            continue
          }
          Atomics.wait(g, 0, 1, 1000)
        }
      }
      realStorage.fdatasync(fd)
    },
  }
}

/** Main-thread side of a gate. */
export class Gate {
  readonly sab = new SharedArrayBuffer(12)
  private readonly i32 = new Int32Array(this.sab)
  readonly spec = { module: new URL('./gated-storage.js', import.meta.url).href, config: { gate: this.sab } }
  close(): void {
    Atomics.store(this.i32, 0, 1)
  }
  open(): void {
    Atomics.store(this.i32, 0, 0)
    Atomics.notify(this.i32, 0)
  }
  /** Let one held fdatasync through; the gate stays closed for the next. */
  passOne(): void {
    Atomics.add(this.i32, 2, 1)
    Atomics.notify(this.i32, 0)
  }
  /** How many fdatasync calls found the gate closed. */
  held(): number {
    return Atomics.load(this.i32, 1)
  }
  /** Resolves once the writer sits in a held fdatasync (count > before). */
  async waitHeld(before: number): Promise<void> {
    for (;;) {
      const now = Atomics.load(this.i32, 1)
      if (now > before) return
      const w = Atomics.waitAsync(this.i32, 1, now, 1000)
      if (w.async) await w.value
    }
  }
}
