/**
 * The normalised, frozen configuration every module receives. Produced by `config/load.ts`
 * from the YAML/JSON file (snake_case keys) after defaults and validation. Durations are
 * milliseconds; 0 means "off" where SPEC §3 says so.
 */

export type BalanceKind = 'round-robin' | 'least-connections' | 'random' | 'hash';

/** `client-ip` | `header:NAME` | `cookie:NAME` | `query:NAME`, parsed. */
export type AffinityKey =
  | { readonly kind: 'client-ip' }
  | { readonly kind: 'header' | 'cookie' | 'query'; readonly name: string };

export interface ServerConfig {
  /** Stable, low-cardinality name used in metrics (`wstap.backend`). */
  readonly id: string;
  /** ws:// or wss:// URL of the backend; its path is prefixed to the client's path. */
  readonly url: URL;
  readonly weight: number;
}

export interface HealthConfig {
  readonly interval: number;
  readonly timeout: number;
  readonly path: string;
  readonly send?: string;
  readonly expect?: string;
  readonly rise: number;
  readonly fall: number;
}

export interface BackendTlsConfig {
  /** PEM file of the CA(s) to trust for wss:// backends (default: the system store). */
  readonly ca?: string;
  /** Skip certificate verification toward the backend (default false). */
  readonly insecure: boolean;
}

export interface BackendPoolConfig {
  readonly name: string;
  readonly balance: BalanceKind;
  readonly affinity?: { readonly key: AffinityKey };
  readonly servers: readonly ServerConfig[];
  readonly health?: HealthConfig;
  readonly tls: BackendTlsConfig;
  /** Response header added to the 101 naming the chosen server id (off by default: reveals topology). */
  readonly id_header?: string;
}

export interface RouteConfig {
  readonly name: string;
  readonly match: { readonly host?: string; readonly path: string };
  readonly backend: string;
  readonly origins?: readonly string[];
}

export interface MonitorStep {
  readonly action: 'connect' | 'send' | 'receive' | 'measure_latency' | 'disconnect' | 'wait' | 'ping';
  readonly [key: string]: unknown;
}

export interface MonitorAssertion {
  readonly type: 'connection_latency' | 'message_latency';
  readonly operator: 'less_than' | 'greater_than' | 'equals';
  readonly value: number;
}

export interface MonitorConfig {
  readonly name: string;
  readonly url: string;
  readonly interval: number;
  readonly timeout: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly subprotocols: readonly string[];
  readonly insecure: boolean;
  readonly steps: readonly MonitorStep[];
  readonly assertions: readonly MonitorAssertion[];
}

export interface Config {
  readonly listen: {
    readonly host: string;
    readonly port: number;
    readonly tls?: { readonly cert: string; readonly key: string };
  };
  /** The admin server; `enabled: false` turns it off. */
  readonly admin: { readonly enabled: boolean; readonly host: string; readonly port: number };
  readonly backends: Readonly<Record<string, BackendPoolConfig>>;
  readonly routes: readonly RouteConfig[];
  readonly heartbeat: { readonly interval: number; readonly timeout: number };
  readonly timeouts: {
    readonly handshake: number;
    readonly idle: number;
    readonly close: number;
    readonly drain: number;
    /** Time allowed for a client to send its complete request head (408 after). */
    readonly request_head: number;
  };
  readonly limits: {
    readonly max_connections: number;
    readonly max_connections_per_ip: number;
    readonly max_message_bytes: number;
    /** Largest request head accepted (431 beyond). */
    readonly max_header_bytes: number;
  };
  /** Close code sent to both legs when the drain period ends: 1001 (going away) or 1012 (restart). */
  readonly shutdown: { readonly close_code: 1001 | 1012 };
  readonly trusted_proxies: readonly string[];
  readonly telemetry: {
    readonly service_name: string;
    /** Present when OTLP export is on (configured, or enabled by OTEL_EXPORTER_OTLP_* variables). */
    readonly otlp?: {
      /** Absent: the exporter reads OTEL_EXPORTER_OTLP_(METRICS_)ENDPOINT itself. */
      readonly endpoint?: string;
      readonly interval: number;
      readonly headers: Readonly<Record<string, string>>;
    };
    readonly prometheus: boolean;
    readonly close_codes: 'exact' | 'grouped';
  };
  readonly alerts: {
    readonly window: number;
    readonly abnormal_close_ratio: number;
    readonly abnormal_disconnect_ratio: number;
  };
  readonly log: { readonly level: 'debug' | 'info' | 'warn' | 'error'; readonly format: 'json' | 'pretty' };
  /** Reload on a change of the config file (SIGHUP always reloads). */
  readonly watch: boolean;
  /**
   * Worker processes sharing the listener: 1 runs everything in one process; more (or `auto`,
   * one per available core) run a primary with the admin server and N proxy workers.
   */
  readonly workers: number | 'auto';
  readonly monitors: readonly MonitorConfig[];
}
