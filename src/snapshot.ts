/**
 * A point-in-time view of the proxy core, read by the admin server (/readyz, /status) and by
 * telemetry's observable instruments (`wstap.backend.up`). The core produces it on demand.
 */
export interface BackendSnapshot {
  readonly pool: string;
  readonly id: string;
  readonly url: string;
  /** Available for new sessions (health checks pass and not in passive cooldown). */
  readonly up: boolean;
  readonly active: number;
}

export interface RouteSnapshot {
  readonly name: string;
  readonly pool: string;
  /** At least one backend of the pool is up. */
  readonly healthy: boolean;
}

export interface CoreSnapshot {
  readonly uptimeS: number;
  /** The proxy listener is bound. */
  readonly listening: boolean;
  readonly draining: boolean;
  readonly activeSessions: number;
  readonly pendingHandshakes: number;
  readonly backends: readonly BackendSnapshot[];
  readonly routes: readonly RouteSnapshot[];
}
