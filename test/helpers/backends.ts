/**
 * Backends that count their TCP connections (not only the WebSocket clients `ws` tracks), so a
 * test can tell that no backend socket outlived its session — including the ones that never got
 * a 101 — plus a plain HTTP backend, a hub tap with events, and the per-file crash guard.
 */
import { EventEmitter, once } from 'node:events';
import http, { type IncomingMessage } from 'node:http';
import type { AddressInfo, Server, Socket } from 'node:net';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { WebSocketServer, type WebSocket, type ServerOptions } from 'ws';
import type { EventHub, SessionCloseEvent, SessionInfo, UpgradeEvent } from '../../src/events.js';
import { until } from './proxy.js';

export interface BackendConn {
  readonly ws: WebSocket;
  readonly req: IncomingMessage;
  readonly socket: Socket;
  /** Raw bytes this backend received on the connection after its 101. */
  readonly chunks: Buffer[];
  received(): Buffer;
  /** The close code and reason the backend saw. */
  readonly closed: Promise<{ code: number; reason: string }>;
}

export interface TrackedBackend {
  readonly wss: WebSocketServer;
  readonly server: http.Server;
  readonly port: number;
  readonly url: string;
  /** TCP connections currently open on this backend. */
  readonly sockets: Set<Socket>;
  /** TCP connections accepted so far. */
  accepted(): number;
  /** Upgrade requests received so far. */
  readonly requests: IncomingMessage[];
  readonly conns: BackendConn[];
  /** 'request' (req, socket) when an upgrade request arrives; 'connection' (BackendConn) after the 101. */
  readonly events: EventEmitter;
  nextConnection(): Promise<BackendConn>;
  nextRequest(): Promise<IncomingMessage>;
  /** Resolves when no TCP connection is left open. */
  drained(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export interface TrackedOptions {
  /** `ws` server options (perMessageDeflate, handleProtocols, maxPayload…). */
  readonly ws?: Omit<ServerOptions, 'host' | 'port' | 'server' | 'noServer'>;
  /** Delay the 101 by this many ms (or as many as the function says for this request). */
  readonly delay101?: number | ((req: IncomingMessage) => number);
  /** Per connection after the 101; default: echo (text stays text, binary stays binary). */
  readonly onConnection?: (c: BackendConn) => void;
}

/** A `ws` backend on its own HTTP server, counting every TCP connection it accepts. */
export async function trackedBackend(o: TrackedOptions = {}): Promise<TrackedBackend> {
  const server = http.createServer((_req, res) => {
    res.writeHead(426).end();
  });
  const wss = new WebSocketServer({ noServer: true, ...o.ws });
  const sockets = new Set<Socket>();
  const requests: IncomingMessage[] = [];
  const conns: BackendConn[] = [];
  const events = new EventEmitter();
  let accepted = 0;
  server.on('connection', (s: Socket) => {
    accepted++;
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on('error', () => {});
    requests.push(req);
    events.emit('request', req, socket);
    // Until the 101, a FIN from the proxy ends this connection (as Node does for requests).
    const onEnd = (): void => void socket.destroy();
    socket.once('end', onEnd);
    const go = (): void => {
      socket.off('end', onEnd);
      if (socket.destroyed) return;
      wss.handleUpgrade(req, socket, head, (ws) => {
        ws.on('error', () => {});
        const chunks: Buffer[] = [];
        const sock = (ws as unknown as { _socket: Socket })._socket;
        // Before ws's own listener, and copied: ws unmasks payloads in place.
        sock.prependListener('data', (b: Buffer) => void chunks.push(Buffer.from(b)));
        const conn: BackendConn = {
          ws,
          req,
          socket: sock,
          chunks,
          received: () => Buffer.concat(chunks),
          closed: new Promise((r) => ws.once('close', (code, reason) => r({ code, reason: reason.toString() }))),
        };
        conns.push(conn);
        if (o.onConnection) o.onConnection(conn);
        else ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
        events.emit('connection', conn);
      });
    };
    const delay = typeof o.delay101 === 'function' ? o.delay101(req) : o.delay101;
    if (delay !== undefined && delay > 0) setTimeout(go, delay);
    else go();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    wss,
    server,
    port,
    url: `ws://127.0.0.1:${port}`,
    sockets,
    accepted: () => accepted,
    requests,
    conns,
    events,
    nextConnection: () => once(events, 'connection').then(([c]) => c as BackendConn),
    nextRequest: () => once(events, 'request').then(([r]) => r as IncomingMessage),
    drained: (timeoutMs = 5000) => until(() => sockets.size === 0, timeoutMs, `backend :${port} connections to close`),
    close: () => closeWsServer(wss, server, sockets),
  };
}

/** Terminates the `ws` clients and destroys the TCP sockets, then closes `wss` and its HTTP(S) server. */
export function closeWsServer(wss: WebSocketServer, server: Server, sockets: Iterable<Socket>): Promise<void> {
  return new Promise<void>((resolve) => {
    for (const c of wss.clients) c.terminate();
    for (const s of sockets) s.destroy();
    wss.close();
    server.close(() => resolve());
  });
}

/** What a plain HTTP backend saw. */
export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

export interface HttpBackend {
  readonly server: http.Server;
  readonly port: number;
  readonly url: string;
  readonly seen: SeenRequest[];
  readonly sockets: Set<Socket>;
  close(): Promise<void>;
}

/** A plain HTTP backend answering 200 with a JSON echo of the request. */
export async function httpBackend(): Promise<HttpBackend> {
  const seen: SeenRequest[] = [];
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const s = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
      seen.push(s);
      const out = JSON.stringify(s);
      res.writeHead(200, { 'content-type': 'application/json', 'x-backend': 'http-1', 'content-length': Buffer.byteLength(out) });
      res.end(out);
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    url: `ws://127.0.0.1:${port}`,
    seen,
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The hub as an EventEmitter: 'upgrade' (UpgradeEvent), 'open' (SessionInfo), 'close' (info, e), 'violation' (dir, kind). */
export function hubEvents(hub: EventHub): EventEmitter {
  const ee = new EventEmitter();
  hub.subscribe({
    upgrade: (e: UpgradeEvent) => ee.emit('upgrade', e),
    sessionOpen: (s: SessionInfo) => ee.emit('open', s),
    sessionClose: (s: SessionInfo, e: SessionCloseEvent) => ee.emit('close', s, e),
    violation: (dir: string, kind: string) => ee.emit('violation', dir, kind),
  });
  return ee;
}

/** Resolves with the first argument of the next `n` `event`s of `ee`. */
export function collect<T = unknown>(ee: EventEmitter, event: string, n: number): Promise<T[]> {
  const out: T[] = [];
  return new Promise((resolve) => {
    if (n === 0) return resolve(out);
    const f = (x: T): void => {
      out.push(x);
      if (out.length === n) {
        ee.off(event, f);
        resolve(out);
      }
    };
    ee.on(event, f);
  });
}

/** The next upgrade answer the proxy reports. */
export function nextUpgrade(ee: EventEmitter): Promise<UpgradeEvent> {
  return once(ee, 'upgrade').then(([e]) => e as UpgradeEvent);
}

/**
 * Per-file guard: an uncaught exception or unhandled rejection anywhere in the process (the
 * proxy included) fails the test during which it happened.
 */
export function crashGuard(): void {
  const errors: unknown[] = [];
  const onError = (e: unknown): void => void errors.push(e);
  beforeAll(() => {
    process.on('uncaughtException', onError);
    process.on('unhandledRejection', onError);
  });
  afterAll(() => {
    process.off('uncaughtException', onError);
    process.off('unhandledRejection', onError);
  });
  afterEach(() => {
    if (errors.length > 0) {
      const all = errors.splice(0);
      throw new Error(`uncaught during the test: ${all.map((e) => (e instanceof Error ? e.stack : String(e))).join('\n')}`);
    }
  });
}

/** TCP sockets open in this process: the proxy's, the backends' and the clients' alike. */
export function tcpSocketsOpen(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
}

/**
 * Resolves once no TCP socket is open in this process (listeners do not count); rejects after
 * `timeoutMs`. This sees what no counter of the proxy shows, e.g. a client socket the proxy
 * answered but never closed.
 */
export async function noOpenSockets(timeoutMs = 3000): Promise<void> {
  await until(() => tcpSocketsOpen() === 0, timeoutMs, `all TCP sockets to close (${tcpSocketsOpen()} open)`);
}

/** Run `noOpenSockets` and hand back its failure instead of throwing (for afterEach). */
export function socketLeak(timeoutMs?: number): Promise<Error | undefined> {
  return noOpenSockets(timeoutMs).then(
    () => undefined,
    (e: Error) => e,
  );
}
