/**
 * Rendezvous (highest-random-weight) hashing, weighted. Every server gets a score from a hash of
 * (server id, key); the key goes to the highest-scoring available server. Because the score
 * depends on nothing but the key, the server's id and its weight:
 * - any replica given the same server list sends a key to the same server, with no shared state;
 * - adding a server moves only the keys it now wins (about 1/(N+1) of them); removing one moves
 *   only the keys it had;
 * - when a key's first choice is unavailable, the key's second choice takes it, and the key
 *   returns as soon as the first choice is back.
 *
 * Weights use the logarithmic method (Schindelhauer & Schomaker, "Weighted distributed hash
 * tables", 2005): score = weight / -ln(u) with u the hash mapped into (0, 1). A server then
 * wins a share of keys exactly proportional to its weight.
 */
import type { Backend } from './backend.js';
import type { PickContext, Picker } from './picker.js';

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const TWO_32 = 4294967296;

/** FNV-1a over the string's UTF-16 code units (low byte, then the high byte when non-zero). */
function fnv1a(s: string, h: number): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h = Math.imul(h ^ (c & 0xff), FNV_PRIME);
    if (c > 0xff) h = Math.imul(h ^ (c >>> 8), FNV_PRIME);
  }
  return h;
}

/** MurmurHash3's finaliser: FNV alone lets similar keys (user-1, user-2) score alike. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * A stable 32-bit hash of (server id, key). Stable across processes, machines and releases:
 * changing it would re-shuffle every sticky key of every deployment at upgrade time.
 */
export function pairHash(serverId: string, key: string): number {
  // The NUL separator keeps ("ab", "c") and ("a", "bc") apart.
  return fmix32(fnv1a(key, fnv1a('\0', fnv1a(serverId, FNV_OFFSET))));
}

/** A key's weighted rendezvous score on one server; the highest score wins. */
export function score(serverId: string, weight: number, key: string): number {
  // u in (0, 1): never 0 (ln → -∞) nor 1 (ln → 0, a division by zero).
  const u = (pairHash(serverId, key) + 0.5) / TWO_32;
  return weight / -Math.log(u);
}

/** The servers in the key's order of preference (first choice first), availability ignored. */
export function rank(key: string, backends: readonly Backend[]): Backend[] {
  return backends
    .map((b) => ({ b, s: score(b.id, b.weight, key) }))
    .sort((x, y) => y.s - x.s || (x.b.id < y.b.id ? -1 : 1))
    .map((x) => x.b);
}

/** Where a key goes now, and where it would go if every server were up. */
export interface Placement {
  /** The highest-scoring available server (undefined when none is available). */
  readonly chosen: Backend | undefined;
  /** The key's first choice among all servers, available or not. */
  readonly first: Backend | undefined;
}

/** One pass over the servers: the key's first choice and its best available server. */
export function place(key: string, backends: readonly Backend[]): Placement {
  let first: Backend | undefined;
  let firstScore = -Infinity;
  let chosen: Backend | undefined;
  let chosenScore = -Infinity;
  for (const b of backends) {
    const s = score(b.id, b.weight, key);
    if (beats(s, b, firstScore, first)) {
      first = b;
      firstScore = s;
    }
    if (b.available && beats(s, b, chosenScore, chosen)) {
      chosen = b;
      chosenScore = s;
    }
  }
  return { chosen, first };
}

// Equal scores (a 2^-32 event) are settled by id so every replica agrees whatever the list order.
function beats(s: number, b: Backend, bestScore: number, best: Backend | undefined): boolean {
  return s > bestScore || (s === bestScore && best !== undefined && b.id < best.id);
}

/** `balance: hash`: rendezvous on the context's key (the pool passes the client IP if none). */
export class HashPicker implements Picker {
  pick(backends: readonly Backend[], ctx: PickContext): Backend | undefined {
    return place(ctx.key ?? '', backends).chosen;
  }
}
