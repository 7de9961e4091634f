/**
 * The metric catalogue: every instrument name, attribute key and attribute value wstap emits.
 * SPEC §5 is the contract for these strings; dashboards (`config/grafana-dashboard.json`) and
 * alert rules (`config/prometheus-alerts.yaml`) depend on them, so change them only with the spec.
 *
 * Plain `as const` objects rather than enums so the file also runs under type stripping.
 * No WebSocket semantic convention exists yet (semantic-conventions#2841), hence the product
 * namespace `wstap.*`; stable registry attributes (`error.type`, `http.response.status_code`)
 * are reused where they fit.
 */

/** Meter (instrumentation scope) name. */
export const METER_NAME = 'wstap';

/** Metric names (OTel form; the Prometheus exporter turns dots into underscores). */
export const METRIC = {
  CONNECTIONS_ACTIVE: 'wstap.connections.active',
  CONNECTIONS: 'wstap.connections',
  SESSION_DURATION: 'wstap.session.duration',
  SESSION_MESSAGES: 'wstap.session.messages',
  MESSAGES: 'wstap.messages',
  MESSAGE_SIZE: 'wstap.message.size',
  IO: 'wstap.io',
  CLOSES: 'wstap.closes',
  UPGRADES: 'wstap.upgrades',
  HANDSHAKE_DURATION: 'wstap.handshake.duration',
  PING_DURATION: 'wstap.ping.duration',
  PING_TIMEOUTS: 'wstap.ping.timeouts',
  ERRORS: 'wstap.errors',
  PROTOCOL_VIOLATIONS: 'wstap.protocol.violations',
  BACKEND_UP: 'wstap.backend.up',
  BACKEND_SELECTIONS: 'wstap.backend.selections',
  MONITOR_UP: 'wstap.monitor.up',
  MONITOR_DURATION: 'wstap.monitor.duration',
  MONITOR_STEP_DURATION: 'wstap.monitor.step.duration',
} as const;

export type MetricName = (typeof METRIC)[keyof typeof METRIC];

/** Attribute keys. Client addresses, paths, session ids and close reasons are never among them. */
export const ATTR = {
  ROUTE: 'wstap.route',
  BACKEND: 'wstap.backend',
  DIRECTION: 'wstap.direction',
  MESSAGE_TYPE: 'wstap.message.type',
  LEG: 'wstap.leg',
  CLOSE_CODE: 'wstap.close.code',
  CLOSE_INITIATOR: 'wstap.close.initiator',
  AFFINITY: 'wstap.affinity',
  MONITOR: 'wstap.monitor',
  MONITOR_STEP: 'wstap.monitor.step',
  /** Stable OTel registry attribute (int). */
  HTTP_STATUS: 'http.response.status_code',
  /** Stable OTel registry attribute; set on failures only. */
  ERROR_TYPE: 'error.type',
} as const;

export type AttributeKey = (typeof ATTR)[keyof typeof ATTR];

/** `wstap.direction` values. */
export const DIRECTION = {
  CLIENT_TO_BACKEND: 'client_to_backend',
  BACKEND_TO_CLIENT: 'backend_to_client',
} as const;

/** `wstap.message.type` values. */
export const MESSAGE_TYPE = { TEXT: 'text', BINARY: 'binary' } as const;

/** `wstap.leg` values: `client` is proxy ⇄ client, `backend` is proxy ⇄ backend. */
export const LEG = { CLIENT: 'client', BACKEND: 'backend' } as const;

/** `wstap.close.initiator` values. */
export const INITIATOR = { CLIENT: 'client', BACKEND: 'backend', PROXY: 'proxy' } as const;

/** `wstap.affinity` values. */
export const AFFINITY = { NONE: 'none', NEW: 'new', HIT: 'hit', MOVED: 'moved' } as const;

export type AffinityOutcome = (typeof AFFINITY)[keyof typeof AFFINITY];

/**
 * `wstap.close.code` for a code that RFC 6455 does not allow on the wire or that no registry
 * assigns (below 1000, 1016–2999, above 4999). The attribute stays an integer on every series:
 * a string `_OTHER` would give the attribute two types, which typed backends (Elasticsearch,
 * ClickHouse) reject. `0` is never a real close code, so it cannot be mistaken for one.
 */
export const CLOSE_CODE_OTHER = 0;

/** The well-known `error.type` fallback for values outside the documented list. */
export const ERROR_TYPE_OTHER = '_OTHER';

/** Close codes counted as abnormal by the health report and the shipped alert rules. */
export const ABNORMAL_CLOSE_CODES: readonly number[] = [1006, 1011, 1012, 1013];
