/**
 * Monitors built the way users write them: YAML `monitors:` entries through the real config
 * loader (defaults, normalisation), plus a recording MonitorMetrics and a metrics pipeline with
 * an in-memory reader for assertions on `wstap.monitor.*`.
 */
import { stringify } from 'yaml';
import { parseConfigText } from '../../../src/config/load.js';
import type { MonitorConfig } from '../../../src/config/types.js';
import { silentLogger } from '../../../src/log.js';
import type { MonitorMetrics } from '../../../src/telemetry/monitor-metrics.js';
import { startTelemetry, type Telemetry } from '../../../src/telemetry/sdk.js';
import { TestMetricReader } from '../../helpers/metrics.js';

const BASE = {
  listen: { host: '127.0.0.1', port: 0 },
  admin: { enabled: false },
  backends: { app: { servers: [{ url: 'ws://127.0.0.1:9' }] } },
  routes: [{ backend: 'app' }],
  telemetry: { prometheus: false },
};

/** Normalised monitors from their YAML-shaped description (`name`, `url`, `steps`…). */
export function monitorsFrom(monitors: readonly Record<string, unknown>[]): MonitorConfig[] {
  const config = parseConfigText(stringify({ ...BASE, monitors }), { env: {} });
  return [...config.monitors];
}

/** One normalised monitor. */
export function monitorFrom(m: Record<string, unknown>): MonitorConfig {
  return monitorsFrom([m])[0] as MonitorConfig;
}

/** The seed's monitor (SPEC §3) against `url`. */
export function seedMonitor(url: string, extra: Record<string, unknown> = {}): MonitorConfig {
  return monitorFrom({
    name: 'seed',
    url,
    timeout: '5s',
    steps: [
      { action: 'connect', assert_connected_within_ms: 1000 },
      { action: 'send', message: '{"type":"ping","id":"monitor-check"}' },
      { action: 'receive', timeout_ms: 3000, assert_message_contains: '"type":"pong"' },
      { action: 'measure_latency' },
      { action: 'disconnect', expected_close_code: 1000 },
    ],
    assertions: [
      { type: 'connection_latency', operator: 'less_than', value: 1000 },
      { type: 'message_latency', operator: 'less_than', value: 1000 },
    ],
    ...extra,
  });
}

/** A MonitorMetrics that keeps what it was told (a sink, not a stand-in for the runner). */
export class RecordedMetrics implements MonitorMetrics {
  readonly runs: Array<{ monitor: string; ok: boolean; durationS: number }> = [];
  readonly steps: Array<{ monitor: string; step: string; durationS: number }> = [];
  run(monitor: string, ok: boolean, durationS: number): void {
    this.runs.push({ monitor, ok, durationS });
  }
  step(monitor: string, step: string, durationS: number): void {
    this.steps.push({ monitor, step, durationS });
  }
}

/** The real telemetry pipeline with an in-memory reader (shut it down after the test). */
export function telemetryWithReader(): { telemetry: Telemetry; reader: TestMetricReader } {
  const reader = new TestMetricReader();
  const config = parseConfigText(stringify(BASE), { env: {} });
  const telemetry = startTelemetry({ config, version: 'test', logger: silentLogger(), extraReaders: [reader] });
  return { telemetry, reader };
}
