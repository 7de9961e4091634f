import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import net from 'node:net';
import { once } from 'node:events';
import { pino } from 'pino';
import type { AddressInfo } from 'node:net';
import type { Config } from '../../../src/config/types.js';
import { EventHub, type SessionInfo } from '../../../src/events.js';
import type { CoreSnapshot } from '../../../src/snapshot.js';
import { startTelemetry, type Telemetry } from '../../../src/telemetry/sdk.js';
import { LATENCY_BUCKETS, SESSION_DURATION_BUCKETS } from '../../../src/telemetry/instruments.js';
import { METRIC } from '../../../src/telemetry/names.js';
import { startOtlpReceiver, type OtlpReceiver } from '../../helpers/otlp-receiver.js';

type TelemetryConfig = Pick<Config, 'telemetry' | 'alerts'>;

function config(otlp: NonNullable<Config['telemetry']['otlp']> | undefined, closeCodes: 'exact' | 'grouped' = 'exact'): TelemetryConfig {
  return {
    telemetry: { service_name: 'wstap-it', ...(otlp ? { otlp } : {}), prometheus: false, close_codes: closeCodes },
    alerts: { window: 900_000, abnormal_close_ratio: 0.05, abnormal_disconnect_ratio: 0.02 },
  };
}

const SNAPSHOT: CoreSnapshot = {
  uptimeS: 1,
  listening: true,
  draining: false,
  activeSessions: 0,
  pendingHandshakes: 0,
  backends: [
    { pool: 'chat', id: 'chat-1', url: 'ws://a', up: true, active: 0 },
    { pool: 'chat', id: 'chat-2', url: 'ws://b', up: false, active: 0 },
  ],
  routes: [],
};

function captureLogger() {
  const lines: Array<{ level: number; msg: string; [k: string]: unknown }> = [];
  return { lines, logger: pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l)) }) };
}

const ENV_KEYS = ['OTEL_RESOURCE_ATTRIBUTES', 'OTEL_SERVICE_NAME', 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT', 'OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE'];
let savedEnv: Record<string, string | undefined>;
let rx: OtlpReceiver;
const running: Telemetry[] = [];

beforeEach(async () => {
  savedEnv = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));
  for (const k of ENV_KEYS) delete process.env[k];
  rx = await startOtlpReceiver();
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((t) => t.shutdown(2000)));
  await rx.close();
  for (const [k, v] of Object.entries(savedEnv)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

function start(cfg: TelemetryConfig, logger = captureLogger().logger): Telemetry {
  const t = startTelemetry({ config: cfg, version: '1.2.3', snapshot: () => SNAPSHOT, logger });
  running.push(t);
  return t;
}

let nextId = 1;
function traffic(hub: EventHub): void {
  const s: SessionInfo = { id: nextId++, route: 'chat', backend: 'chat-1', pool: 'chat', openedAt: 0, clientIp: '198.51.100.1' };
  hub.upgrade({ route: 'chat', backend: 'chat-1', status: 101, durationS: 0.002 });
  hub.sessionOpen(s);
  hub.message(s, 'client_to_backend', 'text', 12);
  hub.ping(s, 'backend', 0.0007);
  hub.sessionClose(s, { code: 4123, initiator: 'backend', durationS: 3, messagesC2B: 1, messagesB2C: 0 });
}

describe('OTLP/HTTP export', () => {
  it('exports every recorded metric with the resource, units, int counts and bucket boundaries', async () => {
    process.env.OTEL_RESOURCE_ATTRIBUTES = 'deployment.environment.name=it,team=edge';
    const t = start(config({ endpoint: `${rx.url}/v1/metrics`, interval: 60_000, headers: { 'x-wstap-test': 'yes' } }, 'grouped'));
    const hub = new EventHub();
    const detach = t.attach(hub);
    traffic(hub);
    t.monitors.run('chat-health', true, 0.05);
    await t.forceFlush();
    detach();

    expect(rx.requests).toHaveLength(1);
    const req = rx.requests[0]!;
    expect(req.path).toBe('/v1/metrics');
    expect(req.headers['x-wstap-test']).toBe('yes');
    expect(req.headers['content-type']).toContain('application/json');

    const rows = rx.rows();
    const resource = rows[0]!.resource;
    expect(resource).toMatchObject({
      'service.name': 'wstap-it',
      'service.version': '1.2.3',
      'deployment.environment.name': 'it',
      team: 'edge',
      'telemetry.sdk.language': 'nodejs',
    });
    expect(resource['service.instance.id']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(resource['service.instance.id']).toBe(t.instanceId);
    expect(new Set(rows.map((r) => r.scope))).toEqual(new Set(['wstap']));

    const closes = rows.filter((r) => r.name === METRIC.CLOSES);
    expect(closes).toHaveLength(1);
    expect(closes[0]).toMatchObject({
      unit: '{close}',
      kind: 'sum',
      isMonotonic: true,
      temporality: 2,
      isInt: true,
      value: 1,
      attributes: { 'wstap.route': 'chat', 'wstap.backend': 'chat-1', 'wstap.close.code': 4000, 'wstap.close.initiator': 'backend' },
    });
    const active = rows.find((r) => r.name === METRIC.CONNECTIONS_ACTIVE)!;
    expect(active).toMatchObject({ unit: '{connection}', isMonotonic: false, value: 0, isInt: true });

    const duration = rows.find((r) => r.name === METRIC.SESSION_DURATION)!;
    expect(duration).toMatchObject({ unit: 's', kind: 'histogram', count: 1, sum: 3 });
    expect(duration.explicitBounds).toEqual(SESSION_DURATION_BUCKETS);
    expect(duration.bucketCounts).toHaveLength(SESSION_DURATION_BUCKETS.length + 1);
    expect(rows.find((r) => r.name === METRIC.PING_DURATION)!.explicitBounds).toEqual(LATENCY_BUCKETS);
    expect(rows.find((r) => r.name === METRIC.PING_DURATION)!.attributes['wstap.leg']).toBe('backend');

    const up = rows.filter((r) => r.name === METRIC.BACKEND_UP).map((r) => [r.attributes['wstap.backend'], r.value, r.kind]);
    expect(up.sort()).toEqual([
      ['chat-1', 1, 'gauge'],
      ['chat-2', 0, 'gauge'],
    ]);
    expect(rows.find((r) => r.name === METRIC.MONITOR_UP)).toMatchObject({ value: 1, attributes: { 'wstap.monitor': 'chat-health' } });
    for (const r of rows) expect(r.description, `${r.name} has a description`).not.toBe('');
  });

  it('gives each process its own service.instance.id', async () => {
    const a = start(config({ endpoint: `${rx.url}/v1/metrics`, interval: 60_000, headers: {} }));
    const b = start(config({ endpoint: `${rx.url}/v1/metrics`, interval: 60_000, headers: {} }));
    expect(a.instanceId).not.toBe(b.instanceId);
  });

  it('lets OTEL_* variables choose the endpoint and temporality when the config names no endpoint', async () => {
    process.env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT = `${rx.url}/custom/metrics`;
    process.env.OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE = 'delta';
    process.env.OTEL_SERVICE_NAME = 'from-env';
    const t = start(config({ interval: 60_000, headers: {} }));
    const hub = new EventHub();
    t.attach(hub);
    traffic(hub);
    await t.forceFlush();
    expect(rx.requests.map((r) => r.path)).toEqual(['/custom/metrics']);
    const rows = rx.rows();
    expect(rows[0]!.resource['service.name']).toBe('from-env');
    expect(rows.find((r) => r.name === METRIC.CLOSES)!.temporality).toBe(1); // delta
    expect(rows.find((r) => r.name === METRIC.CONNECTIONS_ACTIVE)!.temporality).toBe(2); // UpDownCounters stay cumulative
  });

  it('logs an export failure once, then the recovery once', async () => {
    const { logger, lines } = captureLogger();
    const t = start(config({ endpoint: `${rx.url}/v1/metrics`, interval: 60_000, headers: {} }), logger);
    const hub = new EventHub();
    t.attach(hub);
    traffic(hub);
    rx.respondWith(400); // not retryable: each flush fails at once
    await t.forceFlush();
    await t.forceFlush();
    await t.forceFlush();
    const exportLines = () => lines.filter((l) => String(l.msg).startsWith('metrics export'));
    expect(exportLines().map((l) => l.msg)).toEqual(['metrics export failed; further failures are not logged until an export succeeds']);
    expect(exportLines()[0]).toMatchObject({ level: 40, component: 'telemetry', target: `${rx.url}/v1/metrics` });
    rx.respondWith(200);
    await t.forceFlush();
    expect(exportLines().map((l) => l.msg)).toEqual([
      'metrics export failed; further failures are not logged until an export succeeds',
      'metrics export recovered',
    ]);
    expect(rx.requests).toHaveLength(1);
  });

  it('flushes what was recorded since the last export on shutdown', async () => {
    const t = start(config({ endpoint: `${rx.url}/v1/metrics`, interval: 60_000, headers: {} }));
    const hub = new EventHub();
    t.attach(hub);
    traffic(hub);
    await t.forceFlush();
    traffic(hub);
    await t.shutdown(3000);
    expect(rx.requests).toHaveLength(2);
    expect(rx.latest(METRIC.CONNECTIONS)[0]!.value).toBe(2);
    await t.shutdown(); // idempotent
  });

  it('bounds shutdown when the collector never answers', async () => {
    const sockets = new Set<net.Socket>();
    const blackhole = net.createServer((s) => {
      sockets.add(s);
      s.on('error', () => {});
    });
    blackhole.listen(0, '127.0.0.1');
    await once(blackhole, 'listening');
    const port = (blackhole.address() as AddressInfo).port;
    try {
      const { logger, lines } = captureLogger();
      const t = start(config({ endpoint: `http://127.0.0.1:${port}/v1/metrics`, interval: 60_000, headers: {} }), logger);
      const hub = new EventHub();
      t.attach(hub);
      traffic(hub);
      const started = Date.now();
      await t.shutdown(300);
      expect(Date.now() - started).toBeLessThan(1500);
      expect(lines.some((l) => l.msg === 'final metrics flush did not finish in time; giving up')).toBe(true);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => blackhole.close(() => r()));
    }
  });
});
