/**
 * Seeds for the torture runner. Every random choice of a campaign comes from
 * mulberry32 streams derived from one printed seed, so any iteration replays
 * exactly from (scenario, seed, iteration) — `iterSeed()` names it as one
 * number, and `mtlog-audit torture --scenario X --replay <iterSeed>` reruns it.
 */

export type Rng = () => number

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
export function mulberry32(seed: number): Rng {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A well-mixed 32-bit hash of a few integers (splitmix-like). */
export function mix(...xs: number[]): number {
  let h = 0x9e3779b9
  for (const x of xs) {
    h = (h ^ (x >>> 0)) >>> 0
    h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0
    h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0
    h = (h ^ (h >>> 16)) >>> 0
  }
  return h
}

/** The seed of one iteration: everything it does derives from this number alone. */
export function iterSeed(campaignSeed: number, scenarioIndex: number, iteration: number): number {
  return mix(campaignSeed, scenarioIndex + 1, iteration)
}

export function int(rng: Rng, lo: number, hi: number): number {
  return lo + Math.floor(rng() * (hi - lo + 1))
}

export function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[Math.floor(rng() * xs.length)]!
}

export function shuffle<T>(rng: Rng, xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1))
    const t = xs[i]!
    xs[i] = xs[j]!
    xs[j] = t
  }
  return xs
}

/** A fresh seed when none is given. */
export function freshSeed(): number {
  return (Date.now() ^ (process.pid << 16) ^ Math.floor(Math.random() * 0x7fffffff)) >>> 0
}
