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

/**
 * Serve the reader's current state. Collects on each scrape (cumulative), answers 500 with a
 * comment line if collection fails, and never throws.
 */
export function createPrometheusHandler(reader: PrometheusExporter, logger: Logger): MetricsHandler {
  const serializer = new PrometheusSerializer();
  let loggedFailure = false;
  return (req, res) => {
    reader.collect().then(
      ({ resourceMetrics, errors }) => {
        if (errors.length > 0 && !loggedFailure) {
          loggedFailure = true;
          logger.warn({ errors: errors.map(String) }, 'metrics collection reported errors');
        }
        const body = serializer.serialize(resourceMetrics);
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
  };
}
