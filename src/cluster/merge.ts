/**
 * One view of N workers: the cluster primary's /readyz and /status add the workers' counts up.
 * A backend or route is shown up/healthy only when every worker that answered sees it so (each
 * worker runs its own health checks), so a fault seen by any one of them is not hidden.
 */
import type { BackendSnapshot, CoreSnapshot, RouteSnapshot } from '../snapshot.js';

/**
 * Merge the workers' snapshots. `uptimeS` is the primary's; with no snapshot at all (every
 * worker restarting) the cluster reports itself as not listening.
 */
export function mergeSnapshots(list: readonly CoreSnapshot[], uptimeS: number, draining: boolean): CoreSnapshot {
  const backends = new Map<string, { pool: string; id: string; url: string; up: boolean; active: number }>();
  const routes = new Map<string, { name: string; pool: string; healthy: boolean }>();
  let activeSessions = 0;
  let pendingHandshakes = 0;
  for (const s of list) {
    activeSessions += s.activeSessions;
    pendingHandshakes += s.pendingHandshakes;
    for (const b of s.backends) {
      const key = `${b.pool}\u0000${b.id}`;
      const m = backends.get(key);
      if (m === undefined) backends.set(key, { ...b });
      else {
        m.up &&= b.up;
        m.active += b.active;
      }
    }
    for (const r of s.routes) {
      const m = routes.get(r.name);
      if (m === undefined) routes.set(r.name, { ...r });
      else m.healthy &&= r.healthy;
    }
  }
  return {
    uptimeS,
    listening: list.length > 0 && list.some((s) => s.listening),
    draining: draining || list.some((s) => s.draining),
    activeSessions,
    pendingHandshakes,
    backends: [...backends.values()] satisfies BackendSnapshot[],
    routes: [...routes.values()] satisfies RouteSnapshot[],
  };
}
