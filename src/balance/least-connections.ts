/**
 * Weighted least-connections: the available server with the fewest open sessions per unit of
 * weight. The natural policy for long-lived WebSockets, where sessions, not requests, load a
 * server. Ties go round-robin (the scan starts one past the last winner) rather than always to
 * the first server, so an idle pool still spreads its first sessions.
 */
import type { Backend } from './backend.js';
import type { PickContext, Picker } from './picker.js';

/** Lowest `active / weight` wins; ties are broken in turn. */
export class LeastConnectionsPicker implements Picker {
  #next = 0;

  pick(backends: readonly Backend[], _ctx?: PickContext): Backend | undefined {
    const n = backends.length;
    let best: Backend | undefined;
    let bestIndex = 0;
    let bestLoad = Infinity;
    for (let i = 0; i < n; i++) {
      const index = (this.#next + i) % n;
      const b = backends[index]!;
      if (!b.available) continue;
      const load = b.active / b.weight;
      // Strictly lower: among equals the first in scan order (the rotating start) keeps it.
      if (load < bestLoad) {
        bestLoad = load;
        best = b;
        bestIndex = index;
      }
    }
    if (best !== undefined) this.#next = (bestIndex + 1) % n;
    return best;
  }
}
