/**
 * Affinity outcomes (`wstap.affinity`) and the bounded memory they need. Rendezvous hashing
 * itself needs no memory; the memory only tells a key seen before (`hit`) from a new one, and
 * notices when a key changed server (`moved`). It is per process and per pool, so a replica's
 * `new` is another replica's `hit`; placement never depends on it.
 */
import type { Affinity } from '../events.js';
import type { Backend } from './backend.js';
import { pairHash } from './rendezvous.js';

/** Keys remembered per pool. 10k × (number + id reference) is well under a megabyte. */
export const AFFINITY_MEMORY_SIZE = 10_000;

const TWO_32 = 4294967296;

/**
 * A 53-bit digest of a key: the memory stores numbers, not the keys themselves, so a long
 * header value costs nothing to remember and no client-supplied string is kept around. At
 * 10k entries the chance of any collision is about 10^-8.
 */
function digest(key: string): number {
  return (pairHash('\u0001hi', key) & 0x1fffff) * TWO_32 + pairHash('\u0001lo', key);
}

/** Least-recently-used map of key digest → id of the server the key last went to. */
export class AffinityMemory {
  readonly #map = new Map<number, string>();
  readonly limit: number;

  constructor(limit = AFFINITY_MEMORY_SIZE) {
    this.limit = Math.max(1, limit);
  }

  /** Remember that `key` went to `serverId`; returns where it went last time, if remembered. */
  swap(key: string, serverId: string): string | undefined {
    const d = digest(key);
    const previous = this.#map.get(d);
    if (previous !== undefined) {
      // Delete and re-insert: a Map iterates in insertion order, so the first entry is the LRU.
      this.#map.delete(d);
    } else if (this.#map.size >= this.limit) {
      const oldest = this.#map.keys().next();
      if (oldest.done !== true) this.#map.delete(oldest.value);
    }
    this.#map.set(d, serverId);
    return previous;
  }

  get size(): number {
    return this.#map.size;
  }
}

/**
 * The outcome of one keyed selection:
 * - `hit`: the same server as the last time this process saw the key;
 * - `moved`: the key's first choice is unavailable so it went elsewhere, or it changed server
 *   since last time (back to its first choice after a recovery, or a new server list);
 * - `new`: first time seen, and on its first choice.
 */
export function affinityOutcome(previous: string | undefined, chosen: Backend, first: Backend | undefined): Affinity {
  if (previous === chosen.id) return 'hit';
  if (first !== chosen) return 'moved';
  return previous === undefined ? 'new' : 'moved';
}
