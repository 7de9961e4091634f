/**
 * The admin HTTP server (SPEC §4): `/healthz`, `/readyz`, `/metrics`, `/status` and the status
 * page at `/`. It only reads: the core through `snapshot()`, the window through
 * `statusReport()`, Prometheus text through the `metrics` handler. A bad request is answered,
 * never thrown; a failing provider gives a 500 for that request only.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';
import type { CoreSnapshot } from '../snapshot.js';
import type { WindowReport } from '../telemetry/status-types.js';
import { buildStatusDocument, readiness, type WorkerStatus } from './status.js';
import { STATUS_PAGE_CSP, statusPageHtml } from './status-page.js';

/** Options of {@link createAdminServer}. */
export interface AdminServerOptions {
  readonly host: string;
  /** 0 picks a free port (tests). */
  readonly port: number;
  /** May be async: a cluster primary asks its workers. */
  readonly snapshot: () => CoreSnapshot | Promise<CoreSnapshot>;
  /** The sliding-window figures (`StatusWindow.report()`, or the workers' merged). */
  readonly statusReport: () => WindowReport | Promise<WindowReport>;
  /** Serves `GET /metrics` (the telemetry's Prometheus handler); absent → 404 with a hint. */
  readonly metrics?: (req: IncomingMessage, res: ServerResponse) => void;
  /** Latest synthetic monitor results, shown as `monitors` in /status. */
  readonly monitors?: () => readonly unknown[] | Promise<readonly unknown[]>;
  /** A cluster primary's workers, shown as `workers` in /status. */
  readonly workers?: () => readonly WorkerStatus[] | Promise<readonly WorkerStatus[]>;
  /** Shown on /status and the page. */
  readonly service?: string;
  readonly version?: string;
  readonly logger: Logger;
}

/** A created (not yet listening) admin server. */
export interface AdminServer {
  /** Bind; rejects on EADDRINUSE and friends. */
  listen(): Promise<{ host: string; port: number }>;
  /** Stop listening and drop keep-alive connections; resolves when closed. */
  close(): Promise<void>;
  /** The bound address, once listening. */
  readonly address: { host: string; port: number } | undefined;
}

const PATHS = ['/', '/healthz', '/readyz', '/metrics', '/status'] as const;
type AdminPath = (typeof PATHS)[number];
const ALLOW = 'GET, HEAD';

/** Create the admin server. */
export function createAdminServer(opts: AdminServerOptions): AdminServer {
  const log = opts.logger.child({ component: 'admin' });
  const page = statusPageHtml();

  const handlers: Record<AdminPath, (req: IncomingMessage, res: ServerResponse) => void | Promise<void>> = {
    '/healthz': (req, res) => send(req, res, 200, 'ok\n'),
    '/readyz': async (req, res) => {
      const r = readiness(await opts.snapshot());
      if (r.ready) send(req, res, 200, 'ready\n');
      else send(req, res, 503, `not ready: ${r.reasons.join('; ')}\n`);
    },
    '/metrics': (req, res) => {
      if (opts.metrics === undefined) {
        send(req, res, 404, 'the Prometheus endpoint is off; set telemetry.prometheus: true in the config\n');
        return;
      }
      opts.metrics(req, res);
    },
    '/status': async (req, res) => {
      const [snapshot, report, monitors, workers] = await Promise.all([opts.snapshot(), opts.statusReport(), opts.monitors?.() ?? [], opts.workers?.()]);
      const doc = buildStatusDocument({
        snapshot,
        report,
        monitors,
        ...(workers !== undefined ? { workers } : {}),
        ...(opts.service !== undefined ? { service: opts.service } : {}),
        ...(opts.version !== undefined ? { version: opts.version } : {}),
      });
      send(req, res, 200, `${JSON.stringify(doc, null, 2)}\n`, 'application/json; charset=utf-8');
    },
    '/': (req, res) =>
      send(req, res, 200, page, 'text/html; charset=utf-8', { 'content-security-policy': STATUS_PAGE_CSP }),
  };

  const failed = (req: IncomingMessage, res: ServerResponse, err: unknown): void => {
    log.warn({ err: err instanceof Error ? err.message : String(err), url: req.url }, 'admin request failed');
    if (!res.headersSent) send(req, res, 500, 'internal error\n');
    else res.destroy();
  };
  const server = http.createServer((req, res) => {
    // Admin requests carry no body; drain any so the connection can be reused.
    req.resume();
    try {
      const path = pathOf(req.url);
      if (path === undefined) return send(req, res, 400, 'bad request target\n');
      const handler = (PATHS as readonly string[]).includes(path) ? handlers[path as AdminPath] : undefined;
      if (handler === undefined) {
        return send(req, res, 404, `not found; try ${PATHS.join(' ')}\n`);
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        return send(req, res, 405, `method not allowed; use ${ALLOW}\n`, undefined, { allow: ALLOW });
      }
      const done = handler(req, res);
      if (done !== undefined) done.catch((err: unknown) => failed(req, res, err));
    } catch (err) {
      failed(req, res, err);
    }
  });
  server.keepAliveTimeout = 5_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  // Malformed HTTP never reaches the handler: answer 400 on the raw socket and drop it.
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });

  let bound: { host: string; port: number } | undefined;
  return {
    get address() {
      return bound;
    },
    listen() {
      return new Promise((resolve, reject) => {
        const onError = (err: Error) => reject(err);
        server.once('error', onError);
        server.listen({ host: opts.host, port: opts.port }, () => {
          server.off('error', onError);
          server.on('error', (err) => log.warn({ err: err.message }, 'admin server error'));
          const a = server.address() as AddressInfo;
          bound = { host: a.address, port: a.port };
          log.info(bound, 'admin server listening');
          resolve(bound);
        });
      });
    },
    close() {
      return new Promise((resolve) => {
        if (!server.listening) return resolve();
        server.close(() => resolve());
        // Idle keep-alive connections (a browser on the status page) would hold close() open.
        server.closeAllConnections();
        bound = undefined;
      });
    },
  };
}

function pathOf(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  try {
    // A relative base accepts origin-form ("/status?x") and absolute-form alike.
    const path = new URL(url, 'http://admin.invalid').pathname;
    return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
  } catch {
    return undefined;
  }
}

function send(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  body: string,
  contentType = 'text/plain; charset=utf-8',
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...headers,
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}
