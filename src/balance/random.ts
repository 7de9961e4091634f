/**
 * Weighted random: each available server with probability weight / total weight. Stateless, so
 * replicas need no coordination; the random source is injected so tests can seed it.
 */
import type { Backend } from './backend.js';
import type { PickContext, Picker } from './picker.js';

/** A source of uniform numbers in [0, 1), like `Math.random`. */
export type Random = () => number;

/** Picks an available server at random, in proportion to its weight. */
export class RandomPicker implements Picker {
  readonly #rng: Random;

  constructor(rng: Random = Math.random) {
    this.#rng = rng;
  }

  pick(backends: readonly Backend[], _ctx?: PickContext): Backend | undefined {
    let total = 0;
    for (const b of backends) if (b.available) total += b.weight;
    if (total === 0) return undefined;
    let r = this.#rng() * total;
    let last: Backend | undefined;
    for (const b of backends) {
      if (!b.available) continue;
      last = b;
      r -= b.weight;
      if (r < 0) return b;
    }
    // Only reached through floating-point rounding when rng() is within an ulp of 1.
    return last;
  }
}
