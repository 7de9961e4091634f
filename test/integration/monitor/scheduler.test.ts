/**
 * The scheduler and MonitorService with real servers and real timers (short intervals): runs
 * repeat on their interval, /status state and percentiles accumulate, and stop() clears every
 * timer and aborts running checks without leaving a socket behind.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, silentLogger } from '../../../src/log.js';
import { MonitorService } from '../../../src/monitor/index.js';
import { MonitorScheduler } from '../../../src/monitor/scheduler.js';
import { RecordedMetrics, monitorFrom, seedMonitor } from './monitors.js';
import { freePort, wsServer, useServers } from './servers.js';

const { keep } = useServers();

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('MonitorScheduler', () => {
  it('runs each monitor at start and then on its interval, keeping state and percentiles', async () => {
    const s = await keep(wsServer());
    const port = await freePort();
    const metrics = new RecordedMetrics();
    const scheduler = new MonitorScheduler(
      [seedMonitor(s.url, { interval: '150ms', timeout: '150ms' }), monitorFrom({ name: 'down', url: `ws://127.0.0.1:${port}/`, interval: '150ms', timeout: '150ms' })],
      { metrics, historySize: 2 },
    );
    const started = Date.now();
    scheduler.start();
    try {
      await until(() => scheduler.results().every((r) => r.runs >= 1));
      expect(Date.now() - started).toBeLessThan(140); // the first run does not wait an interval
      await until(() => scheduler.results().every((r) => r.runs >= 3));
    } finally {
      await scheduler.stop();
    }
    const [seed, down] = scheduler.results();
    expect(seed).toMatchObject({ name: 'seed', url: s.url, interval_s: 0.15, up: true, failures: 0, consecutive_failures: 0 });
    expect(seed?.last_result?.passed).toBe(true);
    expect(seed?.latency.connection.count).toBe(2); // historySize bounds the window
    expect(seed?.latency.connection.p50_ms).toBeGreaterThan(0);
    expect(seed?.latency.message.p99_ms).toBeGreaterThanOrEqual(0);
    expect(down).toMatchObject({ name: 'down', up: false });
    expect(down?.consecutive_failures).toBe(down?.runs);
    expect(down?.latency.connection).toEqual({ count: 0, p50_ms: null, p95_ms: null, p99_ms: null });
    expect(down?.last_result?.error).toContain('ECONNREFUSED');

    const runs = metrics.runs.length;
    await new Promise((r) => setTimeout(r, 400));
    expect(metrics.runs.length).toBe(runs); // stop() cleared the timers
  });

  it('stop() aborts a running check at once and records nothing for it', async () => {
    const s = await keep(wsServer(() => {}));
    const metrics = new RecordedMetrics();
    const scheduler = new MonitorScheduler([monitorFrom({ name: 'slow', url: s.url, timeout: '30s', interval: '60s', steps: [{ action: 'connect' }, { action: 'receive' }] })], { metrics });
    scheduler.start();
    await until(() => s.wss.clients.size === 1);
    const t0 = Date.now();
    await scheduler.stop();
    expect(Date.now() - t0).toBeLessThan(500);
    expect(metrics.runs).toEqual([]);
    expect(scheduler.results()[0]).toMatchObject({ runs: 0, up: null, last_result: null });
  });
});

describe('MonitorService', () => {
  it('starts, exposes results for /status, logs failures and stops cleanly', async () => {
    const s = await keep(wsServer());
    const lines: string[] = [];
    const logger = createLogger({
      level: 'info',
      destination: new Writable({
        write(c: Buffer, _e, cb) {
          lines.push(c.toString());
          cb();
        },
      }),
    });
    const port = await freePort();
    const seen: string[] = [];
    const service = new MonitorService([seedMonitor(s.url), monitorFrom({ name: 'down', url: `ws://127.0.0.1:${port}/` })], new RecordedMetrics(), logger, {
      onResult: (r) => seen.push(r.monitor),
    });
    service.start();
    try {
      await until(() => service.results().every((r) => r.runs === 1));
      expect(service.results().map((r) => [r.name, r.up])).toEqual([
        ['seed', true],
        ['down', false],
      ]);
      expect(seen.sort()).toEqual(['down', 'seed']);
      const failed = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'monitor failed');
      expect(failed).toMatchObject({ level: 40, monitor: 'down', component: 'monitor' });
      expect(String(failed?.error)).toContain(`connection refused (ECONNREFUSED 127.0.0.1:${port})`);
      // JSON-serialisable as /status needs it.
      expect(() => JSON.stringify(service.results())).not.toThrow();
    } finally {
      await service.stop();
    }
  });

  it('reload() restarts the schedule with the new monitors', async () => {
    const s = await keep(wsServer());
    const service = new MonitorService([seedMonitor(s.url)], new RecordedMetrics(), silentLogger());
    service.start();
    try {
      await until(() => service.results()[0]?.runs === 1);
      await service.reload([monitorFrom({ name: 'other', url: s.url })]);
      await until(() => service.results()[0]?.runs === 1);
      expect(service.results().map((r) => r.name)).toEqual(['other']);
    } finally {
      await service.stop();
    }
  });

  it('does nothing without monitors', async () => {
    const service = new MonitorService([], new RecordedMetrics(), silentLogger());
    service.start();
    expect(service.results()).toEqual([]);
    await service.stop();
  });
});
