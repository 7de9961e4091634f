/**
 * Scrapes the real `/metrics` of the admin server fed by the telemetry's Prometheus reader:
 * the exposition names are what config/prometheus-alerts.yaml and the dashboard rely on.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { families, scrapeOnce, type Scrape } from './scrape.js';

let scrape: Scrape;
beforeAll(async () => {
  scrape = await scrapeOnce();
  if (process.env.DUMP_EXPOSITION) console.log(scrape.text);
});

describe('Prometheus /metrics', () => {
  it('serves the text exposition format', () => {
    expect(scrape.status).toBe(200);
    expect(scrape.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
  });

  it('names every SPEC metric with the type Prometheus expects', () => {
    const types = Object.fromEntries([...families(scrape.text)].map(([name, f]) => [name, f.type]));
    expect(types).toMatchObject({
      wstap_connections_active: 'gauge',
      wstap_connections_total: 'counter',
      wstap_session_duration: 'histogram',
      wstap_session_messages: 'histogram',
      wstap_messages_total: 'counter',
      wstap_message_size: 'histogram',
      wstap_io_total: 'counter',
      wstap_closes_total: 'counter',
      wstap_upgrades_total: 'counter',
      wstap_handshake_duration: 'histogram',
      wstap_ping_duration: 'histogram',
      wstap_ping_timeouts_total: 'counter',
      wstap_errors_total: 'counter',
      wstap_protocol_violations_total: 'counter',
      wstap_backend_up: 'gauge',
      wstap_backend_selections_total: 'counter',
      wstap_monitor_up: 'gauge',
      wstap_monitor_duration: 'histogram',
      wstap_monitor_step_duration: 'histogram',
    });
  });

  it('carries the attributes as labels with dots turned into underscores', () => {
    const t = scrape.text;
    expect(t).toMatch(
      /^wstap_closes_total\{[^}]*wstap_route="chat",wstap_backend="chat-1",wstap_close_code="1006",wstap_close_initiator="backend"[^}]*\} 1$/m,
    );
    expect(t).toMatch(/^wstap_connections_active\{[^}]*wstap_backend="chat-1"[^}]*\} 1$/m);
    expect(t).toMatch(/^wstap_session_duration_bucket\{[^}]*le="86400"\} 1$/m);
    expect(t).toMatch(/^wstap_ping_duration_bucket\{[^}]*wstap_leg="client"[^}]*le="0.0005"\} 1$/m);
    expect(t).toMatch(/^wstap_message_size_bucket\{[^}]*le="67108864"\} 1$/m);
    expect(t).toMatch(/^wstap_upgrades_total\{[^}]*http_response_status_code="503",error_type="no_backend"[^}]*\} 1$/m);
    expect(t).toMatch(/^wstap_backend_up\{[^}]*wstap_backend="chat-1"[^}]*\} 1$/m);
    expect(t).toMatch(/^wstap_backend_selections_total\{[^}]*wstap_affinity="none"[^}]*\} 1$/m);
    expect(t).toMatch(/^wstap_monitor_step_duration_count\{[^}]*wstap_monitor="chat-health",wstap_monitor_step="connect"[^}]*\} 1$/m);
    expect(t).toMatch(/^target_info\{[^}]*service_name="wstap",service_version="0.0.0-test",service_instance_id="[0-9a-f-]{36}"/m);
  });

  it('never exposes client addresses', () => {
    expect(scrape.text).not.toContain('::1');
  });
});
