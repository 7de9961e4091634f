/**
 * Test harness: real ws backends and a real wstap ProxyServer on 127.0.0.1 port 0, plus the
 * helpers every integration test needs (await open/close, leak checks).
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer, type ClientOptions, type ServerOptions } from 'ws';
import { parseConfigText } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { EventHub, type ProxyObserver, type SessionCloseEvent, type SessionInfo, type UpgradeEvent } from '../../src/events.js';
import { ProxyServer } from '../../src/proxy/server.js';
import { silentLogger, type Logger } from '../../src/log.js';

export interface Backend {
  readonly wss: WebSocketServer;
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

/** A ws echo server (text stays text, binary stays binary) on 127.0.0.1:0. */
export async function echoBackend(opts: ServerOptions = {}, onConnection?: (ws: WebSocket, req: import('node:http').IncomingMessage) => void): Promise<Backend> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, ...opts });
  await once(wss, 'listening');
  wss.on('connection', (ws, req) => {
    ws.on('error', () => {});
    if (onConnection) return onConnection(ws, req);
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  const port = (wss.address() as AddressInfo).port;
  return {
    wss,
    port,
    url: `ws://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  };
}

/** Build a Config the way the CLI does, from a plain object (listen/admin defaulted for tests). */
export function testConfig(obj: Record<string, unknown>): Config {
  return parseConfigText(
    JSON.stringify({ listen: { host: '127.0.0.1', port: 0 }, admin: { enabled: false }, heartbeat: { interval: 0 }, ...obj }),
    { format: 'json', env: {} },
  );
}

/** A config with one pool `main` of the given server URLs and one catch-all route. */
export function simpleConfig(urls: readonly string[], extra: Record<string, unknown> = {}): Config {
  return testConfig({
    backends: { main: { servers: urls.map((url, i) => ({ id: `b${i + 1}`, url })) } },
    routes: [{ name: 'all', match: { path: '/' }, backend: 'main' }],
    ...extra,
  });
}

/** Everything the core reported, for assertions. */
export class Recorder implements ProxyObserver {
  upgrades: UpgradeEvent[] = [];
  opened: SessionInfo[] = [];
  closed: { info: SessionInfo; e: SessionCloseEvent }[] = [];
  messages: { dir: string; type: string; size: number }[] = [];
  wire = { client_to_backend: 0, backend_to_client: 0 };
  violations: { dir: string; kind: string }[] = [];
  errors: string[] = [];
  #closeWaiters: { n: number; resolve: () => void }[] = [];

  upgrade(e: UpgradeEvent): void {
    this.upgrades.push(e);
  }
  sessionOpen(s: SessionInfo): void {
    this.opened.push(s);
  }
  message(_s: SessionInfo, dir: string, type: string, size: number, _at?: number, count = 1): void {
    for (let i = 0; i < count; i++) this.messages.push({ dir, type, size });
  }
  sessionClose(info: SessionInfo, e: SessionCloseEvent): void {
    this.closed.push({ info, e });
    this.#closeWaiters = this.#closeWaiters.filter((w) => {
      if (this.closed.length >= w.n) w.resolve();
      return this.closed.length < w.n;
    });
  }
  violation(dir: string, kind: string): void {
    this.violations.push({ dir, kind });
  }
  error(_r: string | undefined, _b: string | undefined, t: string): void {
    this.errors.push(t);
  }
  /** Resolves once `n` sessions have been reported closed. */
  closes(n: number): Promise<void> {
    if (this.closed.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.#closeWaiters.push({ n, resolve }));
  }
}

export interface RunningProxy {
  readonly proxy: ProxyServer;
  readonly hub: EventHub;
  readonly rec: Recorder;
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

export async function startProxy(config: Config, logger: Logger = silentLogger()): Promise<RunningProxy> {
  const hub = new EventHub();
  const rec = new Recorder();
  hub.subscribe(rec);
  hub.subscribe({ bytes: (_s, dir, n) => void (rec.wire[dir] += n) });
  const proxy = new ProxyServer({ config, hub, logger });
  const addr = await proxy.listen();
  return { proxy, hub, rec, port: addr.port, url: `ws://127.0.0.1:${addr.port}`, close: () => proxy.close() };
}

/** Open a ws client and wait for 'open' (rejects on error / unexpected-response). */
export async function connect(url: string, protocols?: string | string[], opts: ClientOptions = {}): Promise<WebSocket> {
  const ws = new WebSocket(url, protocols, opts);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`unexpected response ${res.statusCode}`)));
  });
  ws.on('error', () => {});
  return ws;
}

/** The status code of a refused upgrade. */
export async function refusedStatus(url: string, opts: ClientOptions = {}): Promise<{ status: number; body: string; headers: import('node:http').IncomingHttpHeaders }> {
  const ws = new WebSocket(url, opts);
  ws.on('error', () => {});
  return new Promise((resolve, reject) => {
    ws.once('open', () => reject(new Error('unexpectedly opened')));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      res.on('error', reject);
    });
  });
}

/** Resolves with the close code and reason the client saw. */
export function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve({ code: -1, reason: 'already closed' });
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

export function nextMessage(ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve) => ws.once('message', (data, isBinary) => resolve({ data: data as Buffer, isBinary })));
}

/** Poll a condition until true (for state that has no event, like counters reaching zero). */
export async function until(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** No session, no pending handshake, and no connection left on the backends. */
export async function assertNoLeaks(p: RunningProxy, backends: readonly Backend[] = []): Promise<void> {
  await until(() => p.proxy.activeSessions === 0 && p.proxy.pendingHandshakes === 0, 5000, 'proxy sessions to drain');
  for (const b of backends) await until(() => b.wss.clients.size === 0, 5000, `backend ${b.url} connections to close`);
}
