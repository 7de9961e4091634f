/**
 * A named pool of backend servers with its picker and its affinity memory.
 *
 * Selection: with a sticky key (the affinity key's value, or the client IP for `balance:
 * hash`) the pool places the key by weighted rendezvous hashing and reports the affinity
 * outcome; without one it asks the balance policy and reports `none`.
 *
 * Reload-safe: a pool rebuilt from a new config keeps the `Backend` objects of servers that
 * stay (same id and URL; a new weight is applied in place), so their active counts and health
 * carry over, and it keeps the affinity memory, so a reload does not turn every `hit` into `new`.
 */
import type { BackendPoolConfig } from '../config/types.js';
import type { Affinity } from '../events.js';
import { Backend } from './backend.js';
import { AffinityMemory, affinityOutcome } from './affinity.js';
import { createPicker, type Picker, type PickContext, type Random } from './picker.js';
import { place } from './rendezvous.js';

/** What the proxy knows about the request when it asks for a server. */
export interface SelectContext extends PickContext {
  /** The resolved client IP; the key of `balance: hash` when there is no affinity key. */
  readonly clientIp?: string;
}

/** A chosen server and how the choice relates to the key's history (`wstap.affinity`). */
export interface Selection {
  readonly backend: Backend;
  readonly affinity: Affinity;
}

/** Knobs for tests; production uses the defaults. */
export interface PoolOptions {
  /** Random source of `balance: random`. */
  readonly rng?: Random;
  /** Keys remembered for affinity outcomes (default `AFFINITY_MEMORY_SIZE`, 10 000). */
  readonly memorySize?: number;
}

/** One `backends.<name>` pool: its servers, its picker and its affinity memory. */
export class Pool {
  readonly name: string;
  readonly config: BackendPoolConfig;
  readonly backends: readonly Backend[];
  readonly #picker: Picker;
  readonly #memory: AffinityMemory;

  constructor(config: BackendPoolConfig, previous?: Pool, options: PoolOptions = {}) {
    this.name = config.name;
    this.config = config;
    this.backends = config.servers.map((s) => {
      const old = previous?.backends.find((b) => b.id === s.id && b.url.href === s.url.href);
      if (old === undefined) return new Backend(config.name, s);
      old.weight = s.weight;
      return old;
    });
    // `hash` with no key at all (no client IP known) has nothing to hash: spread in turn.
    this.#picker = createPicker(config.balance === 'hash' ? 'round-robin' : config.balance, options.rng);
    this.#memory = previous !== undefined ? previous.#memory : new AffinityMemory(options.memorySize);
  }

  /** A server for a new session, or undefined when none is available (→ 503). */
  select(ctx: SelectContext = {}): Selection | undefined {
    const key = ctx.key ?? (this.config.balance === 'hash' ? ctx.clientIp : undefined);
    if (key === undefined || key === '') {
      const backend = this.#picker.pick(this.backends, {});
      return backend === undefined ? undefined : { backend, affinity: 'none' };
    }
    const { chosen, first } = place(key, this.backends);
    if (chosen === undefined) return undefined;
    const previous = this.#memory.swap(key, chosen.id);
    return { backend: chosen, affinity: affinityOutcome(previous, chosen, first) };
  }

  /** {@link select} without the outcome (plain HTTP requests, which report no selection). */
  pick(ctx: SelectContext = {}): Backend | undefined {
    return this.select(ctx)?.backend;
  }

  /** At least one server is available (the route can take new sessions; /readyz). */
  get healthy(): boolean {
    return this.backends.some((b) => b.available);
  }
}
