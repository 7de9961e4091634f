import { describe, expect, it } from 'vitest';
import { EventHub, type Initiator, type SessionInfo } from '../../../src/events.js';
import { BUCKETS, MAX_CODES, StatusWindow, formatWindow } from '../../../src/telemetry/status-window.js';
import type { CloseCodeMode } from '../../../src/telemetry/close-codes.js';

const WINDOW = 15 * 60_000;

function setup(closeCodes: CloseCodeMode = 'exact', start = 1_000_000) {
  let now = start;
  const clock = {
    advance: (ms: number) => {
      now += ms;
    },
  };
  const window = new StatusWindow({
    windowMs: WINDOW,
    abnormalCloseRatio: 0.05,
    abnormalDisconnectRatio: 0.02,
    closeCodes,
    now: () => now,
  });
  const hub = new EventHub();
  hub.subscribe(window);
  const s: SessionInfo = { id: 1, route: 'chat', backend: 'chat-1', pool: 'chat', openedAt: 0, clientIp: '127.0.0.1' };
  const close = (code: number, initiator: Initiator = 'client') =>
    hub.sessionClose(s, { code, initiator, durationS: 1, messagesC2B: 0, messagesB2C: 0 });
  return { window, hub, s, close, clock };
}

describe('StatusWindow close-code health', () => {
  it('reports no_data when nothing closed', () => {
    const { window } = setup();
    const r = window.evaluate();
    expect(r.status).toBe('no_data');
    expect(r.total_closes).toBe(0);
    expect(r.abnormal_rate).toBe(0);
    expect(r.alerts).toEqual([]);
    expect(r.codes).toEqual({});
    expect(r.window_s).toBe(900);
  });

  it('is healthy with only normal closes', () => {
    const { window, close } = setup();
    close(1000);
    close(1001, 'backend');
    close(1000, 'proxy');
    const r = window.evaluate();
    expect(r.status).toBe('healthy');
    expect(r.total_closes).toBe(3);
    expect(r.abnormal_closes).toBe(0);
    expect(r.alerts).toEqual([]);
    expect(r.codes).toEqual({ '1000': 2, '1001': 1 });
    expect(r.by_initiator).toEqual({ client: { '1000': 1 }, backend: { '1001': 1 }, proxy: { '1000': 1 } });
  });

  it('raises both alerts with one 1006 in three closes', () => {
    const { window, close } = setup();
    close(1000);
    close(1000);
    close(1006, 'backend');
    const r = window.evaluate();
    expect(r.status).toBe('alert');
    expect(r.abnormal_closes).toBe(1);
    expect(r.abnormal_rate).toBeCloseTo(1 / 3, 10);
    expect(r.disconnects_1006).toBe(1);
    expect(r.disconnect_rate).toBeCloseTo(1 / 3, 10);
    expect(r.alerts.map((a) => a.rule)).toEqual(['abnormal_close_ratio', 'abnormal_disconnect_ratio']);
    expect(r.alerts[0]).toMatchObject({ threshold: 0.05 });
    expect(r.alerts[0]!.value).toBeCloseTo(1 / 3, 10);
    expect(r.alerts[0]!.message).toBe('33% of 3 closes in the last 15m were abnormal (1006/1011/1012/1013); threshold 5%');
    expect(r.alerts[1]!.message).toContain('ended without a close frame (1006); threshold 2%');
    expect(r.by_initiator.backend).toEqual({ '1006': 1 });
  });

  it.each([1011, 1012, 1013])('counts %i as abnormal but not as a 1006 disconnect', (code) => {
    const { window, close } = setup();
    close(1000);
    close(1000);
    close(code, 'backend');
    const r = window.evaluate();
    expect(r.status).toBe('alert');
    expect(r.alerts.map((a) => a.rule)).toEqual(['abnormal_close_ratio']);
    expect(r.disconnects_1006).toBe(0);
  });

  it('stays healthy exactly at the threshold (the rule is "more than")', () => {
    const { window, close } = setup();
    for (let i = 0; i < 19; i++) close(1000);
    close(1011); // 1 in 20 = 5 %
    expect(window.evaluate().status).toBe('healthy');
  });

  it('forgets closes older than the window as the clock advances', () => {
    const { window, close, clock } = setup();
    close(1006);
    clock.advance(WINDOW / 2);
    close(1000);
    expect(window.evaluate().total_closes).toBe(2);
    clock.advance(WINDOW / 2 + WINDOW / BUCKETS);
    const r = window.evaluate();
    expect(r.total_closes).toBe(1);
    expect(r.codes).toEqual({ '1000': 1 });
    expect(r.status).toBe('healthy');
    clock.advance(WINDOW);
    expect(window.evaluate().status).toBe('no_data');
  });

  it('reuses a bucket after a full turn without mixing in the old counts', () => {
    const { window, close, clock } = setup();
    close(1006);
    clock.advance(WINDOW); // same ring slot, next turn
    close(1000);
    expect(window.evaluate().codes).toEqual({ '1000': 1 });
  });

  it('groups application codes like the metrics, and bounds distinct codes per bucket', () => {
    const grouped = setup('grouped');
    grouped.close(3001);
    grouped.close(4999);
    grouped.close(2500);
    expect(grouped.window.evaluate().codes).toEqual({ '0': 1, '3000': 1, '4000': 1 });

    const exact = setup('exact');
    for (let c = 4000; c < 4100; c++) exact.close(c);
    const r = exact.window.evaluate();
    expect(r.total_closes).toBe(100);
    expect(Object.keys(r.codes).length).toBe(MAX_CODES + 1);
    expect(r.codes['0']).toBe(100 - MAX_CODES);
  });

  it('applies new thresholds on reconfigure and restarts history when the window changes', () => {
    const { window, close } = setup();
    close(1000);
    close(1000);
    close(1006);
    window.reconfigure({ windowMs: WINDOW, abnormalCloseRatio: 0.5, abnormalDisconnectRatio: 0.5, closeCodes: 'exact' });
    expect(window.evaluate().status).toBe('healthy');
    window.reconfigure({ windowMs: WINDOW * 2, abnormalCloseRatio: 0.5, abnormalDisconnectRatio: 0.5 });
    expect(window.evaluate().status).toBe('no_data');
    expect(window.evaluate().window_s).toBe(1800);
  });
});

describe('StatusWindow ping percentiles', () => {
  it('gives p50/p95/p99 per leg within the bin error', () => {
    const { window, hub, s } = setup();
    for (let ms = 1; ms <= 100; ms++) hub.ping(s, 'client', ms / 1000);
    hub.ping(s, 'backend', 0.0005);
    hub.pingTimeout(s, 'backend');
    const r = window.pingPercentiles();
    expect(r.client.count).toBe(100);
    expect(r.client.p50_ms! / 50).toBeGreaterThan(0.95);
    expect(r.client.p50_ms! / 50).toBeLessThan(1.05);
    expect(r.client.p95_ms! / 95).toBeGreaterThan(0.95);
    expect(r.client.p95_ms! / 95).toBeLessThan(1.05);
    expect(r.client.p99_ms! / 99).toBeGreaterThan(0.95);
    expect(r.client.p99_ms! / 99).toBeLessThan(1.05);
    expect(r.backend).toMatchObject({ count: 1, timeouts: 1 });
    expect(r.backend.p50_ms! / 0.5).toBeCloseTo(1, 1);
  });

  it('reports null percentiles without samples and forgets old pings', () => {
    const { window, hub, s, clock } = setup();
    expect(window.pingPercentiles().client).toEqual({ count: 0, timeouts: 0, p50_ms: null, p95_ms: null, p99_ms: null });
    for (let i = 0; i < 10_000; i++) hub.ping(s, 'client', 0.001);
    expect(window.pingPercentiles().client.count).toBe(10_000);
    clock.advance(WINDOW + 1);
    expect(window.pingPercentiles().client.count).toBe(0);
  });
});

describe('StatusWindow message rates', () => {
  it('gives messages per second per direction over the last minute', () => {
    const { window, hub, s, clock } = setup();
    clock.advance(120_000); // running for two minutes: the span is a full minute
    for (let sec = 0; sec < 60; sec++) {
      for (let i = 0; i < 3; i++) hub.message(s, 'client_to_backend', 'text', 100);
      hub.message(s, 'backend_to_client', 'binary', 10);
      clock.advance(1000);
    }
    clock.advance(-1); // stay inside the last slot
    const r = window.messageRates();
    expect(r.window_s).toBe(60);
    expect(r.client_to_backend.messages).toBe(180);
    expect(r.client_to_backend.per_second).toBe(3);
    expect(r.client_to_backend.bytes_per_second).toBe(300);
    expect(r.backend_to_client.per_second).toBe(1);
    clock.advance(61_000);
    expect(window.messageRates().client_to_backend.messages).toBe(0);
  });

  it('counts a run of equal messages reported in one call as that many messages and bytes', () => {
    const { window, hub, s, clock } = setup();
    clock.advance(10_000);
    hub.message(s, 'client_to_backend', 'binary', 64, undefined, 40);
    hub.message(s, 'client_to_backend', 'binary', 64, undefined, 10);
    const r = window.messageRates();
    expect(r.client_to_backend.messages).toBe(50);
    expect(r.client_to_backend.per_second).toBe(5);
    expect(r.client_to_backend.bytes_per_second).toBe(320);
  });

  it('divides by the time since start during the first minute', () => {
    const { window, hub, s, clock } = setup();
    clock.advance(10_000);
    for (let i = 0; i < 50; i++) hub.message(s, 'client_to_backend', 'text', 1);
    expect(window.messageRates().client_to_backend.per_second).toBe(5);
  });

  it('report() bundles the three parts', () => {
    const { window } = setup();
    expect(Object.keys(window.report()).sort()).toEqual(['close_health', 'messages', 'ping']);
  });
});

describe('formatWindow', () => {
  it.each([
    [900_000, '15m'],
    [3_600_000, '1h'],
    [90_000, '90s'],
    [1500, '1500ms'],
  ])('%i ms → %s', (ms, text) => {
    expect(formatWindow(ms)).toBe(text);
  });
});
