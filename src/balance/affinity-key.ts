/**
 * Reads the sticky key (`backends.<pool>.affinity.key`) from an upgrade request. Pure: it gets
 * the parsed headers, the request target and the client IP already resolved through
 * `trusted_proxies` (so a client cannot choose its server by forging X-Forwarded-For).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { AffinityKey } from '../config/types.js';

/** The parts of a request a key can come from. */
export interface KeySource {
  readonly headers: IncomingHttpHeaders;
  /** Request target, path and query (`/ws?room=7`). */
  readonly url?: string;
}

/**
 * The key's value, or undefined when the request does not carry it (the pool then falls back to
 * its balance policy). Empty values count as missing: an empty cookie would otherwise pin every
 * such client to one server.
 */
export function affinityKeyOf(spec: AffinityKey, req: KeySource, clientIp: string): string | undefined {
  switch (spec.kind) {
    case 'client-ip':
      return nonEmpty(clientIp);
    case 'header': {
      // Names are lower-cased by the config; Node joins repeated headers with ", ".
      const v = req.headers[spec.name];
      return nonEmpty(Array.isArray(v) ? v.join(', ') : v);
    }
    case 'cookie':
      return nonEmpty(cookie(req.headers.cookie, spec.name));
    case 'query':
      return nonEmpty(query(req.url, spec.name));
  }
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}

/** RFC 6265 §5.4 `cookie-string`: `name=value` pairs separated by `; `. First match wins. */
function cookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    const v = part.slice(eq + 1).trim();
    // RFC 6265 §4.1.1 allows a DQUOTE-wrapped cookie-value; the quotes are not part of it.
    return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
  }
  return undefined;
}

function query(target: string | undefined, name: string): string | undefined {
  if (target === undefined) return undefined;
  const q = target.indexOf('?');
  if (q < 0) return undefined;
  const hash = target.indexOf('#', q);
  return new URLSearchParams(target.slice(q + 1, hash < 0 ? undefined : hash)).get(name) ?? undefined;
}
