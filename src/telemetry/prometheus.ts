/**
 * The Prometheus side: a pull reader that never opens its own port (the admin server serves
 * `/metrics`), and the request handler the admin server calls.
 *
 * `PrometheusExporter({ port: 0 })` would not pick an ephemeral port (0 is treated as unset and
 * 9464 is bound on all interfaces), hence `preventServerStart` and our own handler.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import type { MetricProducer } from '@opentelemetry/sdk-metrics';
import type { Logger } from '../log.js';

/** The handler type the admin server accepts for `/metrics`. */
export type MetricsHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** Text exposition format 0.0.4, which every Prometheus version scrapes. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** A Prometheus pull reader that does not start a server; `metricProducers` add to what it collects. */
export function createPrometheusReader(metricProducers: MetricProducer[] = []): PrometheusExporter {
  return new PrometheusExporter({ preventServerStart: true, metricProducers });
}

/** Collect the reader's current state (cumulative) as exposition text; rejects if collection fails. */
export type MetricsText = () => Promise<string>;

/** The text source behind {@link createPrometheusHandler}; cluster workers send it to the primary. */
export function createPrometheusText(reader: PrometheusExporter, logger: Logger): MetricsText {
  const serializer = new PrometheusSerializer();
  let loggedFailure = false;
  return async () => {
    const { resourceMetrics, errors } = await reader.collect();
    if (errors.length > 0 && !loggedFailure) {
      loggedFailure = true;
      logger.warn({ errors: errors.map(String) }, 'metrics collection reported errors');
    }
    return serializer.serialize(resourceMetrics);
  };
}

/** Answer a `/metrics` request with `text` (200), or a 500 when it failed. Never throws. */
export function sendMetrics(req: IncomingMessage, res: ServerResponse, text: Promise<string>, logger: Logger): void {
  text.then(
    (body) => {
      res.writeHead(200, {
        'content-type': PROMETHEUS_CONTENT_TYPE,
        'cache-control': 'no-store',
        'content-length': Buffer.byteLength(body),
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    },
    (err: unknown) => {
      logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'metrics collection failed');
      if (res.headersSent) {
        res.destroy();
        return;
      }
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`# metrics collection failed\n`);
    },
  );
}

/** Serve the reader's current state on each scrape (cumulative); never throws. */
export function createPrometheusHandler(text: MetricsText, logger: Logger): MetricsHandler {
  return (req, res) => sendMetrics(req, res, text(), logger);
}
