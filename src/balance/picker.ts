/**
 * The one-method selection interface (Caddy's `Selector`). A picker sees the pool's servers
 * and their `available`/`active`/`weight`, never health code, and does no I/O.
 */
import type { Backend } from './backend.js';

export interface Picker {
  pick(backends: readonly Backend[]): Backend | undefined;
}

/** Weighted round-robin: each available server in turn, `weight` times per cycle (smooth, as nginx). */
export class RoundRobinPicker implements Picker {
  #current = new Map<Backend, number>();

  pick(backends: readonly Backend[]): Backend | undefined {
    let total = 0;
    let best: Backend | undefined;
    let bestScore = -Infinity;
    for (const b of backends) {
      if (!b.available) continue;
      const score = (this.#current.get(b) ?? 0) + b.weight;
      this.#current.set(b, score);
      total += b.weight;
      if (score > bestScore) {
        bestScore = score;
        best = b;
      }
    }
    if (best !== undefined) this.#current.set(best, bestScore - total);
    return best;
  }
}
