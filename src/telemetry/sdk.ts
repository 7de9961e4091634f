/**
 * Telemetry bootstrap: the MeterProvider (resource, readers), the recorder and the /status
 * window. The only place that wires `@opentelemetry/*` together; the app receives observers to
 * subscribe to its EventHub, a `/metrics` handler for the admin server and a bounded shutdown.
 */
import { randomUUID } from 'node:crypto';
import type { ObservableResult } from '@opentelemetry/api';
import { MeterProvider, PeriodicExportingMetricReader, type IMetricReader, type MetricProducer } from '@opentelemetry/sdk-metrics';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import type { Config } from '../config/types.js';
import type { EventHub, ProxyObserver } from '../events.js';
import type { Logger } from '../log.js';
import type { CoreSnapshot } from '../snapshot.js';
import {
  createInstruments,
  HANDSHAKE_DURATION_HISTOGRAM,
  MESSAGE_SIZE_HISTOGRAM,
  PING_DURATION_HISTOGRAM,
  SESSION_DURATION_HISTOGRAM,
  SESSION_MESSAGES_HISTOGRAM,
  type Instruments,
} from './instruments.js';
import type { RecorderHistograms } from './attribute-sets.js';
import { AggregatedHistogram, addMetricProducer } from './aggregated-histogram.js';
import { ATTR, METER_NAME } from './names.js';
import { TelemetryRecorder } from './recorder.js';
import { MonitorRecorder, noopMonitorMetrics, type MonitorMetrics } from './monitor-metrics.js';
import { LoggingExporter } from './export-guard.js';
import { createPrometheusHandler, createPrometheusReader, createPrometheusText, type MetricsHandler, type MetricsText } from './prometheus.js';
import { StatusWindow } from './status-window.js';

/** What {@link startTelemetry} needs. */
export interface TelemetryOptions {
  /** The normalised config (`telemetry` and `alerts` are read). */
  readonly config: Pick<Config, 'telemetry' | 'alerts'>;
  /** `service.version` (the package version). */
  readonly version: string;
  /** The core's view, read at each collection for `wstap.backend.up`; omit where there is no proxy. */
  readonly snapshot?: () => CoreSnapshot;
  readonly logger: Logger;
  /** Further readers (tests: an in-memory reader). */
  readonly extraReaders?: readonly IMetricReader[];
  /** Clock of the status window (tests). */
  readonly now?: () => number;
}

/** A running telemetry pipeline. */
export interface Telemetry {
  /** Subscribe each of these to the EventHub (or call {@link Telemetry.attach}). */
  readonly observers: readonly ProxyObserver[];
  readonly recorder: TelemetryRecorder;
  readonly statusWindow: StatusWindow;
  /** For `src/monitor/`: records `wstap.monitor.*` (a no-op when no reader is configured). */
  readonly monitors: MonitorMetrics;
  readonly instruments: Instruments;
  readonly meterProvider: MeterProvider;
  /** The effective `service.instance.id`. */
  readonly instanceId: string;
  /** Serves Prometheus text for `GET /metrics`; absent when `telemetry.prometheus` is false. */
  readonly prometheusHandler?: MetricsHandler;
  /** The same Prometheus text, for a cluster worker to hand to the primary. */
  readonly prometheusText?: MetricsText;
  /** Subscribe every observer to `hub`; returns the function that unsubscribes them. */
  attach(hub: EventHub): () => void;
  /** Apply what a config reload may change live (close-code grouping, alert thresholds). */
  reload(config: Pick<Config, 'telemetry' | 'alerts'>): void;
  /** Export now (tests, `wstap monitor --once`). */
  forceFlush(): Promise<void>;
  /** Final export and shutdown, bounded by `timeoutMs` (default 5000); idempotent, never rejects. */
  shutdown(timeoutMs?: number): Promise<void>;
}

const DEFAULT_EXPORT_TIMEOUT_MS = 30_000;

/** Build the MeterProvider, the recorder and the status window from the config. */
export function startTelemetry(opts: TelemetryOptions): Telemetry {
  const { config, logger } = opts;
  const t = config.telemetry;
  const log = logger.child({ component: 'telemetry' });

  const resource = defaultResource()
    .merge(
      resourceFromAttributes({
        'service.name': t.service_name,
        'service.version': opts.version,
        // Unique per process so replicas and cluster workers never merge their cumulative series.
        'service.instance.id': randomUUID(),
      }),
    )
    // Last, so OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES win: they are the deployment's override.
    .merge(detectResources({ detectors: [envDetector] }));

  // The per-message and per-session histograms are aggregated by the recorder, off the SDK's
  // per-record attribute hashing; every reader gets a producer of each, which knows that
  // reader's temporality.
  const histograms: RecorderHistograms = {
    messageSize: new AggregatedHistogram(MESSAGE_SIZE_HISTOGRAM),
    sessionDuration: new AggregatedHistogram(SESSION_DURATION_HISTOGRAM),
    sessionMessages: new AggregatedHistogram(SESSION_MESSAGES_HISTOGRAM),
    handshakeDuration: new AggregatedHistogram(HANDSHAKE_DURATION_HISTOGRAM),
    pingDuration: new AggregatedHistogram(PING_DURATION_HISTOGRAM),
  };
  const aggregates = Object.values(histograms);
  const scope = { name: METER_NAME, version: opts.version, schemaUrl: undefined };
  const withAggregates = <R extends IMetricReader>(build: (metricProducers: MetricProducer[]) => R): R => {
    const producers = aggregates.map((h) => h.producer(scope));
    const reader = build(producers);
    for (const p of producers) p.bind(reader);
    return reader;
  };

  const readers: IMetricReader[] = [];
  if (t.otlp !== undefined) {
    // Pass `url` only when configured: an explicit url silences OTEL_EXPORTER_OTLP_*ENDPOINT.
    const exporter = new OTLPMetricExporter({
      ...(t.otlp.endpoint !== undefined ? { url: t.otlp.endpoint } : {}),
      ...(Object.keys(t.otlp.headers).length > 0 ? { headers: { ...t.otlp.headers } } : {}),
    });
    const target = t.otlp.endpoint ?? 'the OTEL_EXPORTER_OTLP_* endpoint';
    const interval = t.otlp.interval;
    readers.push(
      withAggregates(
        (metricProducers) =>
          new PeriodicExportingMetricReader({
            exporter: new LoggingExporter(exporter, log, target),
            exportIntervalMillis: interval,
            // The SDK throws if the timeout exceeds the interval.
            exportTimeoutMillis: Math.min(DEFAULT_EXPORT_TIMEOUT_MS, interval),
            metricProducers,
          }),
      ),
    );
  }
  const prometheus = t.prometheus ? withAggregates(createPrometheusReader) : undefined;
  if (prometheus !== undefined) readers.push(prometheus);
  for (const reader of opts.extraReaders ?? []) {
    // Built by the caller, so too late for `metricProducers`: wrap its collect() instead.
    for (const h of aggregates) addMetricProducer(reader, h.producer(scope).bind(reader));
    readers.push(reader);
  }

  const meterProvider = new MeterProvider({ resource, readers });
  const instruments = createInstruments(meterProvider.getMeter(METER_NAME, opts.version));
  const recorder = new TelemetryRecorder(instruments, { closeCodes: t.close_codes, histograms });
  const statusWindow = new StatusWindow({ ...windowOptions(config), ...(opts.now ? { now: opts.now } : {}) });
  if (opts.snapshot !== undefined) observeBackends(instruments, opts.snapshot, log);

  // With no reader every measurement would be dropped anyway: keep the recorder off the hot path.
  const observers: ProxyObserver[] = readers.length > 0 ? [recorder, statusWindow] : [statusWindow];
  const instanceId = String(resource.attributes['service.instance.id'] ?? '');
  const prometheusText = prometheus !== undefined ? createPrometheusText(prometheus, log) : undefined;
  let stopping: Promise<void> | undefined;

  return {
    observers,
    recorder,
    statusWindow,
    monitors: readers.length > 0 ? new MonitorRecorder(instruments) : noopMonitorMetrics,
    instruments,
    meterProvider,
    instanceId,
    ...(prometheusText !== undefined ? { prometheusText, prometheusHandler: createPrometheusHandler(prometheusText, log) } : {}),
    attach(hub) {
      const offs = observers.map((o) => hub.subscribe(o));
      return () => offs.forEach((off) => off());
    },
    reload(next) {
      recorder.setCloseCodeMode(next.telemetry.close_codes);
      statusWindow.reconfigure(windowOptions(next));
      if (JSON.stringify(exportSettings(next)) !== JSON.stringify(exportSettings(config))) {
        log.warn('telemetry export settings (otlp, prometheus, service_name) changed; they apply after a restart');
      }
    },
    forceFlush: () => meterProvider.forceFlush(),
    shutdown(timeoutMs = 5000) {
      stopping ??= boundedShutdown(meterProvider, timeoutMs, log);
      return stopping;
    },
  };
}

function windowOptions(config: Pick<Config, 'telemetry' | 'alerts'>) {
  return {
    windowMs: config.alerts.window,
    abnormalCloseRatio: config.alerts.abnormal_close_ratio,
    abnormalDisconnectRatio: config.alerts.abnormal_disconnect_ratio,
    closeCodes: config.telemetry.close_codes,
  };
}

function exportSettings(config: Pick<Config, 'telemetry'>) {
  const { otlp, prometheus, service_name } = config.telemetry;
  return { otlp, prometheus, service_name };
}

// `wstap.backend.up` reads the core at collection time rather than being pushed on health
// changes, so it is always current and costs nothing between scrapes.
function observeBackends(instruments: Instruments, snapshot: () => CoreSnapshot, log: Logger): void {
  let warned = false;
  instruments.backendUp.addCallback((result: ObservableResult) => {
    let backends: CoreSnapshot['backends'];
    try {
      backends = snapshot().backends;
    } catch (err) {
      if (!warned) log.warn({ err: err instanceof Error ? err.message : String(err) }, 'core snapshot failed');
      warned = true;
      return;
    }
    // A server id shared by two pools is one series: it is up if any of its entries is.
    const up = new Map<string, number>();
    for (const b of backends) up.set(b.id, Math.max(up.get(b.id) ?? 0, b.up ? 1 : 0));
    for (const [id, value] of up) result.observe(value, { [ATTR.BACKEND]: id });
  });
}

async function boundedShutdown(provider: MeterProvider, timeoutMs: number, log: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), Math.max(0, timeoutMs));
    timer.unref();
  });
  try {
    // shutdown() flushes every periodic reader before closing it (opentelemetry-js#5242).
    const outcome = await Promise.race([provider.shutdown().then(() => 'done' as const), timedOut]);
    if (outcome === 'timeout') log.warn({ timeoutMs }, 'final metrics flush did not finish in time; giving up');
  } catch (err) {
    log.warn({ err: err instanceof Error ? err.message : String(err) }, 'telemetry shutdown failed');
  } finally {
    clearTimeout(timer);
  }
}
