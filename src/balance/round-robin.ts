/**
 * Smooth weighted round-robin (nginx's algorithm): every pick adds each available server's
 * weight to its running score, takes the highest and subtracts the total from the winner. With
 * weights 1 and 2 that gives B A B, B A B …: interleaved, never bursts of one server.
 */
import type { Backend } from './backend.js';
import type { PickContext, Picker } from './picker.js';

/** Weighted round-robin: each available server in turn, `weight` times per cycle. */
export class RoundRobinPicker implements Picker {
  // Keyed by object: a pool is rebuilt on reload, so entries never outlive their servers.
  readonly #current = new Map<Backend, number>();

  pick(backends: readonly Backend[], _ctx?: PickContext): Backend | undefined {
    let total = 0;
    let best: Backend | undefined;
    let bestScore = -Infinity;
    for (const b of backends) {
      if (!b.available) {
        // A server that comes back starts level instead of with a credit built up before it failed.
        this.#current.delete(b);
        continue;
      }
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
