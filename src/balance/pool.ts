/**
 * A named pool of backend servers with its picker. Reload-safe: a pool rebuilt from a new
 * config keeps the `Backend` objects of servers that stay (same id and URL), so their active
 * counts and health carry over.
 */
import type { BackendPoolConfig } from '../config/types.js';
import { Backend } from './backend.js';
import { RoundRobinPicker, type Picker } from './picker.js';

export class Pool {
  readonly name: string;
  readonly config: BackendPoolConfig;
  readonly backends: readonly Backend[];
  readonly #picker: Picker;

  constructor(config: BackendPoolConfig, previous?: Pool) {
    this.name = config.name;
    this.config = config;
    this.backends = config.servers.map((s) => {
      const old = previous?.backends.find((b) => b.id === s.id && b.url.href === s.url.href && b.weight === s.weight);
      return old ?? new Backend(config.name, s);
    });
    this.#picker = new RoundRobinPicker();
  }

  /** A server for a new session, or undefined when none is available (→ 503). */
  pick(): Backend | undefined {
    return this.#picker.pick(this.backends);
  }

  get healthy(): boolean {
    return this.backends.some((b) => b.available);
  }
}
