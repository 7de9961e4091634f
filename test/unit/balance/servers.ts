/**
 * Fixtures for balance tests: Backend objects without a config file, and a seeded PRNG so
 * property tests are reproducible (the same 10k keys on every run and every machine).
 */
import { Backend } from '../../../src/balance/backend.js';

/** Servers of pool `p` from `id` or `id:weight` specs. */
export function servers(...specs: string[]): Backend[] {
  return specs.map((spec) => {
    const [id, weight] = spec.split(':') as [string, string | undefined];
    return new Backend('p', { id, url: new URL(`ws://${id}.test:9000`), weight: weight === undefined ? 1 : Number(weight) });
  });
}

/** mulberry32: a tiny seeded PRNG with uniform output in [0, 1). */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` distinct keys shaped like real sticky keys (user ids, session cookies, addresses). */
export function keys(n: number, seed = 1): string[] {
  const rng = seeded(seed);
  const out = new Set<string>();
  while (out.size < n) {
    const r = rng();
    const v = Math.floor(rng() * 1e9).toString(36);
    out.add(r < 0.33 ? `user-${v}` : r < 0.66 ? `sess_${v}${v}` : `10.${Math.floor(rng() * 256)}.${Math.floor(rng() * 256)}.${Math.floor(rng() * 256)}`);
  }
  return [...out];
}
