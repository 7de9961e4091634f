/**
 * `wstap monitor --config FILE [--once]` driven through its CommandIO: exit codes, one line per
 * monitor (and per failing step), the metrics it flushes, and the long-running mode's stop on
 * SIGTERM. The fixture configs name their server through `${MONITOR_URL}`.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { UsageError } from '../../../src/commands/io.js';
import { monitorCommand } from '../../../src/commands/monitor.js';
import { ConfigError } from '../../../src/config/load.js';
import { ATTR, METRIC } from '../../../src/telemetry/names.js';
import { TestMetricReader, histogramPoint, pointValue } from '../../helpers/metrics.js';
import { captureIO } from './captured-io.js';
import { pythonServer, wsServer, useServers } from './servers.js';

const fixture = (name: string): string => fileURLToPath(new URL(`../../fixtures/monitor/${name}`, import.meta.url));

/** Keeps what the command's final forceFlush saw: the reader is shut down with the command. */
class FlushCapturingReader extends TestMetricReader {
  flushed: ResourceMetrics | undefined;
  protected override async onForceFlush(): Promise<void> {
    this.flushed = await this.read();
  }
}

const { keep } = useServers();

describe('wstap monitor --once', () => {
  it.each(['ws', 'python'])('a seed-style monitor passes against %s: exit 0, one PASS line', async (kind) => {
    const s = await keep(kind === 'ws' ? wsServer() : pythonServer('echo'));
    const io = captureIO({ MONITOR_URL: s.url });
    const code = await monitorCommand(['--config', fixture('seed.yaml'), '--once'], io);
    expect(io.err()).toBe('');
    expect(code).toBe(0);
    expect(io.out()).toMatch(/^PASS seed {2}[\d.]+ ms {2}\(connection [\d.]+ ms, message [\d.]+ ms\)\n$/);
    expect(io.handlerCount()).toBe(0);
  });

  it('a failing receive assertion: exit 1, the FAIL line names the step and why', async () => {
    const s = await keep(wsServer());
    const io = captureIO({ MONITOR_URL: s.url });
    const code = await monitorCommand(['--config', fixture('failing.yaml'), '--once'], io);
    expect(code).toBe(1);
    const lines = io.out().split('\n');
    expect(lines[0]).toMatch(/^PASS healthy {5} [\d.]+ ms/);
    expect(lines[1]).toMatch(/^FAIL wrong-reply {2}[\d.]+ ms/);
    expect(lines[2]).toBe(
      '  steps[2] (receive) failed: timed out after 300 ms waiting for a message with JSON type = "pang" (1 other message received; last: {"type":"pong","backend":"ws-1"})',
    );
    expect(io.err()).toBe('1 of 2 monitors failed\n');
  });

  it('flushes wstap.monitor.* before it returns', async () => {
    const s = await keep(wsServer());
    const reader = new FlushCapturingReader();
    const io = captureIO({ MONITOR_URL: s.url });
    expect(await monitorCommand(['--config', fixture('failing.yaml'), '--once'], io, { extraReaders: [reader] })).toBe(1);
    const rm = reader.flushed as ResourceMetrics;
    expect(rm).toBeDefined();
    expect(pointValue(rm, METRIC.MONITOR_UP, { [ATTR.MONITOR]: 'healthy' })).toBe(1);
    expect(pointValue(rm, METRIC.MONITOR_UP, { [ATTR.MONITOR]: 'wrong-reply' })).toBe(0);
    expect(histogramPoint(rm, METRIC.MONITOR_DURATION, { [ATTR.MONITOR]: 'wrong-reply' })?.count).toBe(1);
    expect(histogramPoint(rm, METRIC.MONITOR_STEP_DURATION, { [ATTR.MONITOR]: 'wrong-reply', [ATTR.MONITOR_STEP]: 'receive' })?.count).toBe(1);
    expect(histogramPoint(rm, METRIC.MONITOR_STEP_DURATION, { [ATTR.MONITOR]: 'healthy', [ATTR.MONITOR_STEP]: 'ping' })?.count).toBe(1);
  });

  it('a config without monitors: exit 1 with a message', async () => {
    const io = captureIO();
    expect(await monitorCommand(['--config', fixture('no-monitors.yaml'), '--once'], io)).toBe(1);
    expect(io.err()).toMatch(/no-monitors\.yaml: no monitors configured — add a monitors: section/);
  });

  it('usage and config errors', async () => {
    await expect(monitorCommand(['--once'], captureIO())).rejects.toThrow(UsageError);
    await expect(monitorCommand(['--config', fixture('seed.yaml'), '--once'], captureIO({}))).rejects.toThrow(ConfigError);
    await expect(monitorCommand(['--config', fixture('seed.yaml'), '--twice'], captureIO())).rejects.toMatchObject({ code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION' });
  });
});

describe('wstap monitor (long-running)', () => {
  it('runs on the interval, prints each run and stops on SIGTERM with metrics flushed', async () => {
    const s = await keep(wsServer());
    const reader = new FlushCapturingReader();
    const io = captureIO({ MONITOR_URL: s.url, MONITOR_INTERVAL: '100ms', MONITOR_TIMEOUT: '100ms' });
    const done = monitorCommand(['--config', fixture('seed.yaml')], io, { extraReaders: [reader] });
    // Awaited below; until then a rejection (bad config) must not surface as an unhandled error.
    done.catch(() => undefined);
    const end = Date.now() + 5000;
    while ((io.out().match(/^PASS seed/gm) ?? []).length < 3 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    expect((io.out().match(/^PASS seed/gm) ?? []).length).toBeGreaterThanOrEqual(3);
    io.signal('SIGTERM');
    expect(await done).toBe(0);
    expect(io.handlerCount()).toBe(0);
    const runs = histogramPoint(reader.flushed as ResourceMetrics, METRIC.MONITOR_DURATION, { [ATTR.MONITOR]: 'seed' })?.count ?? 0;
    expect(runs).toBeGreaterThanOrEqual(3);
  });
});
