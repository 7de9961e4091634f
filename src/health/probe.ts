/**
 * One active health probe: a WebSocket handshake to the server's URL + `health.path`, then,
 * when configured, a message sent and a reply awaited that must contain `health.expect`. The
 * whole probe, handshake included, must finish within `health.timeout`.
 */
import { WebSocket, type RawData } from 'ws';
import type { HealthConfig } from '../config/types.js';

/** Outcome of one probe; `detail` says why it failed (for the state-change log line). */
export type ProbeResult = { readonly ok: true } | { readonly ok: false; readonly detail: string };

/** A probe under way. */
export interface Probe {
  readonly result: Promise<ProbeResult>;
  /** Resolves when the probe's socket has closed (after the result, once the close handshake ends). */
  readonly closed: Promise<void>;
  /** Stop now (checker stopped): the socket is destroyed; an unsettled result becomes a failure. */
  abort(): void;
}

/** TLS settings of the pool, applied to wss:// probes as to proxied sessions. */
export interface ProbeTls {
  readonly ca?: Buffer;
  readonly insecure?: boolean;
}

/** The probe URL: the server's path prefixed to `health.path`, as the proxy prefixes client paths. */
export function probeUrl(server: URL, path: string): URL {
  const url = new URL(server.href);
  const base = url.pathname.endsWith('/') ? url.pathname.slice(0, -1) : url.pathname;
  const q = path.indexOf('?');
  url.pathname = base + (q < 0 ? path : path.slice(0, q));
  if (q >= 0) url.search = path.slice(q);
  return url;
}

/** Start a probe of `server` with the pool's `health` settings. */
export function probe(server: URL, h: HealthConfig, tls: ProbeTls = {}): Probe {
  let settle!: (r: ProbeResult) => void;
  const result = new Promise<ProbeResult>((resolve) => (settle = resolve));
  let done = false;
  let lingerTimer: NodeJS.Timeout | undefined;
  let ws: WebSocket;
  try {
    ws = new WebSocket(probeUrl(server, h.path), {
      handshakeTimeout: h.timeout,
      perMessageDeflate: false,
      followRedirects: false,
      rejectUnauthorized: tls.insecure !== true,
      ...(tls.ca ? { ca: tls.ca } : {}),
    });
  } catch (err) {
    // ws throws synchronously on a URL it cannot use; this runs in a timer, so never let it out.
    return { result: Promise.resolve({ ok: false, detail: (err as Error).message }), closed: Promise.resolve(), abort() {} };
  }
  const finish = (r: ProbeResult): void => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    if (r.ok && ws.readyState === WebSocket.OPEN) {
      // A clean close so the backend does not log probes as dropped connections, bounded
      // here because ws would otherwise wait 30 s for a backend that never answers it.
      ws.close(1000, 'health check');
      lingerTimer = setTimeout(() => ws.terminate(), h.timeout);
    } else {
      ws.terminate();
    }
    settle(r);
  };
  // ws's handshakeTimeout covers the upgrade only; this bounds send → reply too.
  const timer = setTimeout(() => finish({ ok: false, detail: `no ${wantsReply(h) ? 'reply' : 'answer'} within ${h.timeout} ms` }), h.timeout);
  ws.on('error', (err: NodeJS.ErrnoException) => finish({ ok: false, detail: err.code ?? err.message }));
  ws.on('unexpected-response', (_req, res) => {
    res.resume();
    finish({ ok: false, detail: `status ${res.statusCode ?? '?'}` });
  });
  ws.on('open', () => {
    if (h.send !== undefined) ws.send(h.send);
    if (!wantsReply(h)) finish({ ok: true });
  });
  ws.on('message', (data: RawData) => {
    if (h.expect === undefined || text(data).includes(h.expect)) finish({ ok: true });
  });
  ws.on('close', (code: number) => finish({ ok: false, detail: `closed with ${code} before the check passed` }));
  const closed = new Promise<void>((resolve) =>
    ws.once('close', () => {
      clearTimeout(lingerTimer);
      resolve();
    }),
  );
  return {
    result,
    closed,
    abort() {
      finish({ ok: false, detail: 'aborted' });
      ws.terminate();
    },
  };
}

/** With `send` or `expect`, a reply is part of the check; otherwise the handshake is enough. */
function wantsReply(h: HealthConfig): boolean {
  return h.send !== undefined || h.expect !== undefined;
}

function text(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}
