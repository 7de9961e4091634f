import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { ValueType } from '@opentelemetry/api';
import type { Config } from '../../../src/config/types.js';
import { EventHub, type SessionInfo } from '../../../src/events.js';
import type { CoreSnapshot } from '../../../src/snapshot.js';
import { startTelemetry, type Telemetry, type TelemetryOptions } from '../../../src/telemetry/sdk.js';
import { ATTR, METRIC } from '../../../src/telemetry/names.js';
import { noopMonitorMetrics } from '../../../src/telemetry/monitor-metrics.js';
import { TestMetricReader, dataPoints, findMetric, metricNames, pointValue } from '../../helpers/metrics.js';

type TelemetryConfig = Pick<Config, 'telemetry' | 'alerts'>;
const CONFIG: TelemetryConfig = {
  telemetry: { service_name: 'wstap', prometheus: false, close_codes: 'exact' },
  alerts: { window: 900_000, abnormal_close_ratio: 0.05, abnormal_disconnect_ratio: 0.02 },
};

function captureLogger() {
  const lines: Array<{ level: number; msg: string; [k: string]: unknown }> = [];
  return { lines, logger: pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l)) }) };
}

const running: Telemetry[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((t) => t.shutdown(1000)));
});

function start(overrides: Partial<TelemetryOptions> = {}) {
  const reader = new TestMetricReader();
  const { logger, lines } = captureLogger();
  const t = startTelemetry({ config: CONFIG, version: '1.0.0', logger, extraReaders: [reader], ...overrides });
  running.push(t);
  return { t, reader, lines };
}

const UNITS: Record<string, string> = {
  [METRIC.CONNECTIONS_ACTIVE]: '{connection}',
  [METRIC.CONNECTIONS]: '{connection}',
  [METRIC.SESSION_DURATION]: 's',
  [METRIC.SESSION_MESSAGES]: '{message}',
  [METRIC.MESSAGES]: '{message}',
  [METRIC.MESSAGE_SIZE]: 'By',
  [METRIC.IO]: 'By',
  [METRIC.CLOSES]: '{close}',
  [METRIC.UPGRADES]: '{request}',
  [METRIC.HANDSHAKE_DURATION]: 's',
  [METRIC.PING_DURATION]: 's',
  [METRIC.PING_TIMEOUTS]: '{ping}',
  [METRIC.ERRORS]: '{error}',
  [METRIC.PROTOCOL_VIOLATIONS]: '{violation}',
  [METRIC.BACKEND_UP]: '1',
  [METRIC.BACKEND_SELECTIONS]: '{selection}',
  [METRIC.MONITOR_UP]: '1',
  [METRIC.MONITOR_DURATION]: 's',
  [METRIC.MONITOR_STEP_DURATION]: 's',
};

describe('startTelemetry', () => {
  it('creates the whole SPEC §5 catalogue with its units, descriptions and integer counts', async () => {
    const snapshot: CoreSnapshot = {
      uptimeS: 1,
      listening: true,
      draining: false,
      activeSessions: 0,
      pendingHandshakes: 0,
      backends: [
        { pool: 'a', id: 'shared', url: 'ws://x', up: false, active: 0 },
        { pool: 'b', id: 'shared', url: 'ws://y', up: true, active: 0 },
      ],
      routes: [],
    };
    const { t, reader } = start({ snapshot: () => snapshot });
    const hub = new EventHub();
    t.attach(hub);
    const s: SessionInfo = { id: 1, route: 'r', backend: 'b', pool: 'p', openedAt: 0, clientIp: '::1' };
    hub.upgrade({ route: 'r', backend: 'b', status: 101, durationS: 0.001 });
    hub.sessionOpen(s);
    hub.message(s, 'client_to_backend', 'binary', 3);
    hub.bytes(s, 'client_to_backend', 9);
    hub.ping(s, 'client', 0.001);
    hub.pingTimeout(s, 'client');
    hub.error('r', 'b', 'idle_timeout');
    hub.violation('client_to_backend', 'bad_opcode');
    hub.sessionClose(s, { code: 1000, initiator: 'client', durationS: 1, messagesC2B: 1, messagesB2C: 0 });
    t.recorder.selection('r', 'b', 'moved');
    t.monitors.run('m', true, 0.1);
    t.monitors.step('m', 'connect', 0.01);

    const rm = await reader.read();
    expect(metricNames(rm).sort()).toEqual(Object.values(METRIC).sort());
    for (const name of Object.values(METRIC)) {
      const m = findMetric(rm, name)!;
      expect(m.descriptor.unit, name).toBe(UNITS[name]);
      expect(m.descriptor.description.length, name).toBeGreaterThan(10);
      const integer = !['s'].includes(m.descriptor.unit);
      expect(m.descriptor.valueType, name).toBe(integer ? ValueType.INT : ValueType.DOUBLE);
    }
    // A server id shared by two pools is one series, up if any entry is.
    expect(pointValue(rm, METRIC.BACKEND_UP, { [ATTR.BACKEND]: 'shared' }, true)).toBe(1);
    expect(rm.resource.attributes['service.version']).toBe('1.0.0');
  });

  it('keeps the recorder off the hook list when no reader would receive anything', async () => {
    const t = startTelemetry({ config: CONFIG, version: '1', logger: captureLogger().logger });
    running.push(t);
    expect(t.observers).toEqual([t.statusWindow]);
    expect(t.monitors).toBe(noopMonitorMetrics);
    expect(t.prometheusHandler).toBeUndefined();
  });

  it('serves Prometheus only when configured', () => {
    const { t } = start({ config: { ...CONFIG, telemetry: { ...CONFIG.telemetry, prometheus: true } } });
    expect(typeof t.prometheusHandler).toBe('function');
    expect(t.observers).toEqual([t.recorder, t.statusWindow]);
  });

  it('applies reloadable settings and warns about the others', async () => {
    const { t, reader, lines } = start();
    const hub = new EventHub();
    t.attach(hub);
    t.reload({
      telemetry: { ...CONFIG.telemetry, close_codes: 'grouped', prometheus: true },
      alerts: { window: 900_000, abnormal_close_ratio: 0.9, abnormal_disconnect_ratio: 0.9 },
    });
    const s: SessionInfo = { id: 2, route: 'r', backend: 'b', pool: 'p', openedAt: 0, clientIp: '::1' };
    hub.sessionOpen(s);
    hub.sessionClose(s, { code: 4404, initiator: 'backend', durationS: 1, messagesC2B: 0, messagesB2C: 0 });
    expect(dataPoints(await reader.read(), METRIC.CLOSES)[0]!.attributes[ATTR.CLOSE_CODE]).toBe(4000);
    expect(t.statusWindow.evaluate().thresholds.abnormal_close_ratio).toBe(0.9);
    expect(lines.map((l) => l.msg)).toContain(
      'telemetry export settings (otlp, prometheus, service_name) changed; they apply after a restart',
    );
  });

  it('survives a failing core snapshot and says so once', async () => {
    const { reader, lines } = start({
      snapshot: () => {
        throw new Error('core gone');
      },
    });
    await reader.read();
    await reader.read();
    expect(lines.filter((l) => l.msg === 'core snapshot failed')).toHaveLength(1);
  });

  it('unsubscribes every observer through the function attach() returns', () => {
    const { t } = start();
    const hub = new EventHub();
    const detach = t.attach(hub);
    expect(hub.hasSubscribers).toBe(true);
    detach();
    expect(hub.hasSubscribers).toBe(false);
  });
});
