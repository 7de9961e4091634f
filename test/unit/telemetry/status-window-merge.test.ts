import { describe, expect, it } from 'vitest';
import type { Direction, Initiator, Leg, SessionInfo } from '../../../src/events.js';
import { LATENCY_BINS } from '../../../src/telemetry/latency-histogram.js';
import { StatusWindow, mergeWindowCounts, windowReport } from '../../../src/telemetry/status-window.js';
import type { WindowCounts } from '../../../src/telemetry/status-types.js';

const WINDOW = 15 * 60_000;
const OPTIONS = { windowMs: WINDOW, abnormalCloseRatio: 0.05, abnormalDisconnectRatio: 0.02 } as const;
const S: SessionInfo = { id: 1, route: 'chat', backend: 'chat-1', pool: 'chat', openedAt: 0, clientIp: '127.0.0.1' };

/**
 * Two "workers" and one window that sees the traffic of both, all on one fake clock: the merged
 * counts of the workers must evaluate to exactly what the single window reports.
 */
function cluster(start = 1_000_000) {
  let now = start;
  const clock = () => now;
  const whole = new StatusWindow({ ...OPTIONS, now: clock });
  const workers = [new StatusWindow({ ...OPTIONS, now: clock }), new StatusWindow({ ...OPTIONS, now: clock })];
  const on = (w: number) => {
    const targets = [workers[w]!, whole];
    return {
      close: (code: number, initiator: Initiator = 'client', times = 1) => {
        for (let i = 0; i < times; i++) {
          for (const t of targets) t.sessionClose(S, { code, initiator, durationS: 1, messagesC2B: 0, messagesB2C: 0 });
        }
      },
      ping: (leg: Leg, rttS: number) => targets.forEach((t) => t.ping(S, leg, rttS)),
      timeout: (leg: Leg) => targets.forEach((t) => t.pingTimeout(S, leg)),
      message: (dir: Direction, size: number) => targets.forEach((t) => t.message(S, dir, 'text', size)),
    };
  };
  const merged = () => windowReport(mergeWindowCounts(workers.map((w) => w.counts())));
  return {
    whole,
    workers,
    on,
    merged,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('mergeWindowCounts + windowReport', () => {
  it('report() is windowReport(counts())', () => {
    const c = cluster();
    c.on(0).close(1006, 'backend');
    c.on(0).ping('client', 0.012);
    c.on(0).message('client_to_backend', 10);
    expect(windowReport(c.workers[0]!.counts())).toEqual(c.workers[0]!.report());
    expect(JSON.stringify(windowReport(c.workers[0]!.counts()))).toBe(JSON.stringify(c.workers[0]!.report()));
  });

  it('merged close counts evaluate like one window that saw both workloads', () => {
    const c = cluster();
    c.on(0).close(1000, 'client', 30);
    c.on(0).close(1006, 'backend', 2);
    c.on(0).close(4001, 'proxy');
    c.on(1).close(1000, 'client', 10);
    c.on(1).close(1001, 'backend', 5);
    c.on(1).close(1011, 'backend');
    c.on(1).close(2500, 'client'); // folds into "0"
    const r = c.merged();
    expect(r).toEqual(c.whole.report());
    expect(r.close_health).toMatchObject({
      total_closes: 50,
      abnormal_closes: 3,
      disconnects_1006: 2,
      codes: { '0': 1, '1000': 40, '1001': 5, '1006': 2, '1011': 1, '4001': 1 },
      by_initiator: { client: { '0': 1, '1000': 40 }, backend: { '1001': 5, '1006': 2, '1011': 1 }, proxy: { '4001': 1 } },
    });
    expect(JSON.stringify(r)).toBe(JSON.stringify(c.whole.report()));
  });

  it('an alert of one worker clears when the cluster-wide ratio is under the threshold', () => {
    const c = cluster();
    c.on(0).close(1000, 'client', 2);
    c.on(0).close(1006, 'backend'); // 1 in 3: this worker alone is in alert
    c.on(1).close(1000, 'client', 97);
    expect(c.workers[0]!.report().close_health.status).toBe('alert');
    expect(c.workers[1]!.report().close_health.status).toBe('healthy');
    const r = c.merged().close_health;
    expect(r.status).toBe('healthy'); // 1 in 100: 1 % abnormal, 1 % disconnects
    expect(r.alerts).toEqual([]);
    expect(r.abnormal_rate).toBe(0.01);
    expect(c.merged()).toEqual(c.whole.report());
  });

  it('raises an alert on the merged ratio, with the merged totals in its message', () => {
    const c = cluster();
    c.on(0).close(1000, 'client', 19);
    c.on(0).close(1012, 'proxy'); // 1 in 20 = 5 %: exactly at the threshold, healthy
    c.on(1).close(1000, 'client', 8);
    c.on(1).close(1013, 'backend', 2); // 2 in 10
    expect(c.workers[0]!.report().close_health.status).toBe('healthy');
    const r = c.merged().close_health;
    expect(r.status).toBe('alert');
    expect(r.alerts.map((a) => a.rule)).toEqual(['abnormal_close_ratio']);
    expect(r.alerts[0]!.value).toBe(0.1);
    expect(r.alerts[0]!.message).toBe('10% of 30 closes in the last 15m were abnormal (1006/1011/1012/1013); threshold 5%');
    expect(c.merged()).toEqual(c.whole.report());
  });

  it('merges ping histograms, so percentiles are of all round trips, not of per-worker percentiles', () => {
    const c = cluster();
    for (let ms = 1; ms <= 50; ms++) c.on(0).ping('client', ms / 1000);
    for (let ms = 51; ms <= 100; ms++) c.on(1).ping('client', ms / 1000);
    c.on(1).ping('backend', 0.25);
    c.on(0).timeout('backend');
    c.on(1).timeout('backend');
    const r = c.merged().ping;
    expect(r).toEqual(c.whole.report().ping);
    expect(r.client.count).toBe(100);
    // Worker 0 alone has p99 ≈ 50 ms and worker 1 p50 ≈ 75 ms; merged p50 ≈ 50, p99 ≈ 99.
    expect(r.client.p50_ms! / 50).toBeGreaterThan(0.95);
    expect(r.client.p50_ms! / 50).toBeLessThan(1.05);
    expect(r.client.p99_ms! / 99).toBeGreaterThan(0.95);
    expect(r.client.p99_ms! / 99).toBeLessThan(1.05);
    expect(r.backend).toMatchObject({ count: 1, timeouts: 2 });
    expect(r.window_s).toBe(900);
  });

  it('adds message counts and divides by the longest span', () => {
    let now = 5_000_000;
    const clock = () => now;
    const old = new StatusWindow({ ...OPTIONS, now: clock });
    now += 110_000;
    const young = new StatusWindow({ ...OPTIONS, now: clock }); // restarted 10 s ago
    now += 10_000;
    for (let i = 0; i < 120; i++) old.message(S, 'client_to_backend', 'text', 50);
    for (let i = 0; i < 60; i++) young.message(S, 'client_to_backend', 'binary', 100);
    young.message(S, 'backend_to_client', 'text', 7);
    expect(young.counts().messages.span_s).toBe(10);
    const counts = mergeWindowCounts([young.counts(), old.counts()]);
    expect(counts.messages).toEqual({
      window_s: 60,
      span_s: 60,
      client_to_backend: { messages: 180, bytes: 12_000 },
      backend_to_client: { messages: 1, bytes: 7 },
    });
    expect(windowReport(counts).messages).toEqual({
      window_s: 60,
      client_to_backend: { messages: 180, per_second: 3, bytes_per_second: 200 },
      backend_to_client: { messages: 1, per_second: 0.017, bytes_per_second: 0.117 },
    });
  });

  it('matches the single window over time, as old buckets and rate slots expire', () => {
    const c = cluster();
    for (let step = 0; step < 40; step++) {
      const w = c.on(step % 2);
      w.close(step % 5 === 0 ? 1006 : 1000, step % 3 === 0 ? 'backend' : 'client');
      w.ping(step % 2 === 0 ? 'client' : 'backend', (step + 1) / 700);
      w.message(step % 4 === 0 ? 'backend_to_client' : 'client_to_backend', step * 11);
      c.advance(WINDOW / 25);
      expect(JSON.stringify(c.merged())).toBe(JSON.stringify(c.whole.report()));
    }
    expect(c.merged().close_health.total_closes).toBeLessThan(40);
  });

  it('takes the alert window and thresholds from the first element', () => {
    const a = new StatusWindow({ windowMs: 60_000, abnormalCloseRatio: 0.5, abnormalDisconnectRatio: 0.4 });
    const b = new StatusWindow(OPTIONS);
    const m = mergeWindowCounts([a.counts(), b.counts()]);
    expect(m.window_ms).toBe(60_000);
    expect(m.thresholds).toEqual({ abnormal_close_ratio: 0.5, abnormal_disconnect_ratio: 0.4 });
    expect(windowReport(m).close_health.window_s).toBe(60);
  });

  it('does not modify its inputs', () => {
    const c = cluster();
    c.on(0).close(1000);
    c.on(1).close(1000);
    c.on(0).ping('client', 0.01);
    c.on(1).ping('client', 0.01);
    const inputs = c.workers.map((w) => w.counts());
    const before = JSON.stringify(inputs);
    mergeWindowCounts(inputs);
    mergeWindowCounts(inputs);
    expect(JSON.stringify(inputs)).toBe(before);
  });
});

describe('WindowCounts as a message between processes', () => {
  it('survives a JSON and a structured-clone round trip without loss', () => {
    const c = cluster();
    c.on(0).close(1000, 'client', 3);
    c.on(0).close(1006, 'backend');
    c.on(0).close(3999, 'proxy');
    for (let i = 1; i <= 500; i++) c.on(0).ping(i % 2 ? 'client' : 'backend', i / 3000);
    c.on(0).timeout('client');
    c.on(0).message('client_to_backend', 123_456);
    c.advance(2_500);
    const counts = c.workers[0]!.counts();
    const wire = JSON.parse(JSON.stringify(counts)) as WindowCounts;
    expect(wire).toEqual(counts);
    expect(structuredClone(counts)).toEqual(counts);
    expect(JSON.stringify(windowReport(wire))).toBe(JSON.stringify(c.workers[0]!.report()));
    expect(Array.isArray(counts.ping.client.bins)).toBe(true);
    expect(counts.ping.client.bins).toHaveLength(LATENCY_BINS);
    expect(counts.ping.client.bins.reduce((a, b) => a + b, 0)).toBe(250);
    expect(counts.closes.by_initiator).toEqual({ client: { '1000': 3 }, backend: { '1006': 1 }, proxy: { '3999': 1 } });
  });
});

describe('empty and idle windows', () => {
  it('an empty list merges into zero counts that report no_data without NaN', () => {
    const m = mergeWindowCounts([]);
    expect(m.closes).toEqual({ total: 0, abnormal: 0, disconnects_1006: 0, by_initiator: { client: {}, backend: {}, proxy: {} } });
    expect(m.ping.client.bins).toHaveLength(LATENCY_BINS);
    expect(m.ping.client.bins.every((n) => n === 0)).toBe(true);
    const r = windowReport(m);
    expect(r.close_health.status).toBe('no_data');
    expect(r.close_health.alerts).toEqual([]);
    expect(r.ping.client).toEqual({ count: 0, timeouts: 0, p50_ms: null, p95_ms: null, p99_ms: null });
    expect(r.messages.client_to_backend).toEqual({ messages: 0, per_second: 0, bytes_per_second: 0 });
    expect(JSON.parse(JSON.stringify(r))).toEqual(r); // no NaN turned into null
  });

  it('idle workers merge into no_data, the same as one idle window', () => {
    const c = cluster();
    c.advance(5_000);
    const r = c.merged();
    expect(r.close_health.status).toBe('no_data');
    expect(r).toEqual(c.whole.report());
  });

  it('a single element merges into itself', () => {
    const c = cluster();
    c.on(0).close(1011, 'backend');
    c.on(0).ping('backend', 0.003);
    c.on(0).message('backend_to_client', 9);
    const counts = c.workers[0]!.counts();
    expect(mergeWindowCounts([counts])).toEqual(counts);
  });
});
