import { afterEach, describe, expect, it, vi } from 'vitest';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { ValueType, type Attributes } from '@opentelemetry/api';
import {
  AggregationTemporality,
  AggregationType,
  DataPointType,
  MeterProvider,
  MetricReader,
  type AggregationOption,
  type DataPoint,
  type Histogram,
  type HistogramMetricData,
  type MetricData,
  type MetricProducer,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import { PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { emptyResource } from '@opentelemetry/resources';
import {
  AggregatedHistogram,
  CARDINALITY_LIMIT,
  addMetricProducer,
  mergeSameScopes,
  type HistogramDefinition,
} from '../../../src/telemetry/aggregated-histogram.js';
import { createInstruments, MESSAGE_SIZE_BUCKETS, MESSAGE_SIZE_HISTOGRAM, SESSION_DURATION_HISTOGRAM } from '../../../src/telemetry/instruments.js';
import { TelemetryRecorder } from '../../../src/telemetry/recorder.js';
import { StatusWindow } from '../../../src/telemetry/status-window.js';
import { startTelemetry, type Telemetry } from '../../../src/telemetry/sdk.js';
import { EventHub, type SessionInfo } from '../../../src/events.js';
import { ATTR, METRIC } from '../../../src/telemetry/names.js';
import { TestMetricReader, dataPoints, findMetric, histogramPoint } from '../../helpers/metrics.js';
import { startOtlpReceiver } from '../../helpers/otlp-receiver.js';

const C2B = { [ATTR.ROUTE]: 'chat', [ATTR.BACKEND]: 'chat-1', [ATTR.DIRECTION]: 'client_to_backend' };
const B2C = { ...C2B, [ATTR.DIRECTION]: 'backend_to_client' };
const SCOPE = { name: 'wstap', version: '1.2.3', schemaUrl: undefined };

/** A pull reader that takes producers, as the readers built by startTelemetry do. */
class ProducerReader extends MetricReader {
  constructor(temporality: AggregationTemporality, metricProducers: MetricProducer[], aggregation?: AggregationOption) {
    super({
      aggregationTemporalitySelector: () => temporality,
      ...(aggregation ? { aggregationSelector: () => aggregation } : {}),
      metricProducers,
    });
  }
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

const providers: MeterProvider[] = [];
const telemetries: Telemetry[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(providers.splice(0).map((p) => p.shutdown()));
  await Promise.all(telemetries.splice(0).map((t) => t.shutdown(1000)));
});

/** The SDK's own histogram and the aggregated one, fed the same values, each read by its own reader. */
function twin(temporality: AggregationTemporality, def: HistogramDefinition = MESSAGE_SIZE_HISTOGRAM, aggregation?: AggregationOption) {
  const sdkReader = new ProducerReader(temporality, [], aggregation);
  const sdkProvider = new MeterProvider({ readers: [sdkReader] });
  const instrument = sdkProvider
    .getMeter(SCOPE.name, SCOPE.version)
    .createHistogram(def.name, { unit: def.unit, description: def.description, valueType: def.valueType, advice: { explicitBucketBoundaries: [...def.boundaries] } });

  const aggregate = new AggregatedHistogram(def);
  const producer = aggregate.producer(SCOPE);
  const ourReader = new ProducerReader(temporality, [producer], aggregation);
  producer.bind(ourReader);
  const ourProvider = new MeterProvider({ readers: [ourReader] });
  providers.push(sdkProvider, ourProvider);

  const series = new Map<string, ReturnType<AggregatedHistogram['series']>>();
  const record = (value: number, attrs: Attributes) => {
    instrument.record(value, attrs);
    const key = JSON.stringify(attrs);
    if (!series.has(key)) series.set(key, aggregate.series(attrs));
    series.get(key)!.record(value);
  };
  const read = async (reader: MetricReader) => {
    const { resourceMetrics, errors } = await reader.collect();
    expect(errors).toEqual([]);
    return resourceMetrics;
  };
  return { record, sdk: () => read(sdkReader), ours: () => read(ourReader), aggregate };
}

function histogramOf(rm: ResourceMetrics, name: string = METRIC.MESSAGE_SIZE): HistogramMetricData | undefined {
  const m = findMetric(rm, name);
  if (m !== undefined) expect(m.dataPointType).toBe(DataPointType.HISTOGRAM);
  return m as HistogramMetricData | undefined;
}

/** Everything but the timestamps (the two pipelines stamp at slightly different instants). */
function comparable(m: MetricData | undefined) {
  if (m === undefined) return undefined;
  return {
    descriptor: m.descriptor,
    dataPointType: m.dataPointType,
    aggregationTemporality: m.aggregationTemporality,
    points: (m.dataPoints as DataPoint<Histogram>[]).map((p) => ({ attributes: p.attributes, value: p.value })),
  };
}

function timeMs(t: [number, number]): number {
  return t[0] * 1000 + t[1] / 1e6;
}

describe('AggregatedHistogram', () => {
  it('puts a value in the first bucket whose upper bound is >= the value, like the SDK', async () => {
    const h = twin(AggregationTemporality.CUMULATIVE);
    const values = [0, 1, 2, 4, 5, 16, 17, 4096, 4097, 4 ** 13, 4 ** 13 + 1, 2 ** 40];
    for (const v of values) h.record(v, C2B);
    const ours = histogramOf(await h.ours())!;
    const p = ours.dataPoints[0]!.value;
    expect(p.buckets.boundaries).toEqual(MESSAGE_SIZE_BUCKETS);
    // le=1: 0, 1 · le=4: 2, 4 · le=16: 5, 16 · le=64: 17 · le=4096: 4096 · le=16384: 4097 ·
    // le=4^13: 4^13 · +Inf: 4^13+1, 2^40
    const expected = new Array<number>(MESSAGE_SIZE_BUCKETS.length + 1).fill(0);
    for (const [i, n] of [[0, 2], [1, 2], [2, 2], [3, 1], [6, 1], [7, 1], [13, 1], [14, 2]] as const) expected[i] = n;
    expect(p.buckets.counts).toEqual(expected);
    expect(comparable(ours)).toEqual(comparable(histogramOf(await h.sdk())));
  });

  it('keeps fractions of a DOUBLE histogram (seconds), like the SDK', async () => {
    const h = twin(AggregationTemporality.CUMULATIVE, SESSION_DURATION_HISTOGRAM);
    const values = [0, 0.003, 0.01, 0.0100001, 0.5, 0.75, 1, 1.5, 4.99, 5, 86_400, 1e6];
    for (const v of values) h.record(v, C2B);
    const ours = histogramOf(await h.ours(), SESSION_DURATION_HISTOGRAM.name)!;
    const p = ours.dataPoints[0]!.value;
    expect(p.sum).toBeCloseTo(values.reduce((a, b) => a + b, 0), 9);
    expect(p.min).toBe(0);
    expect(p.max).toBe(1e6);
    // le=0.01: 0, 0.003, 0.01 · le=0.05: 0.0100001 · le=0.5: 0.5 · le=1: 0.75, 1 · le=5: 1.5, 4.99, 5
    expect(p.buckets.counts.slice(0, 6)).toEqual([3, 1, 0, 1, 2, 3]);
    expect(comparable(ours)).toEqual(comparable(histogramOf(await h.sdk(), SESSION_DURATION_HISTOGRAM.name)));
  });

  it('folds attribute sets past the cardinality limit into one overflow series, like the SDK', async () => {
    const h = twin(AggregationTemporality.CUMULATIVE);
    for (let i = 0; i < CARDINALITY_LIMIT + 5; i++) h.record(i % 7, { 'wstap.close.code': 3000 + i });
    const ours = histogramOf(await h.ours())!;
    expect(ours.dataPoints).toHaveLength(CARDINALITY_LIMIT);
    const overflow = ours.dataPoints.filter((p) => p.attributes['otel.metric.overflow'] === true);
    expect(overflow).toHaveLength(1);
    expect(comparable(ours)).toEqual(comparable(histogramOf(await h.sdk())));
  });

  it('places values like the SDK whatever the boundaries (unsorted, fractional, dense, beyond 2^32)', async () => {
    const def: HistogramDefinition = {
      ...MESSAGE_SIZE_HISTOGRAM,
      boundaries: [1000, 0.5, 3, 2, 5, 7, 8, 9, 10, 2 ** 31, 2 ** 32, 2 ** 32 + 5, 1e12],
    };
    const h = twin(AggregationTemporality.CUMULATIVE, def);
    const values = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 999, 1000, 1001, 2 ** 31 - 1, 2 ** 31, 2 ** 31 + 1];
    values.push(2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 32 + 5, 2 ** 32 + 6, 1e12, 1e12 + 1, 2 ** 53);
    values.forEach((v, i) => h.record(v, i % 2 === 0 ? C2B : B2C));
    const ours = histogramOf(await h.ours())!;
    expect(ours.dataPoints[0]!.value.buckets.boundaries).toEqual([0.5, 2, 3, 5, 7, 8, 9, 10, 1000, 2 ** 31, 2 ** 32, 2 ** 32 + 5, 1e12]);
    expect(comparable(ours)).toEqual(comparable(histogramOf(await h.sdk())));
  });

  it('keeps count, sum, min and max; truncates fractions and drops negative and non-finite values like an INT histogram', async () => {
    const h = twin(AggregationTemporality.CUMULATIVE);
    for (const v of [7, 3, 1000, 2.9, -1, Number.NaN, Infinity]) h.record(v, C2B);
    const ours = histogramOf(await h.ours())!;
    expect(ours.dataPoints[0]!.value).toMatchObject({ count: 4, sum: 1012, min: 2, max: 1000 });
    expect(comparable(ours)).toEqual(comparable(histogramOf(await h.sdk())));
  });

  it('records a run of n equal values exactly as n single measurements of the SDK', async () => {
    const h = twin(AggregationTemporality.CUMULATIVE);
    const runs: [number, number][] = [[64, 1000], [3, 1], [70_000, 7], [64, 2], [0, 5], [4.5, 3]];
    const series = h.aggregate.series(C2B);
    const sdkOnly = twin(AggregationTemporality.CUMULATIVE);
    for (const [v, n] of runs) {
      series.record(v, n);
      for (let i = 0; i < n; i++) sdkOnly.record(v, C2B);
    }
    const ours = histogramOf(await h.ours())!;
    expect(ours.dataPoints[0]!.value).toMatchObject({ count: 1018, sum: 64 * 1002 + 3 + 490_000 + 12, min: 0, max: 70_000 });
    expect(comparable(ours)).toEqual(comparable(histogramOf(await sdkOnly.sdk())));
  });

  it('carries the descriptor the SDK gives its own histogram', async () => {
    const h = twin(AggregationTemporality.CUMULATIVE);
    h.record(1, C2B);
    const ours = histogramOf(await h.ours())!;
    expect(ours.descriptor).toEqual(histogramOf(await h.sdk())!.descriptor);
    expect(ours.descriptor).toMatchObject({ name: 'wstap.message.size', type: 'HISTOGRAM', unit: 'By', valueType: ValueType.INT });
    expect(ours.descriptor).toMatchObject({ advice: { explicitBucketBoundaries: MESSAGE_SIZE_BUCKETS } });
  });

  it('reports nothing before the first measurement, then series in the order of their first one', async () => {
    const h = twin(AggregationTemporality.CUMULATIVE);
    h.aggregate.series(C2B); // created, never recorded
    expect(findMetric(await h.ours(), METRIC.MESSAGE_SIZE)).toBeUndefined();
    expect((await h.ours()).scopeMetrics).toEqual([]);
    h.record(5, B2C);
    h.record(5, C2B);
    const ours = histogramOf(await h.ours())!;
    expect(ours.dataPoints.map((p) => p.attributes)).toEqual([B2C, C2B]);
    expect(comparable(ours)).toEqual(comparable(histogramOf(await h.sdk())));
  });

  it('returns the same series for equal attribute sets', () => {
    const a = new AggregatedHistogram(MESSAGE_SIZE_HISTOGRAM);
    expect(a.series({ ...C2B })).toBe(a.series({ [ATTR.DIRECTION]: 'client_to_backend', [ATTR.BACKEND]: 'chat-1', [ATTR.ROUTE]: 'chat' }));
    expect(a.series(C2B)).not.toBe(a.series(B2C));
  });

  it.each([AggregationTemporality.CUMULATIVE, AggregationTemporality.DELTA])(
    'matches the SDK histogram over three collections (temporality %i)',
    async (temporality) => {
      const h = twin(temporality);
      let seed = 42;
      const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
      const batch = (n: number, attrs: Attributes[]) => {
        for (let i = 0; i < n; i++) h.record(Math.floor(4 ** (rand() * 14)), attrs[i % attrs.length]!);
      };
      batch(500, [C2B, B2C]);
      expect(comparable(histogramOf(await h.ours()))).toEqual(comparable(histogramOf(await h.sdk())));
      batch(300, [B2C]); // C2B has nothing new: left out of a delta collection
      expect(comparable(histogramOf(await h.ours()))).toEqual(comparable(histogramOf(await h.sdk())));
      // Nothing at all since the last collection.
      expect(comparable(histogramOf(await h.ours()))).toEqual(comparable(histogramOf(await h.sdk())));
      batch(50, [C2B]);
      expect(comparable(histogramOf(await h.ours()))).toEqual(comparable(histogramOf(await h.sdk())));
    },
  );

  it('cumulative: totals grow across collections; min/max over all time; start = first measurement', async () => {
    const a = new AggregatedHistogram(MESSAGE_SIZE_HISTOGRAM);
    const p = a.producer(SCOPE).bind(selectors(AggregationTemporality.CUMULATIVE));
    const s = a.series(C2B);
    const before = Date.now();
    s.record(10);
    s.record(2);
    const first = await point(p);
    s.record(100);
    const second = await point(p);
    expect(first.value).toMatchObject({ count: 2, sum: 12, min: 2, max: 10 });
    expect(second.value).toMatchObject({ count: 3, sum: 112, min: 2, max: 100 });
    expect(second.value.buckets.counts.slice(0, 5)).toEqual([0, 1, 1, 0, 1]);
    expect(timeMs(second.startTime)).toBe(timeMs(first.startTime));
    expect(timeMs(first.startTime)).toBeGreaterThanOrEqual(before);
    expect(timeMs(second.endTime)).toBeGreaterThanOrEqual(timeMs(first.endTime));
  });

  it('delta: each collection has only its interval, with its own min/max, starting at the previous collection', async () => {
    const a = new AggregatedHistogram(MESSAGE_SIZE_HISTOGRAM);
    const p = a.producer(SCOPE).bind(selectors(AggregationTemporality.DELTA));
    const s = a.series(C2B);
    s.record(10);
    s.record(2);
    const first = await point(p);
    s.record(100);
    s.record(50);
    const second = await point(p);
    expect(first.value).toMatchObject({ count: 2, sum: 12, min: 2, max: 10 });
    expect(second.value).toMatchObject({ count: 2, sum: 150, min: 50, max: 100 });
    expect(second.value.buckets.counts.slice(0, 5)).toEqual([0, 0, 0, 1, 1]); // 50 → (16,64], 100 → (64,256]
    expect(timeMs(second.startTime)).toBe(timeMs(first.endTime));
    expect(await collectAll(p)).toEqual([]); // nothing new: no point, no scope
  });

  it('keeps readers independent: each delta reader has its own interval, cumulative ones see everything', async () => {
    const a = new AggregatedHistogram(MESSAGE_SIZE_HISTOGRAM);
    const d1 = a.producer(SCOPE).bind(selectors(AggregationTemporality.DELTA));
    const d2 = a.producer(SCOPE).bind(selectors(AggregationTemporality.DELTA));
    const cumulative = a.producer(SCOPE).bind(selectors(AggregationTemporality.CUMULATIVE));
    const s = a.series(C2B);
    s.record(1);
    s.record(300);
    expect((await point(d1)).value).toMatchObject({ count: 2, sum: 301, min: 1, max: 300 });
    s.record(20);
    expect((await point(d1)).value).toMatchObject({ count: 1, sum: 20, min: 20, max: 20 });
    // d2 has not collected yet: it sees all three, and its min/max were not reset by d1.
    expect((await point(d2)).value).toMatchObject({ count: 3, sum: 321, min: 1, max: 300 });
    s.record(7);
    expect((await point(d2)).value).toMatchObject({ count: 1, sum: 7, min: 7, max: 7 });
    expect((await point(d1)).value).toMatchObject({ count: 1, sum: 7, min: 7, max: 7 });
    expect((await point(cumulative)).value).toMatchObject({ count: 4, sum: 328, min: 1, max: 300 });
  });

  it('honours a reader that drops histograms or turns min/max off', async () => {
    const a = new AggregatedHistogram(MESSAGE_SIZE_HISTOGRAM);
    const drop = a.producer(SCOPE).bind(selectors(AggregationTemporality.CUMULATIVE, { type: AggregationType.DROP }));
    const noMinMax = a.producer(SCOPE).bind(
      selectors(AggregationTemporality.CUMULATIVE, {
        type: AggregationType.EXPLICIT_BUCKET_HISTOGRAM,
        options: { boundaries: [...MESSAGE_SIZE_BUCKETS], recordMinMax: false },
      }),
    );
    a.series(C2B).record(3);
    expect(await collectAll(drop)).toEqual([]);
    const v = (await point(noMinMax)).value;
    expect(v).toMatchObject({ count: 1, sum: 3 });
    expect(v.min).toBeUndefined();
    expect(v.max).toBeUndefined();
  });

  it('refuses to serve two readers with one producer', () => {
    const p = new AggregatedHistogram(MESSAGE_SIZE_HISTOGRAM).producer(SCOPE);
    p.bind(selectors(AggregationTemporality.CUMULATIVE));
    expect(() => p.bind(selectors(AggregationTemporality.CUMULATIVE))).toThrow(/already bound/);
  });

  it('serialises to the same Prometheus text as the SDK histogram', async () => {
    const h = twin(AggregationTemporality.CUMULATIVE);
    for (const v of [0, 3, 64, 65, 5000, 70_000_000]) h.record(v, C2B);
    h.record(9, B2C);
    const serializer = new PrometheusSerializer();
    const ours = serializer.serialize(await h.ours());
    const sdk = serializer.serialize(await h.sdk());
    expect(ours).toContain('# TYPE wstap_message_size histogram');
    expect(ours).toContain('wstap_message_size_bucket{wstap_route="chat",wstap_backend="chat-1",wstap_direction="client_to_backend",otel_scope_name="wstap",otel_scope_version="1.2.3",le="+Inf"} 6');
    expect(ours).toBe(sdk);
  });

  it('is merged into the collections of a reader built elsewhere', async () => {
    const reader = new TestMetricReader();
    const a = new AggregatedHistogram(MESSAGE_SIZE_HISTOGRAM);
    addMetricProducer(reader, a.producer(SCOPE).bind(reader));
    const provider = new MeterProvider({ readers: [reader] });
    providers.push(provider);
    provider.getMeter('other').createCounter('other.count').add(1);
    a.series(C2B).record(42);
    const rm = await reader.read();
    expect(rm.scopeMetrics.map((s) => s.scope.name)).toEqual(['other', 'wstap']);
    expect(histogramPoint(rm, METRIC.MESSAGE_SIZE, C2B, true)).toMatchObject({ count: 1, sum: 42 });
    expect(rm.resource).toBe((await reader.collect()).resourceMetrics.resource);
  });
});

describe('wstap.message.size through startTelemetry', () => {
  const CONFIG = {
    telemetry: { service_name: 'wstap', prometheus: true, close_codes: 'exact' as const },
    alerts: { window: 900_000, abnormal_close_ratio: 0.05, abnormal_disconnect_ratio: 0.02 },
  };
  const session = (id: number, route = 'chat', backend = 'chat-1'): SessionInfo => ({ id, route, backend, pool: 'p', openedAt: 0, clientIp: '::1' });

  function start(...extraReaders: TestMetricReader[]) {
    const t = startTelemetry({ config: CONFIG, version: '1.2.3', logger: pino({ level: 'silent' }), extraReaders });
    telemetries.push(t);
    const hub = new EventHub();
    t.attach(hub);
    return { t, hub };
  }

  it('is aggregated by the recorder, never recorded on the SDK instrument', async () => {
    const reader = new TestMetricReader();
    const { t, hub } = start(reader);
    const record = vi.spyOn(t.instruments.messageSize, 'record');
    const s = session(1);
    hub.sessionOpen(s);
    for (let i = 0; i < 10; i++) hub.message(s, 'client_to_backend', 'binary', 64);
    expect(record).not.toHaveBeenCalled();
    const rm = await reader.read();
    expect(dataPoints(rm, METRIC.MESSAGE_SIZE)).toHaveLength(1); // one series, not duplicated by the SDK
    expect(histogramPoint(rm, METRIC.MESSAGE_SIZE, C2B, true)).toMatchObject({ count: 10, sum: 640, min: 64, max: 64 });
  });

  it('gives each reader its own temporality', async () => {
    const cumulative = new TestMetricReader(AggregationTemporality.CUMULATIVE);
    const delta = new TestMetricReader(AggregationTemporality.DELTA);
    const { hub } = start(cumulative, delta);
    const s = session(1);
    hub.sessionOpen(s);
    hub.message(s, 'client_to_backend', 'text', 10);
    await cumulative.read();
    await delta.read();
    hub.message(s, 'client_to_backend', 'text', 30);
    const c = await cumulative.read();
    const d = await delta.read();
    expect(findMetric(c, METRIC.MESSAGE_SIZE)!.aggregationTemporality).toBe(AggregationTemporality.CUMULATIVE);
    expect(findMetric(d, METRIC.MESSAGE_SIZE)!.aggregationTemporality).toBe(AggregationTemporality.DELTA);
    expect(histogramPoint(c, METRIC.MESSAGE_SIZE, C2B, true)).toMatchObject({ count: 2, sum: 40, min: 10, max: 30 });
    expect(histogramPoint(d, METRIC.MESSAGE_SIZE, C2B, true)).toMatchObject({ count: 1, sum: 30, min: 30, max: 30 });
  });

  it('serves the histogram on /metrics (the Prometheus reader)', async () => {
    const { t, hub } = start();
    const s = session(1);
    hub.sessionOpen(s);
    hub.message(s, 'backend_to_client', 'binary', 5000);
    const text = await scrape(t);
    expect(text).toMatch(/^wstap_message_size_count\{wstap_route="chat",wstap_backend="chat-1",wstap_direction="backend_to_client",[^}]*\} 1$/m);
    expect(text).toMatch(/^wstap_message_size_sum\{[^}]*wstap_direction="backend_to_client"[^}]*\} 5000$/m);
    expect(text).toMatch(/^wstap_message_size_bucket\{[^}]*le="4096"\} 0$/m);
    expect(text).toMatch(/^wstap_message_size_bucket\{[^}]*le="16384"\} 1$/m);
  });

  it('attributes messages to the right pair when sessions interleave, and forgets a closed session', async () => {
    const reader = new TestMetricReader();
    const { hub } = start(reader);
    const a = session(1, 'chat', 'chat-1');
    const b = session(2, 'feed', 'feed-1');
    hub.sessionOpen(a);
    hub.sessionOpen(b);
    hub.bytes(a, 'client_to_backend', 10);
    hub.message(a, 'client_to_backend', 'text', 1);
    hub.message(b, 'client_to_backend', 'text', 2);
    hub.message(a, 'client_to_backend', 'text', 3);
    hub.bytes(b, 'client_to_backend', 20);
    hub.sessionClose(a, { code: 1000, initiator: 'client', durationS: 1, messagesC2B: 2, messagesB2C: 0 });
    hub.message(a, 'client_to_backend', 'text', 4); // after its close: adopted, like an unseen session
    hub.sessionClose(a, { code: 1000, initiator: 'client', durationS: 1, messagesC2B: 3, messagesB2C: 0 });
    const rm = await reader.read();
    const feed = { [ATTR.ROUTE]: 'feed', [ATTR.BACKEND]: 'feed-1', [ATTR.DIRECTION]: 'client_to_backend' };
    expect(histogramPoint(rm, METRIC.MESSAGE_SIZE, C2B, true)).toMatchObject({ count: 3, sum: 8 });
    expect(histogramPoint(rm, METRIC.MESSAGE_SIZE, feed, true)).toMatchObject({ count: 1, sum: 2 });
    expect(dataPoints(rm, METRIC.IO, C2B)[0]!.value).toBe(10);
    expect(dataPoints(rm, METRIC.IO, feed)[0]!.value).toBe(20);
    // The second close of `a` was of an adopted session: active went 1 → 0 once, not below.
    expect(dataPoints(rm, METRIC.CONNECTIONS_ACTIVE, { [ATTR.ROUTE]: 'chat' })[0]!.value).toBe(0);
  });

  it('sends it over OTLP inside the one wstap scope, next to the SDK metrics', async () => {
    const rx = await startOtlpReceiver();
    try {
      const t = startTelemetry({
        config: { ...CONFIG, telemetry: { ...CONFIG.telemetry, prometheus: false, otlp: { endpoint: `${rx.url}/v1/metrics`, interval: 60_000, headers: {} } } },
        version: '1.2.3',
        logger: pino({ level: 'silent' }),
      });
      telemetries.push(t);
      const hub = new EventHub();
      t.attach(hub);
      const s = session(1);
      hub.sessionOpen(s);
      hub.message(s, 'client_to_backend', 'text', 20);
      hub.message(s, 'client_to_backend', 'text', 2000);
      await t.forceFlush();
      const body = rx.requests.at(-1)!.body as { resourceMetrics: Array<{ scopeMetrics: Array<{ scope: { name: string; version: string }; metrics: Array<{ name: string }> }> }> };
      const scopes = body.resourceMetrics[0]!.scopeMetrics;
      expect(scopes.map((sm) => sm.scope)).toEqual([{ name: 'wstap', version: '1.2.3' }]);
      expect(scopes[0]!.metrics.map((m) => m.name)).toEqual(expect.arrayContaining([METRIC.CONNECTIONS, METRIC.MESSAGES, METRIC.MESSAGE_SIZE]));
      const [size] = rx.latest(METRIC.MESSAGE_SIZE);
      expect(size).toMatchObject({ kind: 'histogram', unit: 'By', count: 2, sum: 2020, attributes: C2B, explicitBounds: MESSAGE_SIZE_BUCKETS });
      expect(size!.bucketCounts!.slice(0, 7)).toEqual([0, 0, 0, 1, 0, 0, 1]);
    } finally {
      await rx.close();
    }
  });

  it('still records through the SDK instrument when the recorder has no aggregate', async () => {
    const reader = new TestMetricReader();
    const provider = new MeterProvider({ readers: [reader] });
    providers.push(provider);
    const recorder = new TelemetryRecorder(createInstruments(provider.getMeter('wstap')));
    const s = session(1);
    recorder.sessionOpen(s);
    recorder.message(s, 'client_to_backend', 'text', 12);
    expect(histogramPoint(await reader.read(), METRIC.MESSAGE_SIZE, C2B, true)).toMatchObject({ count: 1, sum: 12 });
  });
});

describe('mergeSameScopes', () => {
  const rm = (scopes: Array<[string, string | undefined, string]>): ResourceMetrics => ({
    resource: emptyResource(),
    scopeMetrics: scopes.map(([name, version, metric]) => ({
      scope: { name, version },
      metrics: [{ descriptor: { name: metric } } as MetricData],
    })),
  });
  const shape = (r: ResourceMetrics) => r.scopeMetrics.map((sm) => [sm.scope.name, sm.scope.version, sm.metrics.map((m) => m.descriptor.name)]);

  it('folds entries of the same scope into the first, keeping other scopes and the order', () => {
    const input = rm([['wstap', '1', 'a'], ['other', '1', 'b'], ['wstap', '1', 'c'], ['wstap', '2', 'd']]);
    const out = mergeSameScopes(input);
    expect(shape(out)).toEqual([['wstap', '1', ['a', 'c']], ['other', '1', ['b']], ['wstap', '2', ['d']]]);
    expect(out.resource).toBe(input.resource);
    expect(shape(input)).toEqual([['wstap', '1', ['a']], ['other', '1', ['b']], ['wstap', '1', ['c']], ['wstap', '2', ['d']]]); // not mutated
  });

  it('returns the input itself when every scope is already single', () => {
    const input = rm([['wstap', '1', 'a'], ['other', undefined, 'b']]);
    expect(mergeSameScopes(input)).toBe(input);
  });
});

describe('StatusWindow message accounting', () => {
  const s: SessionInfo = { id: 1, route: 'chat', backend: 'chat-1', pool: 'chat', openedAt: 0, clientIp: '::1' };
  const options = { windowMs: 900_000, abnormalCloseRatio: 0.05, abnormalDisconnectRatio: 0.02 };

  it('reads no clock per message when the tunnel passes the chunk time', () => {
    const window = new StatusWindow(options);
    const now = vi.spyOn(performance, 'now');
    const t0 = performance.now();
    now.mockClear();
    for (let i = 0; i < 1000; i++) window.message(s, 'client_to_backend', 'binary', 64, t0);
    expect(now).not.toHaveBeenCalled();
    expect(window.messageRates().client_to_backend.messages).toBe(1000);
  });

  it('counts each message in the second of its chunk time, over the last minute', () => {
    const window = new StatusWindow(options);
    const t0 = performance.now();
    const hub = new EventHub();
    hub.subscribe(window);
    hub.message(s, 'client_to_backend', 'text', 100, t0 - 120_000); // two minutes ago: out of the window
    hub.message(s, 'client_to_backend', 'text', 100, t0 - 30_000);
    hub.message(s, 'client_to_backend', 'text', 100, t0 - 30_000);
    hub.message(s, 'backend_to_client', 'text', 7, t0 - 2_000);
    hub.message(s, 'client_to_backend', 'text', 100, t0);
    const r = window.messageRates();
    expect(r.client_to_backend.messages).toBe(3);
    expect(r.backend_to_client.messages).toBe(1);
  });

  it('gives the figures of a per-message clock read, across second boundaries and ring turns', () => {
    let now = 5_000_000;
    const window = new StatusWindow({ ...options, now: () => now });
    // The reference: every message filed under floor(t / 1000), the last 60 seconds summed.
    const model = new Map<number, { messages: [number, number]; bytes: [number, number] }>();
    let x = 7;
    const rnd = () => (x = (x * 48271) % 2147483647) / 2147483647;
    for (let i = 1; i <= 6000; i++) {
      now += i % 1000 === 0 ? 45_000 : rnd() * 40; // ≈ 6 min in all, with a few long gaps
      const d = rnd() < 0.5 ? 0 : 1;
      const size = Math.floor(rnd() * 1000);
      window.message(s, d === 0 ? 'client_to_backend' : 'backend_to_client', 'binary', size);
      const sec = Math.floor(now / 1000);
      const m = model.get(sec) ?? { messages: [0, 0], bytes: [0, 0] };
      m.messages[d]++;
      m.bytes[d] += size;
      model.set(sec, m);
      if (i % 250 === 0) {
        const nowSec = Math.floor(now / 1000);
        const expected = [0, 0];
        for (const [sec2, v] of model) if (sec2 > nowSec - 60 && sec2 <= nowSec) for (const k of [0, 1]) expected[k]! += v.messages[k]!;
        const r = window.messageRates();
        expect([r.client_to_backend.messages, r.backend_to_client.messages], `after ${i} messages`).toEqual(expected);
      }
    }
  });
});

// ---- helpers ----

function selectors(temporality: AggregationTemporality, aggregation: AggregationOption = { type: AggregationType.DEFAULT }) {
  return { selectAggregationTemporality: () => temporality, selectAggregation: () => aggregation };
}

async function collectAll(p: MetricProducer) {
  return (await p.collect()).resourceMetrics.scopeMetrics;
}

async function point(p: MetricProducer): Promise<DataPoint<Histogram>> {
  const scopes = await collectAll(p);
  expect(scopes).toHaveLength(1);
  expect(scopes[0]!.scope).toEqual(SCOPE);
  const m = scopes[0]!.metrics[0] as HistogramMetricData;
  expect(m.dataPoints).toHaveLength(1);
  return m.dataPoints[0]!;
}

async function scrape(t: Telemetry): Promise<string> {
  const { createServer } = await import('node:http');
  const server = createServer(t.prometheusHandler!);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const { port } = server.address() as { port: number };
    return await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  } finally {
    await new Promise((r) => server.close(r));
  }
}
