/**
 * URL and name rules shared by validation and normalisation, so that what `validate` accepts
 * is exactly what `normalize` can build.
 */

/** Outcome of checking a WebSocket URL: the URL, or what is wrong and how to fix it. */
export type UrlCheck = { readonly url: URL } | { readonly what: string; readonly fix: string };

const HAS_SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

/** Check that `s` is a `ws://` or `wss://` URL. */
export function checkWsUrl(s: string): UrlCheck {
  // Without "//" WHATWG parsing takes "localhost:9001" as scheme "localhost:", so test first.
  if (!HAS_SCHEME.test(s)) return { what: `${JSON.stringify(s)} is not a ws:// or wss:// URL`, fix: `write "ws://${s}"` };
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    return { what: `${JSON.stringify(s)} is not a valid URL`, fix: 'write it as ws://host:port/path' };
  }
  switch (url.protocol) {
    case 'ws:':
    case 'wss:':
      break;
    case 'http:':
      return { what: `${JSON.stringify(s)} is not a WebSocket URL`, fix: 'use ws:// instead of http://' };
    case 'https:':
      return { what: `${JSON.stringify(s)} is not a WebSocket URL`, fix: 'use wss:// instead of https://' };
    default:
      return { what: `scheme "${url.protocol}" is not a WebSocket scheme`, fix: 'use ws:// or wss://' };
  }
  if (url.hash !== '') return { what: `${JSON.stringify(s)} has a fragment`, fix: `remove "${url.hash}" (fragments are never sent)` };
  return { url };
}

/** Check that `s` is an `http://` or `https://` URL (the OTLP endpoint). */
export function checkHttpUrl(s: string): UrlCheck {
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    return { what: `${JSON.stringify(s)} is not a valid URL`, fix: 'write it as http://host:4318/v1/metrics' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return { what: `scheme "${url.protocol}" is not supported`, fix: 'OTLP/HTTP needs an http:// or https:// URL' };
  }
  return { url };
}

/**
 * The id a server gets when the file gives none: its URL's `host:port` (default port
 * omitted). Stable as long as the address is, and low-cardinality.
 */
export function defaultServerId(url: URL): string {
  return url.host;
}

/** RFC 9110 `token`: what an HTTP header name (and a subprotocol) may be made of. */
export const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
