/**
 * The /status document and the readiness decision, kept apart from the HTTP plumbing so the
 * CLI (`wstap status`), the status page and tests share one shape.
 *
 * The document is flat on purpose: the close-code evaluation's fields (`status`,
 * `total_closes`, `abnormal_rate`, `alerts`, `codes`, …) sit at the top level, as in the seed's
 * `check_close_code_health`, so `jq .status` works; the rest of SPEC §4 sits beside them.
 */
import type { CoreSnapshot } from '../snapshot.js';
import type { CloseHealth, MessageRates, PingReport, WindowReport } from '../telemetry/status-types.js';

/** One backend server as /status shows it (the URL is left out: it may carry credentials). */
export interface BackendStatus {
  readonly pool: string;
  readonly id: string;
  readonly up: boolean;
  readonly active_sessions: number;
}

/** One route and whether it can take sessions. */
export interface RouteStatus {
  readonly name: string;
  readonly pool: string;
  readonly healthy: boolean;
}

/** One worker process of a cluster (`workers:` above 1), as the primary saw it. */
export interface WorkerStatus {
  /** The worker's slot, 0…workers-1. */
  readonly index: number;
  readonly pid: number;
  /** Answered the primary's last question in time; the other fields are its answer. */
  readonly responding: boolean;
  readonly active_sessions: number;
  /** Times this slot's process was restarted after an unexpected exit. */
  readonly restarts: number;
}

/** The JSON answered by `GET /status`. */
export interface StatusDocument extends CloseHealth {
  readonly service?: string;
  readonly version?: string;
  readonly generated_at: string;
  readonly uptime_s: number;
  readonly ready: boolean;
  /** Why /readyz answers 503 (empty when ready). */
  readonly not_ready_reasons: readonly string[];
  readonly listening: boolean;
  readonly draining: boolean;
  readonly active_sessions: number;
  readonly pending_handshakes: number;
  readonly backends: readonly BackendStatus[];
  readonly routes: readonly RouteStatus[];
  readonly ping: PingReport;
  readonly messages: MessageRates;
  /** Synthetic monitor results (filled by the monitor runner; empty otherwise). */
  readonly monitors: readonly unknown[];
  /** Cluster mode only: each worker process. */
  readonly workers?: readonly WorkerStatus[];
}

/** Readiness of the proxy: listening, not draining, and every route has an up backend. */
export interface Readiness {
  readonly ready: boolean;
  readonly reasons: readonly string[];
}

/** Decide readiness from the core snapshot (SPEC §4 `/readyz`). */
export function readiness(snap: CoreSnapshot): Readiness {
  const reasons: string[] = [];
  if (!snap.listening) reasons.push('proxy listener is not bound');
  if (snap.draining) reasons.push('draining');
  for (const r of snap.routes) {
    if (!r.healthy) reasons.push(`route "${r.name}": no healthy backend in pool "${r.pool}"`);
  }
  return { ready: reasons.length === 0, reasons };
}

/** Inputs of {@link buildStatusDocument}. */
export interface StatusInputs {
  readonly snapshot: CoreSnapshot;
  readonly report: WindowReport;
  readonly monitors?: readonly unknown[];
  readonly workers?: readonly WorkerStatus[];
  readonly service?: string;
  readonly version?: string;
  readonly now?: Date;
}

/** Assemble the /status document. */
export function buildStatusDocument(i: StatusInputs): StatusDocument {
  const { snapshot: snap, report } = i;
  const ready = readiness(snap);
  return {
    ...report.close_health,
    ...(i.service !== undefined ? { service: i.service } : {}),
    ...(i.version !== undefined ? { version: i.version } : {}),
    generated_at: (i.now ?? new Date()).toISOString(),
    uptime_s: Math.round(snap.uptimeS * 1000) / 1000,
    ready: ready.ready,
    not_ready_reasons: ready.reasons,
    listening: snap.listening,
    draining: snap.draining,
    active_sessions: snap.activeSessions,
    pending_handshakes: snap.pendingHandshakes,
    backends: snap.backends.map((b) => ({ pool: b.pool, id: b.id, up: b.up, active_sessions: b.active })),
    routes: snap.routes.map((r) => ({ name: r.name, pool: r.pool, healthy: r.healthy })),
    ping: report.ping,
    messages: report.messages,
    monitors: i.monitors ?? [],
    ...(i.workers !== undefined ? { workers: i.workers } : {}),
  };
}

/** Human names of close codes, shared by the status page and `wstap status`. */
export const CLOSE_CODE_NAMES: Readonly<Record<string, string>> = {
  '0': 'other (invalid or unassigned code)',
  '1000': 'normal closure',
  '1001': 'going away',
  '1002': 'protocol error',
  '1003': 'unsupported data',
  '1004': 'reserved',
  '1005': 'no status code',
  '1006': 'abnormal closure (no close frame)',
  '1007': 'invalid payload data',
  '1008': 'policy violation',
  '1009': 'message too big',
  '1010': 'mandatory extension',
  '1011': 'internal error',
  '1012': 'service restart',
  '1013': 'try again later',
  '1014': 'bad gateway',
  '1015': 'TLS handshake failure',
};

/** The human name of a close code as /status reports it (`"0"` is the "other" bucket). */
export function closeCodeName(code: string | number): string {
  const n = Number(code);
  const known = CLOSE_CODE_NAMES[String(n)];
  if (known !== undefined) return known;
  if (n >= 3000 && n <= 3999) return 'registered by a library or framework';
  if (n >= 4000 && n <= 4999) return 'application-defined';
  return 'unknown';
}
