/**
 * Wraps the OTLP exporter so that a collector outage is logged once, not on every interval,
 * and its recovery once more. Without it export failures are either silent (the SDK reports
 * them to `diag`, which logs nothing unless a diag logger is installed) or, with a diag logger,
 * one error line every 10 s for as long as the collector is down.
 *
 * It also merges the scope metrics that the reader's producers (`wstap.message.size`) append
 * under the wstap scope into the SDK's entry for it, so a request carries one entry per scope.
 */
import type { PushMetricExporter, ResourceMetrics, InstrumentType, AggregationOption } from '@opentelemetry/sdk-metrics';
import { AggregationTemporality, AggregationType } from '@opentelemetry/sdk-metrics';
import type { Logger } from '../log.js';
import { mergeSameScopes } from './aggregated-histogram.js';

type ExportCallback = Parameters<PushMetricExporter['export']>[1];

// ExportResultCode.SUCCESS of @opentelemetry/core, which is not a direct dependency.
const SUCCESS = 0;

/** A {@link PushMetricExporter} that delegates everything and logs state changes of export health. */
export class LoggingExporter implements PushMetricExporter {
  #failing = false;
  #failures = 0;

  /**
   * @param inner the real exporter
   * @param logger where the two state-change lines go
   * @param target what to name in the log line (the endpoint, or "OTEL_EXPORTER_OTLP_* endpoint")
   */
  constructor(
    private readonly inner: PushMetricExporter,
    private readonly logger: Logger,
    private readonly target: string,
  ) {}

  /** True while the last export failed. */
  get failing(): boolean {
    return this.#failing;
  }

  export(metrics: ResourceMetrics, resultCallback: ExportCallback): void {
    let settled = false;
    const done: ExportCallback = (result) => {
      if (settled) return;
      settled = true;
      this.#observe(result.code === SUCCESS, result.error);
      resultCallback(result);
    };
    try {
      this.inner.export(mergeSameScopes(metrics), done);
    } catch (err) {
      done({ code: 1, error: err instanceof Error ? err : new Error(String(err)) });
    }
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  // The reader binds these at construction; delegating keeps the exporter's temporality
  // preference (OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE) in force.
  selectAggregationTemporality(instrumentType: InstrumentType): AggregationTemporality {
    return this.inner.selectAggregationTemporality?.(instrumentType) ?? AggregationTemporality.CUMULATIVE;
  }

  selectAggregation(instrumentType: InstrumentType): AggregationOption {
    return this.inner.selectAggregation?.(instrumentType) ?? { type: AggregationType.DEFAULT };
  }

  #observe(ok: boolean, error: Error | undefined): void {
    if (ok) {
      if (this.#failing) {
        this.logger.info({ target: this.target, failedExports: this.#failures }, 'metrics export recovered');
      }
      this.#failing = false;
      this.#failures = 0;
      return;
    }
    this.#failures++;
    if (!this.#failing) {
      this.#failing = true;
      this.logger.warn(
        { target: this.target, err: error?.message ?? 'unknown error' },
        'metrics export failed; further failures are not logged until an export succeeds',
      );
    }
  }
}
