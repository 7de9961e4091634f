/**
 * The proxy listener: every upgrade goes through handshake check → route → pick → dial →
 * validate 101 → tunnel; plain HTTP requests that match a route go to a backend through
 * `http-proxy`. Owns the live-session registry, the connection limits and the drain.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import type { Socket, AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import httpProxy from 'http-proxy';
import type { Config, RouteConfig } from '../config/types.js';
import type { EventHub } from '../events.js';
import type { Logger } from '../log.js';
import { ProxyError, ERRORS } from '../errors.js';
import { Router } from '../routing/router.js';
import { Pool, type Selection } from '../balance/pool.js';
import { affinityKeyOf } from '../balance/affinity-key.js';
import { Health } from '../health/health.js';
import type { PassiveOptions } from '../health/passive.js';
import type { Backend } from '../balance/backend.js';
import { checkClientHandshake, upstreamHeaders, type ClientHandshake } from './handshake.js';
import { dial, type DialOutcome } from './dial.js';
import { rejectUpgrade } from './reject.js';
import { relayRefusal, write101 } from './respond.js';
import { Session, type TunnelOptions } from './tunnel.js';
import { TrustedProxies, unmapV4 } from './client-ip.js';
import type { CoreSnapshot } from '../snapshot.js';
import { TimerWheel, nowMs } from '../heartbeat/wheel.js';

export interface ProxyServerOptions {
  readonly config: Config;
  readonly hub: EventHub;
  readonly logger: Logger;
  /** Passive health thresholds (default `PASSIVE_DEFAULTS`); tests shorten them. */
  readonly passiveHealth?: Partial<PassiveOptions>;
}

/** Bytes a client may send after its upgrade request before the 101 (held, not forwarded). */
const MAX_EARLY_BYTES = 64 * 1024;

export class ProxyServer {
  #config: Config;
  #router: Router;
  #pools = new Map<string, Pool>();
  #trusted: TrustedProxies;
  readonly #hub: EventHub;
  readonly #logger: Logger;
  /** PEM CA bundle of each pool that names one (`backends.NAME.tls.ca`). */
  #backendCa = new Map<string, Buffer>();
  readonly #server: http.Server;
  readonly #httpProxy: httpProxy;
  readonly #sessions = new Set<Session>();
  /** Upgrades between request and answer. */
  #pending = 0;
  /** Client sockets of upgrades not (yet) turned into sessions: refused, relaying, dialling. */
  readonly #handshaking = new Set<Socket>();
  readonly #perIp = new Map<string, number>();
  #nextId = 1;
  #draining = false;
  #listening = false;
  readonly #startedAt = performance.now();
  #idleWaiters: (() => void)[] = [];
  /** Active checks and passive failure counting; they only flip `backend.available`. */
  readonly #health: Health;
  #offHealth: (() => void) | undefined;
  /** The one timer behind every session's heartbeats and idle checks. */
  readonly #wheel = new TimerWheel(50);
  /** What the sessions opened under the current config share (one object, not one per session). */
  #tunnel!: TunnelOptions;

  constructor(o: ProxyServerOptions) {
    this.#config = o.config;
    this.#hub = o.hub;
    this.#logger = o.logger;
    this.#router = new Router(o.config.routes);
    this.#trusted = new TrustedProxies(o.config.trusted_proxies);
    this.#health = new Health({ hub: o.hub, logger: o.logger, ...(o.passiveHealth ? { passive: o.passiveHealth } : {}) });
    this.#buildPools(o.config);
    this.#tunnel = this.#tunnelOptions(o.config);
    const tls = o.config.listen.tls;
    const serverOpts: http.ServerOptions = {
      maxHeaderSize: o.config.limits.max_header_bytes,
      headersTimeout: o.config.timeouts.request_head,
      requestTimeout: 0,
      connectionsCheckingInterval: Math.min(1000, o.config.timeouts.request_head),
      keepAliveTimeout: 5000,
    };
    // A TLS handshake that never completes is a slow request head too: Node's headersTimeout
    // starts only after it, and tls's own handshakeTimeout defaults to 120 s (research §3.1).
    this.#server = tls
      ? https.createServer({
          ...serverOpts,
          cert: readFileSync(tls.cert),
          key: readFileSync(tls.key),
          ALPNProtocols: ['http/1.1'],
          handshakeTimeout: o.config.timeouts.request_head,
        })
      : http.createServer(serverOpts);
    this.#server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#onUpgrade(req, socket, head));
    this.#server.on('request', (req: IncomingMessage, res: ServerResponse) => this.#onRequest(req, res));
    this.#server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      // A failed TLS handshake (https reports it here too) or a reset has no HTTP to answer on:
      // an HTTP answer would sit unsent on the socket until the 5 s guard of rejectUpgrade.
      if (!(err.code?.startsWith('HPE_') || err.code === 'ERR_HTTP_REQUEST_TIMEOUT')) {
        socket.destroy();
        return;
      }
      // Node answers 400/408/431 itself only if we do not listen; keep its statuses.
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
      rejectUpgrade(socket, status, status === 431 ? 'request head too large' : status === 408 ? 'request head too slow' : 'bad request');
    });
    this.#httpProxy = httpProxy.createProxyServer({ ws: false, xfwd: false, proxyTimeout: o.config.timeouts.handshake });
    this.#httpProxy.on('error', (err, _req, res) => {
      const r = res as ServerResponse | Socket;
      if ('writeHead' in r && !r.headersSent) {
        r.writeHead(502, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
        r.end(`${ERRORS.backend_error.text}: ${(err as NodeJS.ErrnoException).code ?? err.message}\n`);
      } else {
        r.destroy();
      }
    });
    // http-proxy pipes the backend's answer and ignores its abort: a backend that dies
    // mid-response would leave the client waiting forever. Cut the client's connection instead.
    this.#httpProxy.on('proxyRes', (proxyRes, _req, res) => {
      proxyRes.on('close', () => {
        if (!proxyRes.complete) res.destroy();
      });
    });
  }

  #buildPools(config: Config): void {
    const next = new Map<string, Pool>();
    const cas = new Map<string, Buffer>();
    for (const [name, pc] of Object.entries(config.backends)) {
      next.set(name, new Pool(pc, this.#pools.get(name)));
      // Read a pool's CA once per config, not from disk on every dial.
      if (pc.tls.ca !== undefined) {
        try {
          cas.set(name, readFileSync(pc.tls.ca));
        } catch (err) {
          this.#logger.error({ pool: name, ca: pc.tls.ca, err: (err as Error).message }, 'cannot read the backend CA file: the system CAs apply');
        }
      }
    }
    this.#pools = next;
    this.#backendCa = cas;
    // Checkers of the old config are stopped and rebuilt; reused Backends keep their state.
    this.#health.update(next.values());
  }

  #tunnelOptions(config: Config): TunnelOptions {
    return {
      hub: this.#hub,
      logger: this.#logger,
      closeTimeoutMs: config.timeouts.close,
      maxMessageBytes: config.limits.max_message_bytes,
      wheel: this.#wheel,
      heartbeat: {
        intervalMs: config.heartbeat.interval,
        timeoutMs: config.heartbeat.timeout,
        idleMs: config.timeouts.idle,
      },
      onEnd: this.#onSessionEnd,
    };
  }

  readonly #onSessionEnd = (s: Session): void => {
    this.#sessions.delete(s);
    s.server.active--;
    this.#releaseIp(s.info.clientIp);
    this.#checkIdle();
  };

  /** Health checks of the current pools (tests read `openProbes`). */
  get health(): Health {
    return this.#health;
  }

  // Health runs while the listener is bound: a constructor that throws (bad TLS file) or a
  // server never started leaves no timer or subscription behind.
  #startHealth(): void {
    // Passive health needs the close code and initiator, which the tunnel reports on the hub.
    this.#offHealth ??= this.#hub.subscribe({
      sessionClose: (s, e) => {
        const backend = this.#pools.get(s.pool)?.backends.find((b) => b.id === s.backend);
        if (backend !== undefined) this.#health.sessionEnded(backend, e.code, e.initiator, e.durationS);
      },
    });
    this.#health.start();
  }

  #stopHealth(): void {
    this.#health.stop();
    this.#offHealth?.();
    this.#offHealth = undefined;
  }

  /** Bind the listener. Rejects with the OS error (EADDRINUSE…) on failure. */
  listen(): Promise<AddressInfo> {
    const { host, port } = this.#config.listen;
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.#server.once('error', onError);
      this.#server.listen(port, host, () => {
        this.#server.off('error', onError);
        this.#server.on('error', (err) => this.#logger.error({ err: err.message }, 'listener error'));
        this.#listening = true;
        this.#startHealth();
        resolve(this.#server.address() as AddressInfo);
      });
    });
  }

  address(): AddressInfo | null {
    return this.#server.address() as AddressInfo | null;
  }

  /** Apply a new config to new sessions; open sessions keep their backends to their end. */
  reload(config: Config): void {
    this.#config = config;
    this.#router = new Router(config.routes);
    this.#trusted = new TrustedProxies(config.trusted_proxies);
    this.#buildPools(config);
    this.#tunnel = this.#tunnelOptions(config);
    // Node reads these for each new connection: the next ones get the new values.
    this.#server.headersTimeout = config.timeouts.request_head;
    (this.#server as { maxHeaderSize?: number }).maxHeaderSize = config.limits.max_header_bytes;
    // A renewed certificate (new files, same or other paths) serves the next TLS handshakes.
    const tls = config.listen.tls;
    if (tls !== undefined && this.#server instanceof https.Server) {
      try {
        this.#server.setSecureContext({ cert: readFileSync(tls.cert), key: readFileSync(tls.key) });
      } catch (err) {
        this.#logger.error({ err: (err as Error).message }, 'listen.tls: cannot load the new certificate, keeping the old one');
      }
    }
  }

  get pools(): ReadonlyMap<string, Pool> {
    return this.#pools;
  }

  get activeSessions(): number {
    return this.#sessions.size;
  }

  get pendingHandshakes(): number {
    return this.#pending;
  }

  snapshot(): CoreSnapshot {
    const backends = [];
    for (const pool of this.#pools.values()) {
      for (const b of pool.backends) backends.push({ pool: pool.name, id: b.id, url: b.url.href, up: b.available, active: b.active });
    }
    return {
      uptimeS: (performance.now() - this.#startedAt) / 1000,
      listening: this.#listening,
      draining: this.#draining,
      activeSessions: this.#sessions.size,
      pendingHandshakes: this.#pending,
      backends,
      routes: this.#config.routes.map((r) => ({ name: r.name, pool: r.backend, healthy: this.#pools.get(r.backend)?.healthy ?? false })),
    };
  }

  /**
   * Stop accepting, let sessions end on their own for `graceMs`, then send `closeCode` to both
   * legs of the rest and wait (bounded by `timeouts.close`) for them to finish.
   */
  async drain(graceMs: number, closeCode: number): Promise<void> {
    this.#draining = true;
    this.#server.close();
    this.#server.closeIdleConnections();
    if (this.#sessions.size > 0 || this.#pending > 0) {
      await this.#waitIdle(graceMs);
    }
    for (const s of this.#sessions) s.close(closeCode, closeCode === 1012 ? 'service restart' : 'going away', 'draining');
    if (this.#sessions.size > 0) await this.#waitIdle(this.#config.timeouts.close + 100);
    for (const s of this.#sessions) s.destroy();
    // A handshake still in flight would open a session after the drain: drop it now.
    for (const sock of this.#handshaking) sock.destroy();
    if (this.#pending > 0) await this.#waitIdle(1000);
    this.#server.closeAllConnections();
    this.#stopHealth();
  }

  /** Close the listener and destroy every session now. */
  async close(): Promise<void> {
    // Sockets still in a handshake (or relaying a refusal) are not the http server's anymore:
    // closeAllConnections() does not see them.
    for (const sock of this.#handshaking) sock.destroy();
    this.#draining = true;
    this.#stopHealth();
    for (const s of this.#sessions) s.destroy();
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
    this.#wheel.clear();
    this.#listening = false;
  }

  #waitIdle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      const waiter = (): void => done();
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.#idleWaiters.push(waiter);
    });
  }

  #checkIdle(): void {
    if (this.#sessions.size === 0 && this.#pending === 0 && this.#idleWaiters.length > 0) {
      const w = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const f of w) f();
    }
  }

  // ---- plain HTTP ------------------------------------------------------------------------

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    req.on('error', () => res.destroy());
    if (req.headers.upgrade !== undefined) {
      // An Upgrade header without `Connection: upgrade`: Node did not treat it as an upgrade.
      // A malformed upgrade is answered here, never forwarded (SPEC §6): through http-proxy the
      // backend would see `Upgrade: websocket`, and a 101 from it would hang the client.
      this.#hub.upgrade({ status: 400, errorType: 'bad_handshake', durationS: 0 });
      res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
      res.end(`${ERRORS.bad_handshake.text}: an Upgrade header without "Connection: upgrade"\n`);
      return;
    }
    const route = this.#router.match(req.headers.host, req.url ?? '/');
    const peer = unmapV4(req.socket.remoteAddress ?? '');
    const trusted = this.#trusted.trusts(peer);
    // The same affinity as upgrades: a long-polling fallback must reach its WebSocket's backend.
    const clientIp = this.#trusted.resolve(peer, req.headers['x-forwarded-for'] as string | undefined);
    const backend = route ? this.#choose(route, req, clientIp)?.backend : undefined;
    if (route === undefined || backend === undefined) {
      const code = route === undefined ? 'no_route' : 'no_backend';
      res.writeHead(ERRORS[code].status, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
      res.end(`${ERRORS[code].text}\n`);
      return;
    }
    const target = new URL(backend.url.href.replace(/^ws/, 'http'));
    // Set forwarding headers with the same trust rule as upgrades (http-proxy's xfwd appends blindly).
    const xff = trusted && req.headers['x-forwarded-for'] ? `${String(req.headers['x-forwarded-for'])}, ${peer}` : peer;
    const proto = trusted && req.headers['x-forwarded-proto'] ? String(req.headers['x-forwarded-proto']) : this.#config.listen.tls ? 'https' : 'http';
    for (const h of ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded']) if (!trusted) delete req.headers[h];
    req.headers['x-forwarded-for'] = xff;
    req.headers['x-forwarded-proto'] = proto;
    if (req.headers.host && !(trusted && req.headers['x-forwarded-host'])) req.headers['x-forwarded-host'] = req.headers.host;
    const pool = this.#pools.get(route.backend)!;
    const ca = this.#backendCa.get(pool.name);
    this.#httpProxy.web(req, res, { target, secure: !pool.config.tls.insecure, ...(ca ? { ca } : {}) });
  }

  // ---- upgrades --------------------------------------------------------------------------

  #onUpgrade(req: IncomingMessage, duplex: Duplex, head: Buffer): void {
    const socket = duplex as Socket;
    // Node removed its own error handler before emitting 'upgrade' (research §2.1, P1): an
    // ECONNRESET from here on would crash the process without this line.
    socket.on('error', onEarlyError);
    this.#handshaking.add(socket);
    socket.once('close', () => this.#handshaking.delete(socket));
    const started = performance.now();
    const ctx: UpgradeCtx = { started, route: undefined, backend: undefined };
    try {
      this.#admit(req, socket, head, ctx);
    } catch (err) {
      const e = err instanceof ProxyError ? err : new ProxyError('bad_handshake', (err as Error).message);
      this.#refuse(socket, e, ctx);
    }
  }

  #admit(req: IncomingMessage, socket: Socket, head: Buffer, ctx: UpgradeCtx): void {
    if (this.#draining) throw new ProxyError('draining');
    const hs = checkClientHandshake(req);
    const route = this.#router.match(hs.host, req.url ?? '/');
    if (route === undefined) throw new ProxyError('no_route', `${hs.host ?? ''}${req.url ?? ''}`);
    ctx.route = route.name;
    // "If the origin indicated is unacceptable to the server, then it SHOULD respond … 403" (§10.2).
    // A request without Origin is not from a browser, and a non-browser client can send any
    // Origin it likes: the allow-list guards browsers against cross-site WebSocket hijacking.
    if (route.origins !== undefined && hs.origin !== undefined && !route.origins.includes(hs.origin)) {
      throw new ProxyError('origin_denied', hs.origin);
    }
    const peer = unmapV4(socket.remoteAddress ?? '');
    const trusted = this.#trusted.trusts(peer);
    const clientIp = this.#trusted.resolve(peer, req.headers['x-forwarded-for'] as string | undefined);
    const limits = this.#config.limits;
    if (limits.max_connections > 0 && this.#sessions.size + this.#pending >= limits.max_connections) {
      throw new ProxyError('overloaded');
    }
    if (limits.max_connections_per_ip > 0 && (this.#perIp.get(clientIp) ?? 0) >= limits.max_connections_per_ip) {
      throw new ProxyError('too_many_per_ip');
    }
    const pool = this.#pools.get(route.backend);
    const selection = this.#choose(route, req, clientIp);
    if (pool === undefined || selection === undefined) throw new ProxyError('no_backend', route.backend);
    const backend = selection.backend;
    ctx.backend = backend.id;
    this.#connect(req, socket, head, ctx, { route, pool, backend, hs, peer, trusted, clientIp });
  }

  /** Pick a server of the route's pool (with its affinity key, if any) and report the pick. */
  #choose(route: RouteConfig, req: IncomingMessage, clientIp: string): Selection | undefined {
    const pool = this.#pools.get(route.backend);
    if (pool === undefined) return undefined;
    const affinity = pool.config.affinity;
    const key = affinity === undefined ? undefined : affinityKeyOf(affinity.key, req, clientIp);
    const selection = pool.select({ ...(key !== undefined ? { key } : {}), clientIp });
    if (selection !== undefined) this.#hub.selection(route.name, selection.backend.id, selection.affinity);
    return selection;
  }

  #connect(req: IncomingMessage, socket: Socket, head: Buffer, ctx: UpgradeCtx, t: Target): void {
    this.#pending++;
    this.#perIp.set(t.clientIp, (this.#perIp.get(t.clientIp) ?? 0) + 1);
    const headers = upstreamHeaders(req, { peer: t.peer, trusted: t.trusted, tls: this.#config.listen.tls !== undefined });
    const tlsCfg = t.pool.config.tls;
    const d = dial({
      url: t.backend.url,
      target: req.url ?? '/',
      headers,
      handshake: t.hs,
      timeoutMs: this.#config.timeouts.handshake,
      ...(this.#backendCa.has(t.pool.name) ? { ca: this.#backendCa.get(t.pool.name)! } : {}),
      insecure: tlsCfg.insecure,
    });
    // Bytes the client sends before the 101 are held (RFC 9931): forwarded only after a valid
    // 101, discarded otherwise. Reading them also lets us see a client that goes away.
    const early: Buffer[] = head.length > 0 ? [head] : [];
    let earlyBytes = head.length;
    const onData = (b: Buffer): void => {
      early.push(b);
      earlyBytes += b.length;
      if (earlyBytes > MAX_EARLY_BYTES) socket.pause();
    };
    const onGone = (): void => d.abort();
    socket.on('data', onData);
    socket.on('end', onGone);
    socket.on('close', onGone);
    d.outcome.then(
      (o) => {
        socket.off('data', onData);
        socket.off('end', onGone);
        socket.off('close', onGone);
        // Early bytes past MAX_EARLY_BYTES paused the socket. Not tunnelled: read on (and drop)
        // so that the client's FIN is seen and the socket can close after the answer.
        if (o.kind !== 'upgraded') socket.resume();
        this.#pending--;
        this.#settle(socket, ctx, t, o, early);
      },
      /* c8 ignore next */ (err: unknown) => this.#logger.error({ err: String(err) }, 'dial failed unexpectedly'),
    );
  }

  #settle(socket: Socket, ctx: UpgradeCtx, t: Target, o: DialOutcome, early: Buffer[]): void {
    if (o.kind === 'failed') {
      this.#health.dialFailed(t.backend, o.error.code);
      this.#releaseIp(t.clientIp);
      this.#refuse(socket, o.error, ctx);
      this.#checkIdle();
      return;
    }
    if (o.kind === 'refused') {
      this.#releaseIp(t.clientIp);
      const status = o.res.statusCode ?? 502;
      this.#health.refused(t.backend, status);
      this.#hub.upgrade({ route: ctx.route, backend: ctx.backend, status, errorType: 'backend_rejected', durationS: elapsed(ctx) });
      relayRefusal(o.res, o.request, socket, this.#config.timeouts.handshake);
      this.#checkIdle();
      return;
    }
    const backendSocket = o.socket;
    if (socket.destroyed || !socket.writable) {
      backendSocket.destroy();
      this.#releaseIp(t.clientIp);
      this.#hub.upgrade({ route: ctx.route, backend: ctx.backend, status: 499, errorType: 'client_closed', durationS: elapsed(ctx) });
      this.#checkIdle();
      return;
    }
    write101(socket, o.rawHeaders, t.pool.config.id_header, t.backend.id);
    this.#hub.upgrade({ route: ctx.route, backend: ctx.backend, status: 101, durationS: elapsed(ctx) });
    this.#open(socket, backendSocket, o.head, early, t, o.extensions);
  }

  #open(client: Socket, backendSocket: Socket, backendHead: Buffer, early: Buffer[], t: Target, extensions: readonly string[]): void {
    this.#handshaking.delete(client);
    const backend = t.backend;
    backend.active++;
    const info = {
      id: this.#nextId++,
      route: t.route.name,
      backend: backend.id,
      pool: t.pool.name,
      openedAt: nowMs(),
      clientIp: t.clientIp,
    };
    const session = new Session(client, backendSocket, info, this.#tunnel, backend, extensions);
    this.#sessions.add(session);
    session.start(early, backendHead);
  }

  #releaseIp(ip: string): void {
    const n = (this.#perIp.get(ip) ?? 1) - 1;
    if (n <= 0) this.#perIp.delete(ip);
    else this.#perIp.set(ip, n);
  }

  #refuse(socket: Socket, e: ProxyError, ctx: UpgradeCtx): void {
    const status = e.status;
    if (e.code !== 'client_closed') {
      const extra: Record<string, string> = {};
      if (e.code === 'unsupported_version') extra['Sec-WebSocket-Version'] = '13';
      if (e.code === 'overloaded' || e.code === 'too_many_per_ip' || e.code === 'draining') extra['Retry-After'] = '1';
      rejectUpgrade(socket, status, e.message, extra);
    } else {
      socket.destroy();
    }
    this.#hub.upgrade({ route: ctx.route, backend: ctx.backend, status, errorType: e.code, durationS: elapsed(ctx) });
    if (e.code.startsWith('backend_')) {
      this.#logger.warn({ route: ctx.route, backend: ctx.backend, error: e.code, status }, e.message);
    }
  }
}

interface UpgradeCtx {
  readonly started: number;
  route: string | undefined;
  backend: string | undefined;
}

interface Target {
  readonly route: RouteConfig;
  readonly pool: Pool;
  readonly backend: Backend;
  readonly hs: ClientHandshake;
  readonly peer: string;
  readonly trusted: boolean;
  readonly clientIp: string;
}

function elapsed(ctx: UpgradeCtx): number {
  return (performance.now() - ctx.started) / 1000;
}

function onEarlyError(this: Socket): void {
  this.destroy();
}
