/**
 * The one-method selection interface (Caddy's `Selector`). A picker sees the pool's servers
 * and reads only their `available`, `active` and `weight`; it never sees health code and does
 * no I/O. `createPicker` maps `backends.<pool>.balance` to an implementation.
 */
import type { BalanceKind } from '../config/types.js';
import type { Backend } from './backend.js';
import { HashPicker } from './rendezvous.js';
import { LeastConnectionsPicker } from './least-connections.js';
import { RandomPicker, type Random } from './random.js';
import { RoundRobinPicker } from './round-robin.js';

/** What a picker may know about the request beyond the servers. */
export interface PickContext {
  /** The sticky key (affinity key value, or the client IP for `hash`); absent when there is none. */
  readonly key?: string;
}

/** Chooses a server for a new session, or undefined when none is available (→ 503). */
export interface Picker {
  pick(backends: readonly Backend[], ctx: PickContext): Backend | undefined;
}

/** The picker for a `balance` value; `random` draws from `rng` (default `Math.random`). */
export function createPicker(kind: BalanceKind, rng: Random = Math.random): Picker {
  switch (kind) {
    case 'round-robin':
      return new RoundRobinPicker();
    case 'least-connections':
      return new LeastConnectionsPicker();
    case 'random':
      return new RandomPicker(rng);
    case 'hash':
      return new HashPicker();
  }
}

export { HashPicker, LeastConnectionsPicker, RandomPicker, RoundRobinPicker };
export type { Random };
