/**
 * Turning what Node, TLS and `ws` report into the one-line `error` of a check. A monitor's
 * output is read by someone on call, so each message names the cause and the address
 * (`connection refused (ECONNREFUSED 127.0.0.1:8080)`) rather than echoing `socket hang up`.
 */

/** Certificate verification failures, by OpenSSL/Node code. */
const CERT_CODES: Readonly<Record<string, string>> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed certificate',
  SELF_SIGNED_CERT_IN_CHAIN: 'self-signed certificate in the chain',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'unable to verify the first certificate (incomplete chain?)',
  UNABLE_TO_GET_ISSUER_CERT: 'unable to get the issuer certificate',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'unable to get the local issuer certificate (unknown CA)',
  CERT_HAS_EXPIRED: 'certificate has expired',
  CERT_NOT_YET_VALID: 'certificate is not yet valid',
  CERT_REVOKED: 'certificate has been revoked',
  CERT_UNTRUSTED: 'certificate is not trusted',
  ERR_TLS_CERT_ALTNAME_INVALID: "the certificate does not match the host name",
};

const NET_CODES: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by the server',
  ETIMEDOUT: 'TCP connect timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EADDRNOTAVAIL: 'address not available',
  EPIPE: 'connection closed by the server while sending',
};

interface NodeError extends Error {
  readonly code?: string;
  readonly address?: string;
  readonly port?: number;
  readonly hostname?: string;
  readonly reason?: string;
}

/** The `error` text for a failure while connecting (TCP, TLS, HTTP upgrade). */
export function describeConnectError(err: unknown, url: URL): string {
  const e = asNodeError(err);
  const code = e.code ?? aggregateCode(err);
  if (code !== undefined && code in CERT_CODES) {
    const detail = code === 'ERR_TLS_CERT_ALTNAME_INVALID' && e.reason ? `: ${e.reason}` : '';
    return `TLS certificate rejected: ${CERT_CODES[code]}${detail} (${code})`;
  }
  if (code !== undefined && (code.startsWith('ERR_SSL_') || code === 'EPROTO')) {
    // OpenSSL's text is `…:SSL routines:ssl3_get_record:wrong version number:../deps/…`: keep the reason.
    const reason = /SSL routines:[^:]*:([^:]+)/.exec(e.message)?.[1]?.trim() ?? e.message.split('\n')[0] ?? e.message;
    const hint = /wrong version number|packet length too long|http request/i.test(e.message) ? ' — is the server plain ws:// rather than wss://?' : '';
    return `TLS handshake failed: ${reason} (${code})${hint}`;
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return `cannot resolve host ${JSON.stringify(e.hostname ?? url.hostname)} (${code})`;
  }
  if (code === 'ECONNRESET' && /socket hang up/i.test(e.message)) {
    return 'the server closed the connection without answering the upgrade request (ECONNRESET: socket hang up)';
  }
  if (code !== undefined && code in NET_CODES) {
    return `${NET_CODES[code]} (${code} ${addresses(err, url)})`;
  }
  if (code === undefined && isWsHandshakeMessage(e.message)) {
    return `invalid handshake response: ${e.message}`;
  }
  return code !== undefined && !e.message.includes(code) ? `${e.message} (${code})` : e.message;
}

/** The `error` text for an error `ws` reports on an open connection (a bad frame from the peer…). */
export function describeStreamError(err: unknown): string {
  const e = asNodeError(err);
  if (e.code?.startsWith('WS_ERR_')) return `protocol error from the server: ${e.message} (${e.code})`;
  return e.code !== undefined ? `${e.message} (${e.code})` : e.message;
}

/** `4002 (bye)`, or just `1006` when there is no reason. */
export function formatClose(code: number, reason: string): string {
  return reason === '' ? String(code) : `${code} (${reason})`;
}

/** `closed with 4002 (bye) but 1000 was expected`, or null when the code is the expected one. */
export function closeMismatch(c: { readonly code: number; readonly reason: string; readonly byServer: boolean }, expected: number, during?: string): string | null {
  if (c.code === expected) return null;
  const how = c.code === 1006 ? 'the connection dropped without a close frame (1006)' : `closed with ${formatClose(c.code, c.reason)}`;
  const context = during !== undefined && c.byServer ? ` (the server closed first, while waiting for ${during})` : '';
  return `${how} but ${expected} was expected${context}`;
}

function asNodeError(err: unknown): NodeError {
  return err instanceof Error ? (err as NodeError) : new Error(String(err));
}

// Node 20 tries every address of a name (happy eyeballs) and reports an AggregateError whose
// parts carry the codes and addresses.
function aggregateCode(err: unknown): string | undefined {
  if (!(err instanceof AggregateError)) return undefined;
  return (err.errors as NodeError[]).find((x) => x?.code !== undefined)?.code;
}

function addresses(err: unknown, url: URL): string {
  const parts = err instanceof AggregateError ? (err.errors as NodeError[]) : [err as NodeError];
  const list = parts
    .filter((p) => p?.address !== undefined)
    .map((p) => (p.address?.includes(':') ? `[${p.address}]:${p.port}` : `${p.address}:${p.port}`));
  if (list.length > 0) return [...new Set(list)].join(', ');
  return `${url.hostname}:${url.port || (url.protocol === 'wss:' ? 443 : 80)}`;
}

// ws rejects a 101 it cannot accept with a plain Error (no code); these are its messages.
function isWsHandshakeMessage(msg: string): boolean {
  return /^(Invalid Upgrade header|Invalid Sec-WebSocket-Accept header|Server sent|Invalid Sec-WebSocket-Extensions|Server indicated an extension)/.test(msg);
}
