/**
 * Frame-level telemetry end to end: real traffic through a real running wstap App (proxy,
 * telemetry and admin server from `App.start`), with the numbers read back from the core's own
 * events, from `/metrics`, from an OTLP/HTTP export, and from `/status` / `wstap status`.
 * Every wait is on an event (the App's hub, a client close, the OTLP receiver); nothing sleeps.
 * The same traffic read back through a real Prometheus server is in prometheus-server.test.ts.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { statusCommand } from '../../../src/commands/status.js';
import { VERSION } from '../../../src/version.js';
import type { StatusDocument } from '../../../src/admin/status.js';
import { closed, connect, type Backend } from '../../helpers/proxy.js';
import { startOtlpReceiver, type OtlpReceiver } from '../../helpers/otlp-receiver.js';
import { parseExposition, select, sumBy, total } from '../../helpers/exposition.js';
import { expectKnownExposition, expectKnownOtlp, latestExport } from '../../helpers/expect-known.js';
import {
  KNOWN,
  ROUTE,
  SERVER,
  captureIO,
  freePort,
  get,
  roundTrip,
  runCloses,
  runKnownTraffic,
  scriptedBackend,
  startTappedApp,
  trafficConfig,
  type ClientView,
  type TappedApp,
} from '../../helpers/traffic.js';

const C2B = 'client_to_backend';
const B2C = 'backend_to_client';

async function status(adminUrl: string): Promise<StatusDocument> {
  const res = await get(`${adminUrl}/status`);
  expect(res.status).toBe(200);
  return JSON.parse(res.text) as StatusDocument;
}

describe('known traffic through a running App', () => {
  let rx: OtlpReceiver;
  let backend: Backend;
  let t: TappedApp;
  let view: ClientView;
  let statusBefore: StatusDocument;
  /** Wall time of the whole traffic, seconds: no session can have lasted longer. */
  let trafficS: number;
  // The SDK reads these from the process environment: keep the resource and the temporality ours.
  const ENV_KEYS = ['OTEL_RESOURCE_ATTRIBUTES', 'OTEL_SERVICE_NAME', 'OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE'];
  const savedEnv = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));

  beforeAll(async () => {
    for (const k of ENV_KEYS) delete process.env[k];
    rx = await startOtlpReceiver();
    backend = await scriptedBackend();
    t = await startTappedApp(
      trafficConfig(backend.url, {
        telemetry: { service_name: 'wstap-e2e', otlp: { endpoint: `${rx.url}/v1/metrics`, interval: 200 } },
      }),
    );
    statusBefore = await status(t.adminUrl);
    const started = performance.now();
    view = await runKnownTraffic(t.proxyUrl, t.log);
    trafficS = (performance.now() - started) / 1000;
    // Export now: the next collection is after every close.
    await t.app.telemetry.forceFlush();
  });

  afterAll(async () => {
    await t?.close();
    await backend?.close();
    await rx?.close();
    for (const [k, v] of Object.entries(savedEnv)) if (v !== undefined) process.env[k] = v;
  });

  it('accepts telemetry.otlp { endpoint, interval: 200 } from the config and exports on that interval', async () => {
    expect(t.app.config.telemetry.otlp).toMatchObject({ endpoint: `${rx.url}/v1/metrics`, interval: 200 });
    expect(t.app.config.telemetry.prometheus).toBe(true);
    // Beyond the forced flush, periodic exports arrive every 200 ms (not the 60 s default).
    const n = rx.requests.length;
    await rx.waitFor((r) => r.length >= n + 2, 2000);
  });

  it('the clients and the core see exactly the known traffic', () => {
    expect(view).toEqual(KNOWN.client);
    const log = t.log;
    expect(log.upgrades.map((u) => u.status)).toEqual([101, 101, 101]);
    expect(log.opened).toHaveLength(KNOWN.sessions);
    expect({
      c2b: log.count(C2B),
      c2bText: log.count(C2B, 'text'),
      c2bBinary: log.count(C2B, 'binary'),
      b2c: log.count(B2C),
      b2cText: log.count(B2C, 'text'),
      b2cBinary: log.count(B2C, 'binary'),
    }).toEqual({ c2b: 17, c2bText: 12, c2bBinary: 5, b2c: 15, b2cText: 10, b2cBinary: 5 });
    expect(log.closes.map(({ e }) => ({ code: e.code, initiator: e.initiator }))).toEqual(KNOWN.closes);
    expect(log.closes.map(({ e }) => e.messagesC2B + e.messagesB2C)).toEqual(KNOWN.perSession);
    expect(log.payloadBytes(C2B)).toBe(KNOWN.payload.client_to_backend);
    expect(log.payloadBytes(B2C)).toBe(KNOWN.payload.backend_to_client);
    expect(log.wire.client_to_backend).toBeGreaterThan(0);
    expect(log.wire.backend_to_client).toBeGreaterThan(0);
    expect(t.app.proxy.activeSessions).toBe(0);
  });

  it('/metrics gives the exact numbers', async () => {
    const res = await get(`${t.adminUrl}/metrics`);
    expect(res.status).toBe(200);
    expect(res.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    const samples = expectKnownExposition(res.text, t.log);
    // Durations are seconds: their sum is positive and within the traffic's wall time.
    expect(total(samples, 'wstap_session_duration_sum')).toBeGreaterThan(0);
    expect(total(samples, 'wstap_session_duration_sum')).toBeLessThanOrEqual(trafficS);
    expect(total(samples, 'wstap_handshake_duration_sum')).toBeLessThanOrEqual(trafficS);
    expect(res.text).toMatch(
      new RegExp(`^target_info\\{[^}]*service_name="wstap-e2e",service_version="${VERSION.replace(/\./g, '\\.')}",service_instance_id="${t.app.telemetry.instanceId}"`, 'm'),
    );
  });

  it('an OTLP/HTTP export gives the same numbers, with SPEC attribute names and the resource', () => {
    expect(rx.requests.length).toBeGreaterThan(0);
    expect(rx.requests.every((r) => r.path === '/v1/metrics')).toBe(true);
    const points = latestExport(rx);
    expectKnownOtlp(points, t.log);
    const durationSum = points.filter((p) => p.name === 'wstap.session.duration').reduce((a, p) => a + p.sum!, 0);
    expect(durationSum).toBeGreaterThan(0);
    expect(durationSum).toBeLessThanOrEqual(trafficS);

    const resource = points[0]!.resource;
    expect(resource).toMatchObject({ 'service.name': 'wstap-e2e', 'service.version': VERSION });
    expect(resource['service.instance.id']).toBe(t.app.telemetry.instanceId);
    expect(resource['service.instance.id']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(new Set(points.map((p) => JSON.stringify(p.resource))).size).toBe(1);
    // Only SPEC §5 keys, never a client address, path or close reason.
    const keys = new Set(points.flatMap((p) => Object.keys(p.attributes)));
    for (const k of keys) {
      expect(['wstap.route', 'wstap.backend', 'wstap.direction', 'wstap.message.type', 'wstap.close.code', 'wstap.close.initiator', 'wstap.affinity', 'http.response.status_code']).toContain(k);
    }
  });

  it('/status shows the close-code distribution of the traffic', async () => {
    expect(statusBefore).toMatchObject({ status: 'no_data', total_closes: 0, alerts: [] });
    const doc = await status(t.adminUrl);
    expect(doc).toMatchObject({
      status: 'alert',
      total_closes: 3,
      abnormal_closes: 1,
      disconnects_1006: 1,
      codes: { 4001: 1, 4002: 1, 1006: 1 },
      by_initiator: { client: { 4001: 1 }, backend: { 4002: 1, 1006: 1 }, proxy: {} },
      active_sessions: 0,
      backends: [{ pool: 'chat', id: SERVER, up: true, active_sessions: 0 }],
    });
    expect(doc.messages.client_to_backend.messages).toBe(KNOWN.c2b.total);
    expect(doc.messages.backend_to_client.messages).toBe(KNOWN.b2c.total);
  });
});

describe('/status and `wstap status`', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function start(): Promise<TappedApp> {
    const backend = await scriptedBackend();
    cleanups.push(() => backend.close());
    const t = await startTappedApp(trafficConfig(backend.url, { telemetry: { prometheus: false } }));
    cleanups.push(() => t.close());
    return t;
  }

  it('no_data before any close, then alert with one drop in three closes (exit 0, then 1)', async () => {
    const t = await start();
    expect(await status(t.adminUrl)).toMatchObject({ status: 'no_data', total_closes: 0, abnormal_rate: 0, alerts: [] });
    const io0 = captureIO();
    expect(await statusCommand(['--admin', t.adminUrl], io0)).toBe(0);
    expect(io0.out()).toContain('wstap status: NO DATA');

    await runCloses(t.proxyUrl, t.log, 2, 1);
    expect(t.log.closes.map(({ e }) => `${e.code}/${e.initiator}`)).toEqual(['1000/client', '1000/client', '1006/backend']);

    const doc = await status(t.adminUrl);
    expect(doc).toMatchObject({
      status: 'alert',
      total_closes: 3,
      abnormal_closes: 1,
      disconnects_1006: 1,
      codes: { 1000: 2, 1006: 1 },
      thresholds: { abnormal_close_ratio: 0.05, abnormal_disconnect_ratio: 0.02 },
    });
    expect(doc.abnormal_rate).toBeCloseTo(1 / 3, 10);
    expect(doc.disconnect_rate).toBeCloseTo(1 / 3, 10);
    // 1/3 > 5 % (abnormal closes) and 1/3 > 2 % (1006 disconnects): both rules fire.
    expect(doc.alerts.map((a) => a.rule)).toEqual(['abnormal_close_ratio', 'abnormal_disconnect_ratio']);
    expect(doc.alerts[0]!.message).toContain('33% of 3 closes');
    expect(doc.alerts[1]!.message).toContain('33% of 3 closes');

    const io1 = captureIO();
    expect(await statusCommand(['--admin', t.adminUrl], io1)).toBe(1);
    expect(io1.out()).toContain('wstap status: ALERT');
    expect(io1.out()).toContain('abnormal_close_ratio');
    expect(io1.out()).toContain('abnormal_disconnect_ratio');
    expect(io1.err()).toBe('');
  });

  it('healthy with three normal closes (exit 0)', async () => {
    const t = await start();
    await runCloses(t.proxyUrl, t.log, 3);
    expect(await status(t.adminUrl)).toMatchObject({ status: 'healthy', total_closes: 3, abnormal_closes: 0, alerts: [], codes: { 1000: 3 } });
    const io = captureIO();
    expect(await statusCommand(['--admin', t.adminUrl], io)).toBe(0);
    expect(io.out()).toContain('wstap status: HEALTHY');
  });

  it('unreachable admin server (a closed port): exit 2 on stderr', async () => {
    const port = await freePort();
    const io = captureIO();
    expect(await statusCommand(['--admin', `http://127.0.0.1:${port}`, '--timeout', '2000'], io)).toBe(2);
    expect(io.err()).toContain('wstap status: UNREACHABLE');
    expect(io.out()).toBe('');
  });
});

describe('counters while a session is open', () => {
  let backend: Backend | undefined;
  let t: TappedApp | undefined;
  afterEach(async () => {
    await t?.close();
    await backend?.close();
    t = backend = undefined;
  });

  it('/metrics shows messages of an open session and one active connection', async () => {
    backend = await scriptedBackend();
    t = await startTappedApp(trafficConfig(backend.url));
    const ws = await connect(`${t.proxyUrl}/chat/live`);
    for (const m of ['one', 'two', 'three']) await roundTrip(ws, m);
    const log = t.log;
    await log.waitFor(() => log.count(C2B) === 3 && log.count(B2C) === 3, '3 messages each way');

    const pair = { wstap_route: ROUTE, wstap_backend: SERVER };
    const open = parseExposition((await get(`${t.adminUrl}/metrics`)).text);
    expect(total(open, 'wstap_messages_total', { ...pair, wstap_direction: C2B, wstap_message_type: 'text' })).toBe(3);
    expect(total(open, 'wstap_messages_total', { ...pair, wstap_direction: B2C, wstap_message_type: 'text' })).toBe(3);
    expect(select(open, 'wstap_connections_active', pair).map((s) => s.value)).toEqual([1]);
    expect(total(open, 'wstap_connections_total', pair)).toBe(1);
    expect(total(open, 'wstap_io_total', { ...pair, wstap_direction: C2B })).toBe(log.wire.client_to_backend);
    expect(select(open, 'wstap_closes_total')).toEqual([]);
    expect(await status(t.adminUrl)).toMatchObject({ active_sessions: 1, backends: [{ id: SERVER, active_sessions: 1 }] });

    const done = closed(ws);
    ws.close(1000);
    expect((await done).code).toBe(1000);
    await log.closed(1);
    const after = parseExposition((await get(`${t.adminUrl}/metrics`)).text);
    expect(select(after, 'wstap_connections_active', pair).map((s) => s.value)).toEqual([0]);
    expect(sumBy(after, 'wstap_closes_total', ['wstap_close_code', 'wstap_close_initiator'])).toEqual({ '1000/client': 1 });
    expect(total(after, 'wstap_messages_total', { wstap_direction: C2B })).toBe(3);
  });
});
