import { afterEach, describe, expect, it } from 'vitest';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { EventHub, type SessionInfo } from '../../../src/events.js';
import {
  createInstruments,
  LATENCY_BUCKETS,
  MESSAGE_SIZE_BUCKETS,
  SESSION_DURATION_BUCKETS,
  SESSION_MESSAGES_BUCKETS,
} from '../../../src/telemetry/instruments.js';
import { TelemetryRecorder } from '../../../src/telemetry/recorder.js';
import { MonitorRecorder } from '../../../src/telemetry/monitor-metrics.js';
import { PairAttributes } from '../../../src/telemetry/attribute-sets.js';
import { ATTR, METRIC } from '../../../src/telemetry/names.js';
import type { CloseCodeMode } from '../../../src/telemetry/close-codes.js';
import { TestMetricReader, dataPoints, histogramPoint, pointValue, findMetric } from '../../helpers/metrics.js';

const providers: MeterProvider[] = [];
afterEach(async () => {
  await Promise.all(providers.splice(0).map((p) => p.shutdown()));
});

function setup(closeCodes: CloseCodeMode = 'exact') {
  const reader = new TestMetricReader();
  const provider = new MeterProvider({ readers: [reader] });
  providers.push(provider);
  const instruments = createInstruments(provider.getMeter('wstap'));
  const recorder = new TelemetryRecorder(instruments, { closeCodes });
  const hub = new EventHub();
  hub.subscribe(recorder);
  return { reader, hub, recorder, instruments };
}

let nextId = 1;
function session(route = 'chat', backend = 'chat-1'): SessionInfo {
  return { id: nextId++, route, backend, pool: 'chat', openedAt: 0, clientIp: '203.0.113.7' };
}

const base = { [ATTR.ROUTE]: 'chat', [ATTR.BACKEND]: 'chat-1' };
const c2b = 'client_to_backend';
const b2c = 'backend_to_client';

describe('TelemetryRecorder', () => {
  it('records a session lifecycle with exact values and returns the active gauge to 0', async () => {
    const { reader, hub } = setup();
    const a = session();
    const b = session();
    hub.sessionOpen(a);
    hub.sessionOpen(b);
    hub.message(a, c2b, 'text', 10);
    hub.message(a, c2b, 'text', 20);
    hub.message(b, c2b, 'text', 3);
    hub.message(a, b2c, 'binary', 5000);
    hub.message(b, b2c, 'binary', 0);
    hub.bytes(a, c2b, 100);
    hub.bytes(b, c2b, 50);
    hub.bytes(a, b2c, 7);

    let rm = await reader.read();
    expect(pointValue(rm, METRIC.CONNECTIONS_ACTIVE, base, true)).toBe(2);

    hub.sessionClose(a, { code: 1000, initiator: 'client', durationS: 2.5, messagesC2B: 2, messagesB2C: 1, reason: 'bye' });
    hub.sessionClose(b, { code: 1006, initiator: 'backend', durationS: 0.02, messagesC2B: 1, messagesB2C: 1 });

    rm = await reader.read();
    expect(pointValue(rm, METRIC.CONNECTIONS_ACTIVE, base, true)).toBe(0);
    expect(pointValue(rm, METRIC.CONNECTIONS, base, true)).toBe(2);
    expect(pointValue(rm, METRIC.MESSAGES, { ...base, [ATTR.DIRECTION]: c2b, [ATTR.MESSAGE_TYPE]: 'text' }, true)).toBe(3);
    expect(pointValue(rm, METRIC.MESSAGES, { ...base, [ATTR.DIRECTION]: b2c, [ATTR.MESSAGE_TYPE]: 'binary' }, true)).toBe(2);
    expect(dataPoints(rm, METRIC.MESSAGES)).toHaveLength(2);
    expect(pointValue(rm, METRIC.IO, { ...base, [ATTR.DIRECTION]: c2b }, true)).toBe(150);
    expect(pointValue(rm, METRIC.IO, { ...base, [ATTR.DIRECTION]: b2c }, true)).toBe(7);

    const size = histogramPoint(rm, METRIC.MESSAGE_SIZE, { ...base, [ATTR.DIRECTION]: c2b }, true)!;
    expect(size.count).toBe(3);
    expect(size.sum).toBe(33);
    expect(size.buckets.boundaries).toEqual(MESSAGE_SIZE_BUCKETS);
    // 3 → (1,4], 10 → (4,16], 20 → (16,64]
    expect(size.buckets.counts.slice(0, 4)).toEqual([0, 1, 1, 1]);
    const sizeB2c = histogramPoint(rm, METRIC.MESSAGE_SIZE, { ...base, [ATTR.DIRECTION]: b2c }, true)!;
    expect(sizeB2c.buckets.counts[0]).toBe(1); // the empty message
    expect(sizeB2c.buckets.counts[7]).toBe(1); // 5000 → (4096,16384]

    const closeNormal = { ...base, [ATTR.CLOSE_CODE]: 1000, [ATTR.CLOSE_INITIATOR]: 'client' };
    const closeAbnormal = { ...base, [ATTR.CLOSE_CODE]: 1006, [ATTR.CLOSE_INITIATOR]: 'backend' };
    expect(pointValue(rm, METRIC.CLOSES, closeNormal, true)).toBe(1);
    expect(pointValue(rm, METRIC.CLOSES, closeAbnormal, true)).toBe(1);
    const duration = histogramPoint(rm, METRIC.SESSION_DURATION, closeNormal, true)!;
    expect(duration.count).toBe(1);
    expect(duration.sum).toBe(2.5);
    expect(duration.buckets.boundaries).toEqual(SESSION_DURATION_BUCKETS);
    expect(duration.buckets.counts[5]).toBe(1); // (1, 5]
    expect(histogramPoint(rm, METRIC.SESSION_DURATION, closeAbnormal, true)!.buckets.counts[1]).toBe(1); // (0.01, 0.05]

    const perSession = histogramPoint(rm, METRIC.SESSION_MESSAGES, base, true)!;
    expect(perSession.count).toBe(2);
    expect(perSession.sum).toBe(5);
    expect(perSession.buckets.boundaries).toEqual(SESSION_MESSAGES_BUCKETS);
  });

  it('counts a run of equal messages reported in one call as that many messages', async () => {
    const { reader, hub } = setup();
    const a = session();
    hub.sessionOpen(a);
    hub.message(a, c2b, 'binary', 64, 0, 1000);
    hub.message(a, c2b, 'binary', 64);
    hub.message(a, c2b, 'text', 20, 0, 3);
    const rm = await reader.read();
    expect(pointValue(rm, METRIC.MESSAGES, { ...base, [ATTR.DIRECTION]: c2b, [ATTR.MESSAGE_TYPE]: 'binary' }, true)).toBe(1001);
    expect(pointValue(rm, METRIC.MESSAGES, { ...base, [ATTR.DIRECTION]: c2b, [ATTR.MESSAGE_TYPE]: 'text' }, true)).toBe(3);
    const size = histogramPoint(rm, METRIC.MESSAGE_SIZE, { ...base, [ATTR.DIRECTION]: c2b }, true)!;
    expect(size.count).toBe(1004);
    expect(size.sum).toBe(64 * 1001 + 60);
    // 20 → (16,64], and so is 64 (upper bounds are inclusive)
    expect(size.buckets.counts[3]).toBe(1004);
  });

  it('never puts client addresses, ids or close reasons on any series', async () => {
    const { reader, hub } = setup();
    const s = session();
    hub.sessionOpen(s);
    hub.message(s, c2b, 'text', 1);
    hub.ping(s, 'client', 0.001);
    hub.sessionClose(s, { code: 4321, initiator: 'client', durationS: 1, messagesC2B: 1, messagesB2C: 0, reason: 'secret reason' });
    const rm = await reader.read();
    const allowed = new Set<string>(Object.values(ATTR));
    for (const scope of rm.scopeMetrics) {
      for (const m of scope.metrics) {
        for (const p of m.dataPoints) {
          for (const [k, v] of Object.entries(p.attributes)) {
            expect(allowed.has(k), `${m.descriptor.name} has attribute ${k}`).toBe(true);
            expect([s.clientIp, s.id, 'secret reason']).not.toContain(v);
          }
        }
      }
    }
  });

  it.each([
    ['exact', 3001, 3001],
    ['exact', 4999, 4999],
    ['grouped', 3001, 3000],
    ['grouped', 3999, 3000],
    ['grouped', 4000, 4000],
    ['grouped', 4999, 4000],
    ['grouped', 1005, 1005],
    ['grouped', 1015, 1015],
    ['grouped', 2500, 0],
    ['exact', 999, 0],
    ['exact', 5000, 0],
  ] as const)('close_codes %s: %i is recorded as %i', async (mode, code, expected) => {
    const { reader, hub } = setup(mode);
    const s = session();
    hub.sessionOpen(s);
    hub.sessionClose(s, { code, initiator: 'proxy', durationS: 1, messagesC2B: 0, messagesB2C: 0 });
    const rm = await reader.read();
    const points = dataPoints(rm, METRIC.CLOSES);
    expect(points).toHaveLength(1);
    expect(points[0]!.attributes[ATTR.CLOSE_CODE]).toBe(expected);
    expect(points[0]!.attributes[ATTR.CLOSE_INITIATOR]).toBe('proxy');
  });

  it('applies a reloaded close-code mode to later closes', async () => {
    const { reader, hub, recorder } = setup('exact');
    const a = session();
    const b = session();
    hub.sessionOpen(a);
    hub.sessionOpen(b);
    hub.sessionClose(a, { code: 4404, initiator: 'backend', durationS: 1, messagesC2B: 0, messagesB2C: 0 });
    recorder.setCloseCodeMode('grouped');
    hub.sessionClose(b, { code: 4404, initiator: 'backend', durationS: 1, messagesC2B: 0, messagesB2C: 0 });
    const codes = dataPoints(await reader.read(), METRIC.CLOSES).map((p) => p.attributes[ATTR.CLOSE_CODE]);
    expect(codes.sort()).toEqual([4000, 4404]);
  });

  it('records upgrades and handshake durations, error.type on failures only', async () => {
    const { reader, hub } = setup();
    hub.upgrade({ route: 'chat', backend: 'chat-1', status: 101, durationS: 0.003 });
    hub.upgrade({ route: 'chat', backend: 'chat-1', status: 101, durationS: 0.0004 });
    hub.upgrade({ status: 404, errorType: 'no_route', durationS: 0.0001 });
    hub.upgrade({ route: 'chat', backend: 'chat-2', status: 502, errorType: 'backend_refused', durationS: 0.002 });
    const rm = await reader.read();
    expect(pointValue(rm, METRIC.UPGRADES, { ...base, [ATTR.HTTP_STATUS]: 101 }, true)).toBe(2);
    expect(pointValue(rm, METRIC.UPGRADES, { [ATTR.HTTP_STATUS]: 404, [ATTR.ERROR_TYPE]: 'no_route' }, true)).toBe(1);
    expect(
      pointValue(rm, METRIC.UPGRADES, { ...base, [ATTR.BACKEND]: 'chat-2', [ATTR.HTTP_STATUS]: 502, [ATTR.ERROR_TYPE]: 'backend_refused' }, true),
    ).toBe(1);
    const hs = histogramPoint(rm, METRIC.HANDSHAKE_DURATION, { ...base, [ATTR.HTTP_STATUS]: 101 }, true)!;
    expect(hs.count).toBe(2);
    expect(hs.buckets.boundaries).toEqual(LATENCY_BUCKETS);
    expect(hs.buckets.counts[2]).toBe(1); // 0.0004 → (0.00025, 0.0005]
    expect(hs.buckets.counts[5]).toBe(1); // 0.003 → (0.0025, 0.005]
    expect(dataPoints(rm, METRIC.HANDSHAKE_DURATION).every((p) => !(ATTR.ERROR_TYPE in p.attributes))).toBe(true);
  });

  it('records ping round trips and timeouts per leg', async () => {
    const { reader, hub } = setup();
    const s = session();
    hub.sessionOpen(s);
    hub.ping(s, 'client', 0.0002);
    hub.ping(s, 'client', 0.0003);
    hub.ping(s, 'backend', 0.02);
    hub.pingTimeout(s, 'backend');
    const rm = await reader.read();
    const client = histogramPoint(rm, METRIC.PING_DURATION, { ...base, [ATTR.LEG]: 'client' }, true)!;
    expect(client.count).toBe(2);
    expect(client.buckets.boundaries).toEqual(LATENCY_BUCKETS);
    expect(client.buckets.counts.slice(0, 3)).toEqual([0, 1, 1]);
    expect(histogramPoint(rm, METRIC.PING_DURATION, { ...base, [ATTR.LEG]: 'backend' }, true)!.count).toBe(1);
    expect(pointValue(rm, METRIC.PING_TIMEOUTS, { ...base, [ATTR.LEG]: 'backend' }, true)).toBe(1);
  });

  it('counts errors, violations and selections with bounded error.type values', async () => {
    const { reader, hub, recorder } = setup();
    hub.error('chat', 'chat-1', 'heartbeat_timeout');
    hub.error('chat', 'chat-1', 'heartbeat_timeout');
    hub.error(undefined, undefined, 'read ECONNRESET at 10.0.0.1:443'); // a raw message leaking through
    hub.violation('client_to_backend', 'unmasked_frame');
    recorder.selection('chat', 'chat-1', 'hit');
    recorder.selection('chat', 'chat-1', 'new');
    const rm = await reader.read();
    expect(pointValue(rm, METRIC.ERRORS, { ...base, [ATTR.ERROR_TYPE]: 'heartbeat_timeout' }, true)).toBe(2);
    expect(pointValue(rm, METRIC.ERRORS, { [ATTR.ERROR_TYPE]: '_OTHER' }, true)).toBe(1);
    expect(pointValue(rm, METRIC.PROTOCOL_VIOLATIONS, { [ATTR.DIRECTION]: c2b, [ATTR.ERROR_TYPE]: 'unmasked_frame' }, true)).toBe(1);
    expect(pointValue(rm, METRIC.BACKEND_SELECTIONS, { ...base, [ATTR.AFFINITY]: 'hit' }, true)).toBe(1);
    expect(pointValue(rm, METRIC.BACKEND_SELECTIONS, { ...base, [ATTR.AFFINITY]: 'new' }, true)).toBe(1);
  });

  it('does not decrement active for a session whose open it never saw', async () => {
    const { reader, hub } = setup();
    const s = session();
    hub.message(s, c2b, 'text', 4); // subscribed mid-session
    hub.sessionClose(s, { code: 1001, initiator: 'proxy', durationS: 60, messagesC2B: 9, messagesB2C: 9 });
    const rm = await reader.read();
    expect(findMetric(rm, METRIC.CONNECTIONS_ACTIVE)).toBeUndefined();
    expect(pointValue(rm, METRIC.MESSAGES, { ...base, [ATTR.DIRECTION]: c2b })).toBe(1);
    expect(pointValue(rm, METRIC.CLOSES, { ...base, [ATTR.CLOSE_CODE]: 1001 })).toBe(1);
  });

  it('keeps route/backend pairs apart', async () => {
    const { reader, hub } = setup();
    const a = session('chat', 'chat-1');
    const b = session('feed', 'feed-1');
    hub.sessionOpen(a);
    hub.sessionOpen(b);
    hub.sessionClose(a, { code: 1000, initiator: 'client', durationS: 1, messagesC2B: 0, messagesB2C: 0 });
    const rm = await reader.read();
    expect(pointValue(rm, METRIC.CONNECTIONS_ACTIVE, base, true)).toBe(0);
    expect(pointValue(rm, METRIC.CONNECTIONS_ACTIVE, { [ATTR.ROUTE]: 'feed', [ATTR.BACKEND]: 'feed-1' }, true)).toBe(1);
  });

  it('records synthetic monitor runs and steps', async () => {
    const { reader, instruments } = setup();
    const monitors = new MonitorRecorder(instruments);
    monitors.run('chat-health', true, 0.12);
    monitors.run('chat-health', false, 0.5);
    monitors.step('chat-health', 'connect', 0.01);
    const rm = await reader.read();
    expect(pointValue(rm, METRIC.MONITOR_UP, { [ATTR.MONITOR]: 'chat-health' }, true)).toBe(0);
    expect(histogramPoint(rm, METRIC.MONITOR_DURATION, { [ATTR.MONITOR]: 'chat-health' }, true)!.count).toBe(2);
    expect(
      histogramPoint(rm, METRIC.MONITOR_STEP_DURATION, { [ATTR.MONITOR]: 'chat-health', [ATTR.MONITOR_STEP]: 'connect' }, true)!.count,
    ).toBe(1);
  });
});

describe('PairAttributes', () => {
  it('builds each attribute object once and reuses it', () => {
    const pair = new PairAttributes('chat', 'chat-1');
    expect(pair.close(1000, 'client')).toBe(pair.close(1000, 'client'));
    expect(pair.close(1000, 'client')).not.toBe(pair.close(1000, 'backend'));
    expect(pair.byMessage).toHaveLength(4);
    expect(pair.byMessage[3]).toEqual({ ...base, [ATTR.DIRECTION]: b2c, [ATTR.MESSAGE_TYPE]: 'binary' });
    expect(Object.isFrozen(pair.base)).toBe(true);
  });
});
