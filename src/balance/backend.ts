/**
 * Runtime state of one backend server. Health code flips `available`; the proxy counts
 * `active`; pickers only read `available`, `active` and `weight`.
 */
import type { ServerConfig } from '../config/types.js';

/** One server of a pool, shared by the pool, its picker, health code and the sessions open to it. */
export class Backend {
  readonly id: string;
  readonly pool: string;
  readonly url: URL;
  /**
   * Share of new sessions relative to the pool's other servers (≥ 1). Not readonly: a reload
   * that only changes the weight keeps this object, so the active count of sessions already
   * open to it stays exact.
   */
  weight: number;
  /** Sessions open to this server right now. */
  active = 0;
  /** False while active health checks fail or a passive cooldown runs. */
  available = true;

  constructor(pool: string, server: ServerConfig) {
    this.id = server.id;
    this.pool = pool;
    this.url = server.url;
    this.weight = server.weight;
  }
}
