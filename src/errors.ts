/**
 * The one error type of wstap. Each code is a stable, low-cardinality `error.type` value, with
 * the HTTP status answered when it happens during the handshake and the close code sent when it
 * happens on an open session. The README's "Error codes" table lists them.
 */

export const ERRORS = {
  no_route: { status: 404, close: 1008, text: 'no route matches this host and path' },
  no_backend: { status: 503, close: 1013, text: 'no backend of this route is available' },
  origin_denied: { status: 403, close: 1008, text: 'this Origin is not allowed on this route' },
  bad_handshake: { status: 400, close: 1002, text: 'not a valid WebSocket upgrade request' },
  unsupported_version: { status: 426, close: 1002, text: 'only WebSocket version 13 is supported' },
  unsupported_upgrade: { status: 501, close: 1002, text: 'only the websocket upgrade token is supported' },
  overloaded: { status: 503, close: 1013, text: 'the proxy is at its connection limit' },
  too_many_per_ip: { status: 429, close: 1013, text: 'too many connections from this address' },
  draining: { status: 503, close: 1001, text: 'the proxy is shutting down' },
  backend_refused: { status: 502, close: 1014, text: 'the backend refused the connection' },
  backend_timeout: { status: 504, close: 1014, text: 'the backend did not answer the upgrade in time' },
  backend_error: { status: 502, close: 1014, text: 'the connection to the backend failed' },
  backend_invalid_response: { status: 502, close: 1014, text: 'the backend answered with an invalid 101' },
  backend_rejected: { status: 0, close: 1014, text: 'the backend refused the upgrade (its answer is relayed)' },
  client_closed: { status: 499, close: 1001, text: 'the client went away before the handshake completed' },
  heartbeat_timeout: { status: 0, close: 1001, text: 'a leg did not answer a ping in time' },
  idle_timeout: { status: 0, close: 1001, text: 'no frame either way for timeouts.idle' },
  message_too_big: { status: 0, close: 1009, text: 'a message is larger than limits.max_message_bytes' },
  close_timeout: { status: 0, close: 1001, text: 'the close handshake did not finish within timeouts.close' },
  socket_error: { status: 0, close: 1001, text: 'a socket of the session failed' },
} as const;

export type ErrorCode = keyof typeof ERRORS;

export class ProxyError extends Error {
  override readonly name = 'ProxyError';
  readonly code: ErrorCode;
  /** HTTP status to answer with during the handshake. */
  readonly status: number;

  constructor(code: ErrorCode, detail?: string, options?: ErrorOptions) {
    super(detail ? `${ERRORS[code].text}: ${detail}` : ERRORS[code].text, options);
    this.code = code;
    this.status = ERRORS[code].status;
  }
}
