/**
 * The known traffic of traffic.test.ts, read back by a real Prometheus server (the Debian
 * `prometheus` package, which CI installs) scraping the App's admin `/metrics` every 200 ms,
 * and by PromQL over what it stored. Missing binary → the tests fail with the install hint.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../helpers/proxy.js';
import { expectKnownExposition, KNOWN_CLOSES } from '../../helpers/expect-known.js';
import { requirePrometheus, startPrometheus, type PrometheusServer } from '../../helpers/prometheus-server.js';
import { KNOWN, ROUTE, SERVER, get, runKnownTraffic, scriptedBackend, startTappedApp, trafficConfig, type TappedApp } from '../../helpers/traffic.js';

describe('known traffic through wstap, scraped by a real Prometheus server', () => {
  let backend: Backend | undefined;
  let t: TappedApp | undefined;
  let prom: PrometheusServer | undefined;
  let trafficDoneAt = 0;
  // A set-up failure (no prometheus binary above all) must fail every test, not skip them.
  let setupError: unknown;
  const ready = () => {
    if (setupError !== undefined) throw setupError;
    return { t: t!, prom: prom! };
  };

  beforeAll(async () => {
    try {
      await setUp();
    } catch (err) {
      setupError = err;
    }
  }, 30_000);

  async function setUp(): Promise<void> {
    requirePrometheus();
    backend = await scriptedBackend();
    t = await startTappedApp(trafficConfig(backend.url));
    const app = t;
    // Prometheus starts while the traffic runs (its first scrape comes ≈5 s after start: target
    // discovery is batched on a 5 s tick); only a scrape that starts after the traffic counts.
    const [started, traffic] = await Promise.allSettled([
      startPrometheus({ targets: [new URL(app.adminUrl).host], intervalMs: 200 }),
      runKnownTraffic(app.proxyUrl, app.log).then(() => void (trafficDoneAt = Date.now())),
    ]);
    if (started.status === 'rejected') throw started.reason;
    prom = started.value; // stopped in afterAll whatever happens next
    if (traffic.status === 'rejected') throw traffic.reason;
    await prom.waitForScrape(trafficDoneAt);
  }

  afterAll(async () => {
    await prom?.stop();
    await t?.close();
    await backend?.close();
  });

  it('/metrics gives the exact numbers', async () => {
    const { t } = ready();
    const res = await get(`${t.adminUrl}/metrics`);
    expect(res.status).toBe(200);
    expectKnownExposition(res.text, t.log);
  });

  it('Prometheus scraped the admin /metrics successfully', async () => {
    const { t, prom } = ready();
    const targets = await prom.targets();
    expect(targets).toEqual([expect.objectContaining({ scrapeUrl: `${t.adminUrl}/metrics`, health: 'up', lastError: '' })]);
    const up = await prom.query('up{job="wstap"}');
    expect(up.map((s) => s.value)).toEqual([1]);
  });

  it('PromQL: 17 messages client → backend (12 text, 5 binary), 15 backend → client', async () => {
    const { t, prom } = ready();
    const one = async (q: string) => {
      const r = await prom.query(q);
      expect(r, q).toHaveLength(1);
      return r[0]!.value;
    };
    expect(await one('sum(wstap_messages_total{wstap_direction="client_to_backend"})')).toBe(KNOWN.c2b.total);
    expect(await one('sum(wstap_messages_total{wstap_direction="backend_to_client"})')).toBe(KNOWN.b2c.total);
    const byType = await prom.query('sum by (wstap_direction, wstap_message_type) (wstap_messages_total)');
    expect(Object.fromEntries(byType.map((s) => [`${s.metric.wstap_direction}/${s.metric.wstap_message_type}`, s.value]))).toEqual({
      'client_to_backend/text': KNOWN.c2b.text,
      'client_to_backend/binary': KNOWN.c2b.binary,
      'backend_to_client/text': KNOWN.b2c.text,
      'backend_to_client/binary': KNOWN.b2c.binary,
    });
    expect(await one(`sum(wstap_connections_total{wstap_route="${ROUTE}",wstap_backend="${SERVER}"})`)).toBe(KNOWN.sessions);
    expect(await one('sum(wstap_connections_active)')).toBe(0);
    expect(await one('sum(wstap_upgrades_total{http_response_status_code="101"})')).toBe(KNOWN.sessions);
    expect(await one('sum(wstap_session_duration_count)')).toBe(KNOWN.sessions);
    expect(await one('sum(wstap_io_total{wstap_direction="client_to_backend"})')).toBe(t.log.wire.client_to_backend);
    expect(await one('sum(wstap_io_total{wstap_direction="backend_to_client"})')).toBe(t.log.wire.backend_to_client);
  });

  it('PromQL: one close each of (4001, client), (4002, backend), (1006, backend)', async () => {
    const { prom } = ready();
    const r = await prom.query('sum by (wstap_close_code, wstap_close_initiator) (wstap_closes_total)');
    expect(Object.fromEntries(r.map((s) => [`${s.metric.wstap_close_code}/${s.metric.wstap_close_initiator}`, s.value]))).toEqual(KNOWN_CLOSES);
    expect(r.every((s) => Object.keys(s.metric).length === 2)).toBe(true);
  });
});
