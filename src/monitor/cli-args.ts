/**
 * Argument parsing shared by `wstap check` and `wstap sticky-check`: the URL, numbers and
 * `--header 'K: V'`. Every problem is a {@link UsageError} (exit 2) that names the option and
 * the fix, because a typo in a CI job should not read like an outage.
 */
import { UsageError } from '../commands/io.js';

/** The one positional URL, which must be ws:// or wss://. */
export function parseWsUrl(positionals: readonly string[], command: string): string {
  if (positionals.length === 0) throw new UsageError(`a URL is required, e.g. wstap ${command} ws://127.0.0.1:8080/`);
  if (positionals.length > 1) throw new UsageError(`expected one URL, got ${positionals.length}: ${positionals.join(' ')}`);
  const raw = positionals[0] as string;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`invalid URL ${JSON.stringify(raw)} — expected ws://HOST:PORT/PATH or wss://…`);
  }
  if (url.protocol === 'http:' || url.protocol === 'https:') {
    const ws = url.protocol === 'http:' ? 'ws:' : 'wss:';
    throw new UsageError(`${JSON.stringify(raw)} is an ${url.protocol.slice(0, -1)} URL — use ${ws}//${url.host}${url.pathname}${url.search}`);
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new UsageError(`unsupported URL scheme ${JSON.stringify(url.protocol)} in ${JSON.stringify(raw)} — use ws:// or wss://`);
  }
  if (url.hash !== '') throw new UsageError(`a WebSocket URL cannot have a fragment (${url.hash})`);
  return raw;
}

/** An integer option within [min, max]; `fallback` when absent. */
export function parseIntOption(name: string, value: string | undefined, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value.trim())) throw new UsageError(`--${name} must be a whole number, got ${JSON.stringify(value)}`);
  const n = Number(value.trim());
  if (n < min || n > max) {
    throw new UsageError(`--${name} must be ${max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `between ${min} and ${max}`}, got ${n}`);
  }
  return n;
}

// RFC 9110 token: the characters a header name may use.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** `--header 'Authorization: Bearer x'` (repeatable) → a header record. */
export function parseHeaders(values: readonly string[] | undefined, option = 'header'): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values ?? []) {
    const i = v.indexOf(':');
    const name = i < 0 ? '' : v.slice(0, i).trim();
    if (i < 0 || !TOKEN.test(name)) {
      throw new UsageError(`--${option} ${JSON.stringify(v)} is not "Name: value" (e.g. --${option} 'Authorization: Bearer TOKEN')`);
    }
    const value = v.slice(i + 1).trim();
    if (/[\r\n\0]/.test(value)) throw new UsageError(`--${option} ${name}: the value cannot contain line breaks`);
    out[name] = name in out ? `${out[name]}, ${value}` : value;
  }
  return out;
}

/** Subprotocol tokens from a repeatable option. */
export function parseSubprotocols(values: readonly string[] | undefined): string[] {
  const list = values ?? [];
  for (const p of list) {
    if (!TOKEN.test(p)) throw new UsageError(`--subprotocol ${JSON.stringify(p)} is not a valid subprotocol name (a token without spaces or commas)`);
  }
  if (new Set(list).size !== list.length) throw new UsageError('--subprotocol: each subprotocol may be given once');
  return [...list];
}
