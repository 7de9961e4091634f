/**
 * Test helpers for reading metrics back in-process: a pull reader whose `collect()` the test
 * calls, and finders that pick a metric's data points by name and attributes out of a
 * `ResourceMetrics`. Reusable by any test that drives the proxy with a recorder attached.
 */
import type { Attributes } from '@opentelemetry/api';
import {
  AggregationTemporality,
  DataPointType,
  MetricReader,
  type DataPoint,
  type Histogram,
  type MetricData,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';

/** A pull reader for tests: nothing is exported until the test calls `collect()`. */
export class TestMetricReader extends MetricReader {
  constructor(temporality: AggregationTemporality = AggregationTemporality.CUMULATIVE) {
    super({ aggregationTemporalitySelector: () => temporality });
  }

  /** Collect and return the resource metrics (throws on collection errors). */
  async read(): Promise<ResourceMetrics> {
    const { resourceMetrics, errors } = await this.collect();
    if (errors.length > 0) throw new AggregateError(errors, 'metric collection failed');
    return resourceMetrics;
  }

  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

/** The metric named `name` (first scope that has it), or undefined. */
export function findMetric(rm: ResourceMetrics, name: string): MetricData | undefined {
  for (const scope of rm.scopeMetrics) {
    const m = scope.metrics.find((x) => x.descriptor.name === name);
    if (m !== undefined) return m;
  }
  return undefined;
}

/** Every metric name present in `rm`. */
export function metricNames(rm: ResourceMetrics): string[] {
  return rm.scopeMetrics.flatMap((s) => s.metrics.map((m) => m.descriptor.name));
}

/** True when `attrs` holds every key/value of `wanted` (and, with `exact`, nothing else). */
export function attributesMatch(attrs: Attributes, wanted: Attributes, exact = false): boolean {
  const keys = Object.keys(wanted);
  if (exact && Object.keys(attrs).length !== keys.length) return false;
  return keys.every((k) => attrs[k] === wanted[k]);
}

/** Data points of metric `name` whose attributes include `wanted`. */
export function dataPoints(rm: ResourceMetrics, name: string, wanted: Attributes = {}, exact = false): DataPoint<unknown>[] {
  const m = findMetric(rm, name);
  if (m === undefined) return [];
  return (m.dataPoints as DataPoint<unknown>[]).filter((p) => attributesMatch(p.attributes, wanted, exact));
}

/**
 * The value of the one sum/gauge point of `name` matching `wanted`; undefined if none.
 * Throws if several points match, so a test cannot silently pick the wrong series.
 */
export function pointValue(rm: ResourceMetrics, name: string, wanted: Attributes = {}, exact = false): number | undefined {
  const m = findMetric(rm, name);
  if (m === undefined) return undefined;
  if (m.dataPointType !== DataPointType.SUM && m.dataPointType !== DataPointType.GAUGE) {
    throw new Error(`${name} is not a sum or gauge`);
  }
  const points = dataPoints(rm, name, wanted, exact);
  if (points.length > 1) throw new Error(`${points.length} points of ${name} match ${JSON.stringify(wanted)}`);
  return points[0]?.value as number | undefined;
}

/** The sum of every sum/gauge point of `name` matching `wanted` (0 when none). */
export function sumValues(rm: ResourceMetrics, name: string, wanted: Attributes = {}): number {
  return dataPoints(rm, name, wanted).reduce((acc, p) => acc + (p.value as number), 0);
}

/** The one histogram point of `name` matching `wanted`; undefined if none. */
export function histogramPoint(rm: ResourceMetrics, name: string, wanted: Attributes = {}, exact = false): Histogram | undefined {
  const m = findMetric(rm, name);
  if (m === undefined) return undefined;
  if (m.dataPointType !== DataPointType.HISTOGRAM) throw new Error(`${name} is not a histogram`);
  const points = dataPoints(rm, name, wanted, exact);
  if (points.length > 1) throw new Error(`${points.length} points of ${name} match ${JSON.stringify(wanted)}`);
  return points[0]?.value as Histogram | undefined;
}
