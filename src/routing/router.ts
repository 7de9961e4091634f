/**
 * Pure routing: (host, path) → the first route that matches, compiled once from the config.
 * `host` is exact or `*.suffix` (case-insensitive, port ignored); `path` is a prefix that
 * matches on a segment boundary (`/ws` matches `/ws`, `/ws/x` and `/ws?q`, not `/wsx`).
 */
import type { RouteConfig } from '../config/types.js';

interface Compiled {
  readonly route: RouteConfig;
  readonly exactHost?: string;
  /** For `*.example.com`: `.example.com`. */
  readonly hostSuffix?: string;
  readonly path: string;
}

export class Router {
  readonly #routes: readonly Compiled[];

  constructor(routes: readonly RouteConfig[]) {
    this.#routes = routes.map((route) => {
      const h = route.match.host?.toLowerCase();
      const path = route.match.path;
      if (h === undefined) return { route, path };
      if (h.startsWith('*.')) return { route, hostSuffix: h.slice(1), path };
      return { route, exactHost: h, path };
    });
  }

  /** The first matching route, or undefined (→ 404). `host` is the Host header as sent. */
  match(host: string | undefined, path: string): RouteConfig | undefined {
    const name = host === undefined ? undefined : stripPort(host).toLowerCase();
    for (const c of this.#routes) {
      if (c.exactHost !== undefined && c.exactHost !== name) continue;
      if (c.hostSuffix !== undefined && (name === undefined || !name.endsWith(c.hostSuffix))) continue;
      if (pathMatches(c.path, path)) return c.route;
    }
    return undefined;
  }
}

function stripPort(host: string): string {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end < 0 ? host : host.slice(1, end);
  }
  const colon = host.indexOf(':');
  return colon < 0 ? host : host.slice(0, colon);
}

function pathMatches(prefix: string, path: string): boolean {
  if (prefix === '/' || prefix === '') return true;
  if (!path.startsWith(prefix)) return false;
  if (prefix.endsWith('/') || path.length === prefix.length) return true;
  const next = path.charCodeAt(prefix.length);
  return next === 0x2f /* / */ || next === 0x3f /* ? */;
}
