/**
 * The shapes of the close-code health report and the other sliding-window figures of /status.
 * snake_case because they are JSON read by `wstap status`, the status page and users' scripts
 * (and the evaluation keeps the field names of the seed's `check_close_code_health`).
 */
import type { Initiator } from '../events.js';

/** The verdict of the close-code health check. */
export type HealthStatus = 'healthy' | 'alert' | 'no_data';

/** The rules of `alerts:` in the config. */
export type AlertRule = 'abnormal_close_ratio' | 'abnormal_disconnect_ratio';

/** One rule over its threshold. */
export interface AlertFinding {
  readonly rule: AlertRule;
  /** The configured ratio (0–1). */
  readonly threshold: number;
  /** The observed ratio (0–1). */
  readonly value: number;
  /** One human sentence, e.g. for `wstap status`. */
  readonly message: string;
}

/** Close counts keyed by normalised close code (`"0"` = other/invalid). */
export type CodeCounts = Record<string, number>;

/** The close-code health report over the alert window (SPEC §3 `alerts:`). */
export interface CloseHealth {
  readonly status: HealthStatus;
  readonly window_s: number;
  readonly total_closes: number;
  /** Closes with 1006, 1011, 1012 or 1013. */
  readonly abnormal_closes: number;
  /** `abnormal_closes / total_closes` (0 when there is none). */
  readonly abnormal_rate: number;
  readonly disconnects_1006: number;
  /** `disconnects_1006 / total_closes`. */
  readonly disconnect_rate: number;
  readonly thresholds: { readonly abnormal_close_ratio: number; readonly abnormal_disconnect_ratio: number };
  readonly alerts: readonly AlertFinding[];
  readonly codes: CodeCounts;
  readonly by_initiator: Readonly<Record<Initiator, CodeCounts>>;
}

/** Ping round trips of one leg over the alert window; percentiles in milliseconds. */
export interface LegLatency {
  readonly count: number;
  readonly timeouts: number;
  readonly p50_ms: number | null;
  readonly p95_ms: number | null;
  readonly p99_ms: number | null;
}

/** Proxy ping round trips per leg. */
export interface PingReport {
  readonly window_s: number;
  readonly client: LegLatency;
  readonly backend: LegLatency;
}

/** Data messages relayed in one direction over the rate window. */
export interface DirectionRate {
  readonly messages: number;
  readonly per_second: number;
  /** Payload bytes per second (wire sizes). */
  readonly bytes_per_second: number;
}

/** Message rates per direction over the last minute. */
export interface MessageRates {
  readonly window_s: number;
  readonly client_to_backend: DirectionRate;
  readonly backend_to_client: DirectionRate;
}

/** Everything the status window contributes to /status. */
export interface WindowReport {
  readonly close_health: CloseHealth;
  readonly ping: PingReport;
  readonly messages: MessageRates;
}

/**
 * The raw counts behind a {@link WindowReport}, before any ratio, percentile or rate is taken.
 * Percentiles and ratios cannot be added up across processes, counts can: in cluster mode each
 * worker sends its counts to the primary (plain JSON, so it crosses process IPC as is), which
 * sums them with `mergeWindowCounts` and evaluates the sum once with `windowReport`.
 */
export interface WindowCounts {
  /** The alert window (`alerts.window`) in milliseconds; close and ping counts cover it. */
  readonly window_ms: number;
  /** The configured alert ratios (0–1). */
  readonly thresholds: { readonly abnormal_close_ratio: number; readonly abnormal_disconnect_ratio: number };
  readonly closes: CloseCounts;
  readonly ping: { readonly client: LegCounts; readonly backend: LegCounts };
  readonly messages: RateCounts;
}

/** Session closes over the alert window; codes are already normalised (`telemetry.close_codes`). */
export interface CloseCounts {
  readonly total: number;
  /** Closes with 1006, 1011, 1012 or 1013. */
  readonly abnormal: number;
  readonly disconnects_1006: number;
  /** Closes per initiator per normalised close code (`"0"` = other/invalid). */
  readonly by_initiator: Readonly<Record<Initiator, CodeCounts>>;
}

/** Ping round trips of one leg over the alert window. */
export interface LegCounts {
  /** Counts per latency bin, `LATENCY_BINS` long (see `latency-histogram.ts`). */
  readonly bins: readonly number[];
  /** Round trips measured (the sum of `bins`). */
  readonly count: number;
  readonly timeouts: number;
}

/** Data messages relayed in one direction over the rate window. */
export interface DirectionCounts {
  readonly messages: number;
  /** Payload bytes (wire sizes). */
  readonly bytes: number;
}

/** Message counts per direction over the rate window. */
export interface RateCounts {
  /** The rate window in seconds (60). */
  readonly window_s: number;
  /** Seconds the counts cover, rates divide by it: the window, or less right after start (≥ 1). */
  readonly span_s: number;
  readonly client_to_backend: DirectionCounts;
  readonly backend_to_client: DirectionCounts;
}
