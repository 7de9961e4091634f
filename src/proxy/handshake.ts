/**
 * The client side of the upgrade: is this a WebSocket handshake we may forward, and which
 * headers does the backend get? Only a well-formed RFC 6455 opening handshake passes; anything
 * else is answered by wstap and never reaches a backend (h2c smuggling, RFC 9931 early data,
 * 0ang3el's fake-WebSocket smuggling: research/protocol-and-reliability.md §3.6).
 */
import type { IncomingMessage } from 'node:http';
import { ProxyError } from '../errors.js';

/** RFC 9110 §7.6.1 hop-by-hop fields, plus the ones wstap regenerates or sets itself. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-authorization',
  'proxy-authenticate',
  'http2-settings',
]);

const FORWARDING = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded']);

/** "a |Sec-WebSocket-Key| header field with a base64-encoded … value that, when decoded, is 16 bytes in length" (§4.2.1). */
const KEY_RE = /^[+/0-9A-Za-z]{21}[AQgw]==$/;

export interface ClientHandshake {
  readonly key: string;
  /** Offered subprotocols, in order. */
  readonly protocols: readonly string[];
  /** Offered extension names (`permessage-deflate`, …). */
  readonly extensions: readonly string[];
  readonly origin: string | undefined;
  readonly host: string | undefined;
}

/** Count header lines by lower-case name, from `rawHeaders`. */
function countHeaders(raw: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!.toLowerCase();
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return counts;
}

/** Comma-separated tokens of every line of a header, lower-cased and trimmed. */
export function headerTokens(raw: readonly string[], name: string, lower = true): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    // The length first: most names differ in it, and toLowerCase() allocates.
    const k = raw[i]!;
    if (k.length !== name.length || k.toLowerCase() !== name) continue;
    for (const t of raw[i + 1]!.split(',')) {
      const v = t.trim();
      if (v) out.push(lower ? v.toLowerCase() : v);
    }
  }
  return out;
}

/**
 * Check the client's upgrade request. Throws a {@link ProxyError} (400/426/501) naming what is
 * wrong; returns what the backend's 101 must be checked against.
 */
export function checkClientHandshake(req: IncomingMessage): ClientHandshake {
  const raw = req.rawHeaders;
  const upgrade = headerTokens(raw, 'upgrade');
  if (upgrade.length !== 1 || upgrade[0] !== 'websocket') {
    // Node emits 'upgrade' for any token (nodejs/node#57054); only `websocket` is ours.
    throw new ProxyError('unsupported_upgrade', `Upgrade: ${upgrade.join(', ') || '(none)'}`);
  }
  if (req.method !== 'GET') throw new ProxyError('bad_handshake', `method ${req.method ?? '?'} (must be GET)`);
  const counts = countHeaders(raw);
  if (!headerTokens(raw, 'connection').includes('upgrade')) {
    throw new ProxyError('bad_handshake', 'Connection header lacks the "upgrade" token');
  }
  const version = req.headers['sec-websocket-version'];
  if ((counts.get('sec-websocket-version') ?? 0) !== 1 || version !== '13') {
    throw new ProxyError('unsupported_version', `Sec-WebSocket-Version: ${String(version ?? '(none)')}`);
  }
  const key = req.headers['sec-websocket-key'];
  // "|Sec-WebSocket-Key| … MUST NOT appear more than once in an HTTP request" (§11.3.1)
  if ((counts.get('sec-websocket-key') ?? 0) !== 1 || typeof key !== 'string' || !KEY_RE.test(key)) {
    throw new ProxyError('bad_handshake', 'missing, repeated or malformed Sec-WebSocket-Key');
  }
  if ((counts.get('host') ?? 0) > 1) throw new ProxyError('bad_handshake', 'repeated Host header');
  // An upgrade request carries no body (Kestrel and RFC 9931 practice): a body would be
  // bytes smuggled ahead of the 101.
  const cl = req.headers['content-length'];
  if ((cl !== undefined && cl !== '0') || counts.has('transfer-encoding')) {
    throw new ProxyError('bad_handshake', 'an upgrade request must not carry a body');
  }
  const protocols = headerTokens(raw, 'sec-websocket-protocol', false);
  const extensions = headerTokens(raw, 'sec-websocket-extensions')
    .map((e) => e.split(';')[0]!.trim())
    .filter(Boolean);
  const origin = req.headers.origin;
  return { key, protocols, extensions, origin, host: req.headers.host };
}

export interface ForwardingInfo {
  /** The TCP peer's address. */
  readonly peer: string;
  /** The TCP peer is a trusted proxy: its X-Forwarded-* headers are believed and extended. */
  readonly trusted: boolean;
  /** The listener speaks TLS. */
  readonly tls: boolean;
}

/**
 * Headers for the backend's upgrade request, as a raw `[name, value, …]` list in the client's
 * order and case: hop-by-hop fields (and any the client named in `Connection`) are dropped,
 * `Connection`/`Upgrade` regenerated, `X-Forwarded-For/-Proto/-Host` set. Everything else —
 * cookies, auth, `Sec-WebSocket-*` — goes as sent.
 */
export function upstreamHeaders(req: IncomingMessage, fwd: ForwardingInfo): string[] {
  const raw = req.rawHeaders;
  const named = new Set(headerTokens(raw, 'connection'));
  const out: string[] = [];
  let xff: string | undefined;
  let xfp: string | undefined;
  let xfh: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || named.has(lower)) continue;
    if (FORWARDING.has(lower)) {
      if (!fwd.trusted) continue;
      const v = raw[i + 1]!;
      if (lower === 'x-forwarded-for') xff = xff === undefined ? v : `${xff}, ${v}`;
      else if (lower === 'x-forwarded-proto') xfp ??= v;
      else if (lower === 'x-forwarded-host') xfh ??= v;
      else out.push(name, v); // Forwarded, from a trusted hop
      continue;
    }
    out.push(name, raw[i + 1]!);
  }
  out.push('Connection', 'Upgrade', 'Upgrade', 'websocket');
  out.push('X-Forwarded-For', xff === undefined ? fwd.peer : `${xff}, ${fwd.peer}`);
  out.push('X-Forwarded-Proto', xfp ?? (fwd.tls ? 'https' : 'http'));
  const host = xfh ?? req.headers.host;
  if (host !== undefined) out.push('X-Forwarded-Host', host);
  return out;
}
