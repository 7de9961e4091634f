/**
 * Runtime state of one backend server. Health code flips `available`; the tunnel counts
 * `active`; pickers only read both.
 */
import type { ServerConfig } from '../config/types.js';

export class Backend {
  readonly id: string;
  readonly pool: string;
  readonly url: URL;
  readonly weight: number;
  /** Sessions open to this server right now. */
  active = 0;
  /** False while health checks fail or a passive cooldown runs. */
  available = true;

  constructor(pool: string, server: ServerConfig) {
    this.id = server.id;
    this.pool = pool;
    this.url = server.url;
    this.weight = server.weight;
  }
}
