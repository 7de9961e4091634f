/**
 * Shared by the Prometheus tests: run the real telemetry pipeline behind the real admin server,
 * publish one of every event, scrape `/metrics` once, and derive the metric names both
 * Prometheus paths produce (wstap's own exposition, and an OTel Collector's Prometheus exporter,
 * which appends unit suffixes).
 */
import { silentLogger } from '../../../src/log.js';
import { EventHub, type SessionInfo } from '../../../src/events.js';
import type { CoreSnapshot } from '../../../src/snapshot.js';
import { startTelemetry } from '../../../src/telemetry/sdk.js';
import { createAdminServer } from '../../../src/admin/server.js';

export const SNAPSHOT: CoreSnapshot = {
  uptimeS: 5,
  listening: true,
  draining: false,
  activeSessions: 1,
  pendingHandshakes: 0,
  backends: [{ pool: 'chat', id: 'chat-1', url: 'ws://a', up: true, active: 1 }],
  routes: [{ name: 'chat', pool: 'chat', healthy: true }],
};

/** One scrape of /metrics after one of every event. */
export interface Scrape {
  readonly status: number;
  readonly contentType: string | null;
  readonly text: string;
}

/** Start telemetry + admin server, publish traffic, scrape once, close everything. */
export async function scrapeOnce(): Promise<Scrape> {
  const telemetry = startTelemetry({
    config: {
      telemetry: { service_name: 'wstap', prometheus: true, close_codes: 'exact' },
      alerts: { window: 900_000, abnormal_close_ratio: 0.05, abnormal_disconnect_ratio: 0.02 },
    },
    version: '0.0.0-test',
    snapshot: () => SNAPSHOT,
    logger: silentLogger(),
  });
  const admin = createAdminServer({
    host: '127.0.0.1',
    port: 0,
    snapshot: () => SNAPSHOT,
    statusReport: () => telemetry.statusWindow.report(),
    ...(telemetry.prometheusHandler ? { metrics: telemetry.prometheusHandler } : {}),
    logger: silentLogger(),
  });
  try {
    const { port } = await admin.listen();
    const hub = new EventHub();
    telemetry.attach(hub);
    // The core passes the same SessionInfo object to every hook of a session.
    const sessions = [1, 2, 3].map((id): SessionInfo => ({ id, route: 'chat', backend: 'chat-1', pool: 'chat', openedAt: 0, clientIp: '::1' }));
    const s = (id: number): SessionInfo => sessions[id - 1]!;
    hub.upgrade({ route: 'chat', backend: 'chat-1', status: 101, durationS: 0.001 });
    hub.upgrade({ status: 503, errorType: 'no_backend', route: 'chat', durationS: 0.0002 });
    for (let i = 1; i <= 3; i++) hub.sessionOpen(s(i));
    hub.message(s(1), 'client_to_backend', 'text', 10);
    hub.bytes(s(1), 'client_to_backend', 16);
    hub.ping(s(1), 'client', 0.0003);
    hub.pingTimeout(s(1), 'backend');
    hub.error('chat', 'chat-1', 'heartbeat_timeout');
    hub.violation('backend_to_client', 'masked_frame');
    telemetry.recorder.selection('chat', 'chat-1', 'none');
    telemetry.monitors.run('chat-health', true, 0.2);
    telemetry.monitors.step('chat-health', 'connect', 0.01);
    hub.sessionClose(s(1), { code: 1000, initiator: 'client', durationS: 2, messagesC2B: 1, messagesB2C: 0 });
    hub.sessionClose(s(2), { code: 1006, initiator: 'backend', durationS: 0.5, messagesC2B: 0, messagesB2C: 0 });
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    return { status: res.status, contentType: res.headers.get('content-type'), text: await res.text() };
  } finally {
    await admin.close();
    await telemetry.shutdown(1000);
  }
}

/** Metric families of an exposition: name → { type, unit }. */
export function families(text: string): Map<string, { type: string; unit: string }> {
  const out = new Map<string, { type: string; unit: string }>();
  for (const m of text.matchAll(/^# (TYPE|UNIT) (\S+) (\S+)$/gm)) {
    const entry = out.get(m[2]!) ?? { type: '', unit: '' };
    if (m[1] === 'TYPE') entry.type = m[3]!;
    else entry.unit = m[3]!;
    out.set(m[2]!, entry);
  }
  return out;
}

/** Every sample name of an exposition (histograms give `_bucket`, `_sum`, `_count`). */
export function sampleNames(text: string): Set<string> {
  return new Set([...text.matchAll(/^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/gm)].map((m) => m[1]!));
}

/**
 * The sample names the OpenTelemetry Collector's Prometheus exporter would give the same
 * metrics (`add_metric_suffixes: true`, its default): `s` → `_seconds`, `By` → `_bytes`,
 * `1` on a gauge → `_ratio`; curly-brace annotation units add nothing.
 */
export function collectorSampleNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const [name, { type, unit }] of families(text)) {
    if (!name.startsWith('wstap_')) continue;
    const base = type === 'counter' ? name.replace(/_total$/, '') : name;
    const suffix = unit === 's' ? '_seconds' : unit === 'By' ? '_bytes' : unit === '1' && type === 'gauge' ? '_ratio' : '';
    const full = base.endsWith(suffix) ? base : base + suffix;
    if (type === 'counter') names.add(`${full}_total`);
    else if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(full + s);
    else names.add(full);
  }
  return names;
}

/**
 * The metric selectors of a PromQL expression, as predicates over sample names: plain names
 * match themselves, `{__name__=~"re"}` matches the anchored regex.
 */
export function selectors(expr: string): Array<{ text: string; matches: (name: string) => boolean }> {
  const out: Array<{ text: string; matches: (name: string) => boolean }> = [];
  const rest = expr.replace(/__name__=~"([^"]+)"/g, (_m, re: string) => {
    const rx = new RegExp(`^(?:${re})$`);
    out.push({ text: re, matches: (n) => rx.test(n) });
    return '';
  });
  // What is left between braces and in by()/on() clauses are label names, not metrics.
  const metricsOnly = rest
    .replace(/"[^"]*"/g, '')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
  for (const name of metricsOnly.match(/\bwstap_[a-z_]+/g) ?? []) out.push({ text: name, matches: (n) => n === name });
  return out;
}
