/**
 * Histograms aggregated by wstap itself, for measurements on the per-message hot path.
 *
 * The SDK's synchronous Histogram hashes the attribute object on every `record()` (a JSON string
 * of the sorted keys) and looks the series up in a hash map: in a 64-byte flood that was ≈ 85 %
 * of the proxy's CPU. Here each series is a plain object that the caller creates once and keeps
 * (the recorder: one per route × backend × direction), so recording is a binary search over the
 * boundaries and a few additions on numbers and a typed array.
 *
 * Export goes through a {@link HistogramProducer}, one per reader (`metricProducers` of the
 * reader): at each collection it builds exactly the `HistogramMetricData` the SDK would have
 * built for that reader from the same measurements — same descriptor (`type: HISTOGRAM`, unit,
 * `valueType`, `advice`), boundaries, count, sum, min and max, and the reader's temporality
 * (cumulative, or delta since that reader's own previous collection). Semantics follow
 * `HistogramAggregator`, `DeltaMetricProcessor` and `TemporalMetricProcessor` of
 * sdk-metrics 2.12:
 * - a value lands in the first bucket whose upper bound is ≥ the value (`binarySearchUB`);
 * - INT values: fractions are truncated, negative and non-finite values are dropped;
 * - a series appears once it has a measurement; data points follow the order of first
 *   measurement; cumulative start time is the first measurement's time;
 * - delta: series without new measurements are left out; min/max cover the interval only; the
 *   start time is the reader's previous collection (or the first measurement, if later).
 *
 * Like the SDK, at most {@link CARDINALITY_LIMIT} series (the last one is the overflow series).
 */
import { diag, ValueType, type Attributes, type HrTime, type MetricAdvice } from '@opentelemetry/api';
import {
  AggregationTemporality,
  AggregationType,
  DataPointType,
  InstrumentType,
  type CollectionResult,
  type DataPoint,
  type Histogram,
  type HistogramMetricData,
  type IMetricReader,
  type MetricCollectOptions,
  type MetricDescriptor,
  type MetricProducer,
  type ResourceMetrics,
  type ScopeMetrics,
} from '@opentelemetry/sdk-metrics';
import { emptyResource } from '@opentelemetry/resources';

/** What defines a histogram metric: the same fields as `meter.createHistogram()` takes. */
export interface HistogramDefinition {
  readonly name: string;
  readonly description: string;
  readonly unit: string;
  readonly valueType: ValueType;
  /** Upper bounds of the buckets (`advice.explicitBucketBoundaries`). */
  readonly boundaries: readonly number[];
}

/** The instrument descriptor the SDK attaches to a histogram's metric data. */
export type HistogramDescriptor = MetricDescriptor & { readonly type: InstrumentType; readonly advice: MetricAdvice };

/** The instrumentation scope (meter name and version) the metric is reported under. */
export type Scope = ScopeMetrics['scope'];

const NO_SLOTS = new Float64Array(0);

/**
 * Series per histogram, like the SDK's default cardinality limit (2000 per instrument and
 * reader): attribute sets past it are folded into one series marked `otel.metric.overflow`.
 * Clients choose close codes (3000–4999), so `wstap.session.duration` needs the bound.
 */
export const CARDINALITY_LIMIT = 2000;
const OVERFLOW_ATTRIBUTES: Attributes = Object.freeze({ 'otel.metric.overflow': true });

/** One attribute set of an {@link AggregatedHistogram}: running totals since the start. */
export class HistogramSeries {
  /** Measurements per bucket, cumulative (`boundaries.length + 1` buckets). */
  readonly counts: Float64Array;
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;
  /** `Date.now()` of the first measurement. */
  startMs = 0;
  /** Min and max since the last collection of each delta reader, by slot. */
  winMin: Float64Array = NO_SLOTS;
  winMax: Float64Array = NO_SLOTS;
  readonly #bounds: Float64Array;
  /** Shared with the other series: see {@link AggregatedHistogram} and {@link #bucket}. */
  readonly #byBitLength: Int32Array;
  readonly #owner: AggregatedHistogram;
  /** An INT instrument: fractions are truncated. */
  readonly #int: boolean;

  constructor(owner: AggregatedHistogram, readonly attributes: Attributes, bounds: Float64Array, byBitLength: Int32Array, slots: number) {
    this.#owner = owner;
    this.#int = owner.descriptor.valueType === ValueType.INT;
    this.#bounds = bounds;
    this.#byBitLength = byBitLength;
    this.counts = new Float64Array(bounds.length + 1);
    this.grow(slots);
  }

  /** Record `value`, `n` times, as `n` calls would (`n` ≥ 1; the hot path). */
  record(value: number, n = 1): void {
    // Negative and NaN: the SDK drops them (a Histogram takes no negative value).
    if (!(value >= 0)) return;
    if (this.#int && !Number.isInteger(value)) {
      // INT instrument: the SDK truncates fractions and drops what is still not an integer.
      value = Math.trunc(value);
      if (!Number.isFinite(value)) return;
    }
    if (this.count === 0) {
      this.startMs = Date.now();
      this.#owner.activate(this);
    }
    this.count += n;
    this.sum += n === 1 ? value : value * n;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
    this.counts[this.#bucket(value)]! += n;
    const wMin = this.winMin;
    for (let i = 0; i < wMin.length; i++) {
      if (value < wMin[i]!) wMin[i] = value;
      if (value > this.winMax[i]!) this.winMax[i] = value;
    }
  }

  /**
   * The first bucket whose upper bound is >= `value` (upper-inclusive, like the SDK's
   * `binarySearchUB`). Below 2^32 the value's bit length gives the first candidate, and at most
   * the few boundaries within that power of two are stepped over: with the message-size bounds
   * (powers of 4) one comparison or two instead of a four-step binary search, whose branches
   * mispredict when sizes vary (≈ 4 ns of ≈ 13 per message in a micro-benchmark).
   */
  #bucket(value: number): number {
    const b = this.#bounds;
    let i: number;
    if (value < 4294967296) {
      i = this.#byBitLength[32 - Math.clz32(value)]!;
      while (i < b.length && b[i]! < value) i++;
      return i;
    }
    i = 0;
    let hi = b.length;
    while (i < hi) {
      const mid = (i + hi) >>> 1;
      if (b[mid]! < value) i = mid + 1;
      else hi = mid;
    }
    return i;
  }

  /** Make room for `slots` delta readers (new slots start empty). */
  grow(slots: number): void {
    const n = this.winMin.length;
    if (slots <= n) return;
    const min = new Float64Array(slots).fill(Infinity);
    const max = new Float64Array(slots).fill(-Infinity);
    min.set(this.winMin);
    max.set(this.winMax);
    this.winMin = min;
    this.winMax = max;
  }
}

/**
 * A histogram metric aggregated outside the SDK. Create its series with {@link series}, record
 * on them, and give every reader its own {@link producer}.
 */
export class AggregatedHistogram {
  readonly descriptor: HistogramDescriptor;
  /** Sorted, without ±Infinity: what the SDK's explicit-bucket aggregation keeps. */
  readonly boundaries: readonly number[];
  readonly #bounds: Float64Array;
  /** By bit length L (0–32): how many boundaries are below 2^(L−1), the least value of that length. */
  readonly #byBitLength = new Int32Array(33);
  readonly #byKey = new Map<string, HistogramSeries>();
  /** Every series, the overflow one included (for new delta slots). */
  readonly #all: HistogramSeries[] = [];
  #overflow: HistogramSeries | undefined;
  /** Series with at least one measurement, in the order of their first one. */
  readonly #active: HistogramSeries[] = [];
  #slots = 0;

  constructor(definition: HistogramDefinition) {
    const sorted = [...definition.boundaries].sort((a, b) => a - b).filter((b) => Number.isFinite(b));
    this.boundaries = Object.freeze(sorted);
    this.#bounds = Float64Array.from(sorted);
    for (let bits = 1; bits <= 32; bits++) this.#byBitLength[bits] = sorted.filter((b) => b < 2 ** (bits - 1)).length;
    this.descriptor = Object.freeze({
      name: definition.name,
      type: InstrumentType.HISTOGRAM,
      description: definition.description,
      unit: definition.unit,
      valueType: definition.valueType,
      advice: { explicitBucketBoundaries: [...definition.boundaries] },
    });
  }

  /** The series of `attributes` (the same object for equal attribute sets). Keep it: lookups are not free. */
  series(attributes: Attributes): HistogramSeries {
    const key = JSON.stringify(Object.keys(attributes).sort().map((k) => [k, attributes[k]]));
    let s = this.#byKey.get(key);
    if (s === undefined) {
      // Past the limit, new attribute sets share one overflow series, as the SDK does.
      if (this.#byKey.size >= CARDINALITY_LIMIT - 1) return (this.#overflow ??= this.#newSeries(OVERFLOW_ATTRIBUTES));
      s = this.#newSeries(attributes);
      this.#byKey.set(key, s);
    }
    return s;
  }

  #newSeries(attributes: Attributes): HistogramSeries {
    const s = new HistogramSeries(this, attributes, this.#bounds, this.#byBitLength, this.#slots);
    this.#all.push(s);
    return s;
  }

  /** A producer for one reader; call {@link HistogramProducer.bind} with that reader. */
  producer(scope: Scope): HistogramProducer {
    return new HistogramProducer(this, scope);
  }

  /** @internal A series got its first measurement. */
  activate(s: HistogramSeries): void {
    this.#active.push(s);
  }

  /** @internal Series with measurements, in order of the first one. */
  active(): readonly HistogramSeries[] {
    return this.#active;
  }

  /** @internal Reserve a min/max slot for a delta reader. */
  allocateSlot(): number {
    const slot = this.#slots++;
    for (const s of this.#all) s.grow(this.#slots);
    return slot;
  }
}

/** The previous collection's cumulative values of a series (delta readers). */
interface Reported {
  readonly counts: Float64Array;
  count: number;
  sum: number;
}

/**
 * Exports an {@link AggregatedHistogram} to one reader, as a {@link MetricProducer} the reader
 * merges into its collections. Bind it to its reader before the first measurement (a delta
 * reader needs its own min/max slot from the start).
 */
export class HistogramProducer implements MetricProducer {
  readonly #h: AggregatedHistogram;
  readonly #scope: Scope;
  #bound = false;
  #temporality = AggregationTemporality.CUMULATIVE;
  #drop = false;
  #minMax = true;
  /** Delta: this reader's min/max slot, and what it reported last time. */
  #slot = -1;
  readonly #last = new Map<HistogramSeries, Reported>();
  #lastCollectionMs = -Infinity;

  constructor(histogram: AggregatedHistogram, scope: Scope) {
    this.#h = histogram;
    this.#scope = scope;
  }

  /** Adopt `reader`'s temporality and aggregation for histograms, as the SDK does for its instruments. */
  bind(reader: Pick<IMetricReader, 'selectAggregationTemporality' | 'selectAggregation'>): this {
    if (this.#bound) throw new Error(`the ${this.#h.descriptor.name} producer is already bound to a reader`);
    this.#bound = true;
    this.#temporality = reader.selectAggregationTemporality(InstrumentType.HISTOGRAM);
    const aggregation = reader.selectAggregation(InstrumentType.HISTOGRAM);
    switch (aggregation.type) {
      case AggregationType.DEFAULT:
        break; // the advice's explicit buckets, min and max
      case AggregationType.DROP:
        this.#drop = true;
        break;
      case AggregationType.EXPLICIT_BUCKET_HISTOGRAM: {
        this.#minMax = aggregation.options?.recordMinMax ?? true;
        const wanted = [...(aggregation.options?.boundaries ?? [])].sort((a, b) => a - b).filter((b) => Number.isFinite(b));
        const same = wanted.length === this.#h.boundaries.length && wanted.every((b, i) => b === this.#h.boundaries[i]);
        if (!same) this.#warnUnsupported('explicit buckets with other boundaries');
        break;
      }
      default:
        this.#warnUnsupported(`${AggregationType[aggregation.type]} aggregation`);
    }
    if (this.#temporality === AggregationTemporality.DELTA && !this.#drop) this.#slot = this.#h.allocateSlot();
    return this;
  }

  async collect(_options?: MetricCollectOptions): Promise<CollectionResult> {
    return { resourceMetrics: { resource: emptyResource(), scopeMetrics: this.#scopeMetrics() }, errors: [] };
  }

  // Synchronous, so the snapshot is consistent: no measurement can land halfway through.
  #scopeMetrics(): ScopeMetrics[] {
    const nowMs = Date.now();
    const delta = this.#temporality === AggregationTemporality.DELTA;
    const lastMs = this.#lastCollectionMs;
    this.#lastCollectionMs = nowMs;
    if (this.#drop) return [];
    const endTime = hrTime(nowMs);
    const boundaries = this.#h.boundaries as number[];
    const points: DataPoint<Histogram>[] = [];
    for (const s of this.#h.active()) {
      let counts: number[];
      let count: number;
      let sum: number;
      let min: number;
      let max: number;
      let startMs: number;
      if (!delta) {
        counts = Array.from(s.counts);
        ({ count, sum, min, max, startMs } = s);
      } else {
        let last = this.#last.get(s);
        if (last === undefined) {
          last = { counts: new Float64Array(s.counts.length), count: 0, sum: 0 };
          this.#last.set(s, last);
        }
        count = s.count - last.count;
        if (count === 0) continue;
        counts = new Array<number>(s.counts.length);
        for (let i = 0; i < counts.length; i++) counts[i] = s.counts[i]! - last.counts[i]!;
        sum = s.sum - last.sum;
        last.counts.set(s.counts);
        last.count = s.count;
        last.sum = s.sum;
        const slot = this.#slot;
        min = s.winMin[slot]!;
        max = s.winMax[slot]!;
        s.winMin[slot] = Infinity;
        s.winMax[slot] = -Infinity;
        startMs = Math.max(s.startMs, lastMs);
      }
      points.push({
        attributes: s.attributes,
        startTime: hrTime(startMs),
        endTime,
        value: {
          min: this.#minMax ? min : undefined,
          max: this.#minMax ? max : undefined,
          sum,
          buckets: { boundaries, counts },
          count,
        },
      });
    }
    if (points.length === 0) return [];
    const metric: HistogramMetricData = {
      descriptor: this.#h.descriptor,
      aggregationTemporality: this.#temporality,
      dataPointType: DataPointType.HISTOGRAM,
      dataPoints: points,
    };
    return [{ scope: this.#scope, metrics: [metric] }];
  }

  #warnUnsupported(what: string): void {
    diag.warn(`${this.#h.descriptor.name} is aggregated by wstap with explicit buckets; the reader's ${what} is not applied to it`);
  }
}

/**
 * Give an already-built reader one more producer. `MetricReader` takes producers only in its
 * constructor (`metricProducers`), so readers built elsewhere (tests' in-memory readers) get
 * their `collect()` wrapped, merging the results the way `MetricReader.collect()` merges its
 * own producers: the SDK's resource, the scope metrics and errors of both.
 */
export function addMetricProducer(reader: IMetricReader, producer: MetricProducer): void {
  const collect = reader.collect.bind(reader);
  reader.collect = async (options) => {
    const [own, extra] = await Promise.all([collect(options), producer.collect(options)]);
    return {
      resourceMetrics: {
        resource: own.resourceMetrics.resource,
        scopeMetrics: own.resourceMetrics.scopeMetrics.concat(extra.resourceMetrics.scopeMetrics),
      },
      errors: own.errors.concat(extra.errors),
    };
  };
}

/**
 * One `ScopeMetrics` per instrumentation scope. `MetricReader.collect()` appends each
 * producer's scope metrics after the SDK's, so a producer reporting under the wstap meter's
 * scope leaves two entries for that scope. OTLP allows it, but merging them keeps the request
 * what the SDK alone would send (the OTLP exporter wrapper calls this before exporting).
 */
export function mergeSameScopes(rm: ResourceMetrics): ResourceMetrics {
  const byScope = new Map<string, ScopeMetrics>();
  const scopeMetrics: ScopeMetrics[] = [];
  let merged = false;
  for (const sm of rm.scopeMetrics) {
    const key = `${sm.scope.name}\0${sm.scope.version ?? ''}\0${sm.scope.schemaUrl ?? ''}`;
    const first = byScope.get(key);
    if (first === undefined) {
      const copy = { scope: sm.scope, metrics: [...sm.metrics] };
      byScope.set(key, copy);
      scopeMetrics.push(copy);
    } else {
      first.metrics.push(...sm.metrics);
      merged = true;
    }
  }
  return merged ? { resource: rm.resource, scopeMetrics } : rm;
}

/** `millisToHrTime` of @opentelemetry/core (not a direct dependency): what the SDK stamps points with. */
function hrTime(epochMs: number): HrTime {
  return [Math.trunc(epochMs / 1000), Math.round((epochMs % 1000) * 1e6)];
}
