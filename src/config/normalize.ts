/**
 * From the validated file to the `Config` every module receives: URLs parsed, relative file
 * paths made absolute, defaults that depend on other values filled in (server ids, route
 * names), the OpenTelemetry environment applied, and the whole thing deeply frozen.
 *
 * Environment precedence (documented in config/wstap.yaml):
 * - `telemetry.service_name`: the file, else `OTEL_SERVICE_NAME`, else `service.name` from
 *   `OTEL_RESOURCE_ATTRIBUTES`, else `wstap`. The file wins because it is the more specific,
 *   deliberate setting; write `service_name: ${OTEL_SERVICE_NAME:-wstap}` to prefer the env.
 * - `telemetry.otlp`: from the file when present. When absent, OTLP export is turned on by
 *   `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` (or an explicit
 *   `OTEL_METRICS_EXPORTER=otlp`), with no `endpoint` so the exporter reads those variables
 *   itself (including their `…_HEADERS`). `OTEL_SDK_DISABLED=true`, or an
 *   `OTEL_METRICS_EXPORTER` list without `otlp`, keeps it off.
 * - `telemetry.otlp.interval`: the file, else `OTEL_METRIC_EXPORT_INTERVAL` (ms), else 60s.
 */
import { resolve } from 'node:path';
import type { BackendPoolConfig, Config, MonitorConfig, MonitorStep, RouteConfig } from './types.js';
import type { RawConfig, RawMonitor, RawStep } from './schema.js';
import { deepFreeze } from './freeze.js';
import { problem } from './problems.js';
import { defaultServerId } from './urls.js';

/** Options for {@link normalizeConfig}. */
export interface NormalizeOptions {
  /** Folder that relative file paths start from: the config file's folder. */
  readonly baseDir: string;
  /** The environment to read `OTEL_*` variables from. */
  readonly env: NodeJS.ProcessEnv;
}

/** Default OTLP export interval, as in the OpenTelemetry SDK. */
export const DEFAULT_OTLP_INTERVAL_MS = 60_000;
const DEFAULT_SERVICE_NAME = 'wstap';

/**
 * Build the frozen Config from a config that passed the schema and `validateConfig`.
 * `problems` lists faults of the environment (a malformed `OTEL_METRIC_EXPORT_INTERVAL`).
 */
export function normalizeConfig(raw: RawConfig, opts: NormalizeOptions): { config: Config; problems: string[] } {
  const problems: string[] = [];
  const path = (p: string): string => resolve(opts.baseDir, p);

  const backends: Record<string, BackendPoolConfig> = Object.fromEntries(
    Object.entries(raw.backends).map(([name, p]): [string, BackendPoolConfig] => [
      name,
      {
        name,
        balance: p.balance,
        ...(p.affinity && { affinity: { key: p.affinity.key } }),
        servers: p.servers.map((s) => {
          const url = new URL(s.url);
          return { id: s.id ?? defaultServerId(url), url, weight: s.weight };
        }),
        ...(p.health && { health: omitUndefined({ ...p.health }) }),
        tls: omitUndefined({ ca: p.tls.ca === undefined ? undefined : path(p.tls.ca), insecure: p.tls.insecure }),
        ...(p.id_header !== undefined && { id_header: p.id_header }),
      },
    ]),
  );

  const routes: RouteConfig[] = raw.routes.map((r) => ({
    name: r.name ?? r.backend,
    match: omitUndefined({ host: r.match.host?.toLowerCase(), path: r.match.path }),
    backend: r.backend,
    ...(r.origins && { origins: [...r.origins] }),
  }));

  const config: Config = {
    listen: {
      host: raw.listen.host,
      port: raw.listen.port,
      ...(raw.listen.tls && { tls: { cert: path(raw.listen.tls.cert), key: path(raw.listen.tls.key) } }),
    },
    admin: { ...raw.admin },
    backends,
    routes,
    heartbeat: { ...raw.heartbeat },
    timeouts: { ...raw.timeouts },
    limits: { ...raw.limits },
    shutdown: { close_code: raw.shutdown.close_code },
    trusted_proxies: [...raw.trusted_proxies],
    telemetry: telemetry(raw, opts.env, problems),
    alerts: { ...raw.alerts },
    log: { ...raw.log },
    watch: raw.watch,
    workers: raw.workers,
    monitors: raw.monitors.map(monitor),
  };
  return { config: deepFreeze(config), problems };
}

function telemetry(raw: RawConfig, env: NodeJS.ProcessEnv, problems: string[]): Config['telemetry'] {
  const t = raw.telemetry;
  const service_name = t.service_name ?? nonEmpty(env.OTEL_SERVICE_NAME) ?? serviceNameFromResource(env.OTEL_RESOURCE_ATTRIBUTES) ?? DEFAULT_SERVICE_NAME;
  let otlp: Config['telemetry']['otlp'];
  if (t.otlp !== undefined) {
    otlp = omitUndefined({
      endpoint: t.otlp.endpoint,
      interval: t.otlp.interval ?? envInterval(env, problems),
      headers: { ...t.otlp.headers },
    });
  } else if (otlpEnabledByEnv(env)) {
    otlp = { interval: envInterval(env, problems), headers: {} };
  }
  return { service_name, ...(otlp && { otlp }), prometheus: t.prometheus, close_codes: t.close_codes };
}

/** Whether the standard OTel variables ask for OTLP metrics export. */
export function otlpEnabledByEnv(env: NodeJS.ProcessEnv): boolean {
  if (nonEmpty(env.OTEL_SDK_DISABLED)?.toLowerCase() === 'true') return false;
  const exporters = nonEmpty(env.OTEL_METRICS_EXPORTER)?.split(',').map((s) => s.trim().toLowerCase());
  if (exporters !== undefined && !exporters.includes('otlp')) return false;
  return exporters !== undefined || nonEmpty(env.OTEL_EXPORTER_OTLP_ENDPOINT) !== undefined || nonEmpty(env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT) !== undefined;
}

function envInterval(env: NodeJS.ProcessEnv, problems: string[]): number {
  const v = nonEmpty(env.OTEL_METRIC_EXPORT_INTERVAL);
  if (v === undefined) return DEFAULT_OTLP_INTERVAL_MS;
  if (!/^\d+$/.test(v) || Number(v) === 0) {
    problems.push(problem('OTEL_METRIC_EXPORT_INTERVAL', `${JSON.stringify(v)} is not a positive number of milliseconds`, 'set it to e.g. 60000, unset it, or set telemetry.otlp.interval'));
    return DEFAULT_OTLP_INTERVAL_MS;
  }
  return Number(v);
}

/** `service.name` from `OTEL_RESOURCE_ATTRIBUTES` (`k=v,k2=v2`, values percent-encoded). */
function serviceNameFromResource(attrs: string | undefined): string | undefined {
  for (const pair of (attrs ?? '').split(',')) {
    const eq = pair.indexOf('=');
    if (eq > 0 && pair.slice(0, eq).trim() === 'service.name') {
      try {
        return nonEmpty(decodeURIComponent(pair.slice(eq + 1).trim()));
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

function monitor(m: RawMonitor): MonitorConfig {
  return {
    name: m.name,
    url: m.url,
    interval: m.interval,
    timeout: m.timeout,
    headers: { ...m.headers },
    subprotocols: [...m.subprotocols],
    insecure: m.insecure,
    steps: m.steps.map(step),
    assertions: m.assertions.map((a) => ({ ...a })),
  };
}

/** Steps keep their file keys; `wait` always carries `ms` (from `ms` or `duration`). */
function step(s: RawStep): MonitorStep {
  if (s.action === 'wait') return { action: 'wait', ms: s.ms ?? s.duration ?? 0 };
  return omitUndefined({ ...s }) as MonitorStep;
}

function nonEmpty(v: string | undefined): string | undefined {
  const t = v?.trim();
  return t === undefined || t === '' ? undefined : t;
}

/** Drop keys whose value is undefined, so optional fields are absent rather than present-and-undefined. */
function omitUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
