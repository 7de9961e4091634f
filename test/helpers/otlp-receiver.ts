/**
 * A tiny OTLP/HTTP JSON receiver for tests: a real `http.createServer` on 127.0.0.1, port 0,
 * that decodes what `@opentelemetry/exporter-metrics-otlp-http` sends (always JSON) and
 * flattens it into one row per data point. Lets tests check real exports without a Collector.
 */
import http from 'node:http';
import { once } from 'node:events';
import { gunzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';

interface AnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: number | string;
  doubleValue?: number | string;
  arrayValue?: { values?: AnyValue[] };
  kvlistValue?: { values?: KeyValue[] };
}
interface KeyValue {
  key: string;
  value?: AnyValue;
}

/** One received request. */
export interface OtlpRequest {
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: unknown;
}

/** One data point of a received export, flattened. */
export interface OtlpPoint {
  readonly resource: Record<string, unknown>;
  readonly scope: string | undefined;
  readonly name: string;
  readonly unit: string;
  readonly description: string;
  readonly kind: 'sum' | 'gauge' | 'histogram' | 'exponentialHistogram';
  readonly temporality: number | undefined;
  readonly isMonotonic: boolean | undefined;
  readonly attributes: Record<string, unknown>;
  /** `asInt` / `asDouble` as a number. */
  readonly value: number | undefined;
  /** True when the point was encoded as `asInt`. */
  readonly isInt: boolean;
  readonly count: number | undefined;
  readonly sum: number | undefined;
  readonly bucketCounts: number[] | undefined;
  readonly explicitBounds: number[] | undefined;
}

function value(v: AnyValue | undefined): unknown {
  if (v == null) return undefined;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return Number(v.doubleValue);
  if (v.arrayValue !== undefined) return (v.arrayValue.values ?? []).map(value);
  if (v.kvlistValue !== undefined) return keyValues(v.kvlistValue.values);
  return undefined;
}

/** `KeyValue[]` → plain object. */
export function keyValues(list: KeyValue[] = []): Record<string, unknown> {
  return Object.fromEntries(list.map((kv) => [kv.key, value(kv.value)]));
}

const KINDS = ['sum', 'gauge', 'histogram', 'exponentialHistogram'] as const;

/** The OTLP JSON wire shape (ExportMetricsServiceRequest), as far as the tests read it. */
interface WirePoint {
  attributes?: KeyValue[];
  asInt?: number | string;
  asDouble?: number | string;
  count?: number | string;
  sum?: number;
  bucketCounts?: Array<number | string>;
  explicitBounds?: number[];
}
interface WireData {
  aggregationTemporality?: number;
  isMonotonic?: boolean;
  dataPoints?: WirePoint[];
}
type WireMetric = { name: string; unit?: string; description?: string } & Partial<Record<(typeof KINDS)[number], WireData>>;
interface WireRequest {
  resourceMetrics?: Array<{
    resource?: { attributes?: KeyValue[] };
    scopeMetrics?: Array<{ scope?: { name?: string }; metrics?: WireMetric[] }>;
  }>;
}

/** Flatten an `ExportMetricsServiceRequest` into one row per data point. */
export function flatten(body: unknown): OtlpPoint[] {
  const req = body as WireRequest;
  return (req.resourceMetrics ?? []).flatMap((rm) =>
    (rm.scopeMetrics ?? []).flatMap((sm) =>
      (sm.metrics ?? []).flatMap((m) => {
        const kind = KINDS.find((k) => m[k] !== undefined);
        const data = kind === undefined ? undefined : m[kind];
        if (kind === undefined || data === undefined) return [];
        return (data.dataPoints ?? []).map(
          (dp): OtlpPoint => ({
            resource: keyValues(rm.resource?.attributes),
            scope: sm.scope?.name,
            name: m.name,
            unit: m.unit ?? '',
            description: m.description ?? '',
            kind,
            temporality: data.aggregationTemporality,
            isMonotonic: data.isMonotonic,
            attributes: keyValues(dp.attributes),
            value: dp.asInt != null ? Number(dp.asInt) : dp.asDouble != null ? Number(dp.asDouble) : undefined,
            isInt: dp.asInt != null,
            count: dp.count != null ? Number(dp.count) : undefined,
            sum: dp.sum != null ? Number(dp.sum) : undefined,
            bucketCounts: dp.bucketCounts?.map(Number),
            explicitBounds: dp.explicitBounds,
          }),
        );
      }),
    ),
  );
}

/** A running receiver. */
export interface OtlpReceiver {
  /** Base URL, e.g. `http://127.0.0.1:41234` (the exporter posts to `${url}/v1/metrics`). */
  readonly url: string;
  readonly requests: OtlpRequest[];
  /** Every data point of every request received so far. */
  rows(): OtlpPoint[];
  /** Data points of the last request that carried metric `name` (cumulative series). */
  latest(name: string): OtlpPoint[];
  /** Answer further requests with this status (200 by default; 400 is not retried by the exporter). */
  respondWith(status: number): void;
  /** Resolve once `predicate` holds on the requests, or reject after `timeoutMs`. */
  waitFor(predicate: (requests: OtlpRequest[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** Start a receiver on 127.0.0.1, port 0. */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const requests: OtlpRequest[] = [];
  let status = 200;
  const waiters = new Set<() => void>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let raw = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') raw = gunzipSync(raw);
      if (status === 200) {
        requests.push({ path: req.url ?? '', headers: req.headers, body: JSON.parse(raw.toString('utf8')) });
        for (const w of waiters) w();
      }
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(status === 200 ? '{}' : '{"code":3,"message":"rejected by test"}');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const rows = () => requests.flatMap((r) => flatten(r.body));
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    rows,
    latest(name) {
      for (let i = requests.length - 1; i >= 0; i--) {
        const points = flatten(requests[i]!.body).filter((p) => p.name === name);
        if (points.length > 0) return points;
      }
      return [];
    },
    respondWith(s) {
      status = s;
    },
    waitFor(predicate, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!predicate(requests)) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`OTLP receiver: condition not met within ${timeoutMs} ms (${requests.length} requests)`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close() {
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
