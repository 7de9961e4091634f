/**
 * One client WebSocket of a synthetic check, with every wait bounded by a {@link Deadline}.
 * `check`, the monitor steps and `sticky-check` all drive this class, so the handshake, ping,
 * message and close logic (and its error messages) exist once.
 *
 * Ownership rule: whoever opens a ProbeConnection calls {@link ProbeConnection.destroy} on every
 * path; it terminates the socket if needed and resolves only after `ws` reported `close`, so no
 * socket or `ws` timer outlives a check.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { randomBytes } from 'node:crypto';
import { WebSocket, type RawData } from 'ws';
import { describeConnectError, describeStreamError, formatClose } from './connect-errors.js';
import { ProbeError, now, timeoutMessage, type Deadline } from './deadline.js';

/** How to open the connection. */
export interface ProbeOptions {
  /** Extra request headers (`Authorization`, `Cookie`, …). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Offered in `Sec-WebSocket-Protocol`. */
  readonly subprotocols?: readonly string[];
  /** Skip TLS certificate verification (wss:// with a self-signed certificate). */
  readonly insecure?: boolean;
  /** Aborting fails the current wait with `aborted` (scheduler stop). */
  readonly signal?: AbortSignal;
}

/** A data message as received. */
export interface ReceivedMessage {
  readonly text: string;
  readonly binary: boolean;
  /** {@link now} at arrival. */
  readonly at: number;
}

/** How the connection ended. */
export interface CloseInfo {
  readonly code: number;
  readonly reason: string;
  /** True when the server sent the first close frame (or dropped the connection). */
  readonly byServer: boolean;
}

// Monitors read small replies; a runaway peer must not make a probe buffer 100 MiB (ws' default).
const MAX_PAYLOAD = 16 * 1024 * 1024;
// Unread messages kept for the next receive; older ones are dropped (a chatty feed between steps).
const MAX_BACKLOG = 256;

/** A `ws` client whose every wait is bounded; open it with {@link ProbeConnection.open}. */
export class ProbeConnection {
  /** Milliseconds from the start of the TCP connect to the accepted 101. */
  connectionTimeMs = 0;
  /** Headers of the 101 response (sticky-check reads the backend id here). */
  responseHeaders: IncomingHttpHeaders = {};

  readonly #ws: WebSocket;
  readonly #signal: AbortSignal | undefined;
  readonly #closed: Promise<void>;
  readonly #wakers = new Set<() => void>();
  #backlog: ReceivedMessage[] = [];
  #opened = false;
  #failure: ProbeError | undefined;
  #close: CloseInfo | undefined;
  #closeRequested = false;
  #serverStartedClose = false;
  /** The ping awaiting its pong (one at a time: steps run in sequence). */
  #ping: { readonly key: string; pongAt?: number } | undefined;

  private constructor(url: URL, opts: ProbeOptions) {
    this.#signal = opts.signal;
    const protocols = opts.subprotocols !== undefined && opts.subprotocols.length > 0 ? [...opts.subprotocols] : undefined;
    this.#ws = new WebSocket(url, protocols, {
      headers: { ...(opts.headers ?? {}) },
      rejectUnauthorized: opts.insecure !== true,
      followRedirects: false,
      maxPayload: MAX_PAYLOAD,
    });
    const ws = this.#ws;
    // Registered first and never removed: `ws` emits `error` on teardown paths (terminate while
    // connecting), and an unhandled `error` event would crash the process.
    ws.on('error', (err) => this.#fail(this.#opened ? describeStreamError(err) : describeConnectError(err, url)));
    this.#closed = new Promise((resolve) => ws.once('close', () => resolve()));
    ws.on('open', () => {
      this.#opened = true;
      this.#wake();
    });
    ws.on('upgrade', (res: IncomingMessage) => {
      this.responseHeaders = res.headers;
    });
    ws.on('unexpected-response', (_req, res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      const location = status >= 300 && status < 400 && res.headers.location ? `, Location: ${res.headers.location}` : '';
      const text = res.statusMessage ? ` (${res.statusMessage}${location})` : location ? ` (${location.slice(2)})` : '';
      this.#fail(`unexpected HTTP ${status} instead of 101${text}`);
      // Handling the event makes the abort ours: terminate() aborts the request and emits close.
      ws.terminate();
    });
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (this.#backlog.length >= MAX_BACKLOG) this.#backlog.shift();
      this.#backlog.push({ text: rawToString(data), binary: isBinary, at: now() });
      this.#wake();
    });
    ws.on('pong', (data: Buffer) => {
      // Only the pong echoing our payload counts: unsolicited pongs are allowed (RFC 6455 §5.5.3).
      if (this.#ping !== undefined && this.#ping.pongAt === undefined && data.toString('hex') === this.#ping.key) {
        this.#ping.pongAt = now();
        this.#wake();
      }
    });
    ws.on('close', (code: number, reason: Buffer) => {
      this.#close = { code, reason: reason.toString(), byServer: this.#serverStartedClose || !this.#closeRequested };
      this.#wake();
    });
  }

  /**
   * Connect and wait for the 101. On failure the connection is already destroyed and the
   * ProbeError says why (`connection refused (ECONNREFUSED 127.0.0.1:1)`, `unexpected HTTP 403
   * instead of 101 (Forbidden)`, a timeout).
   */
  static async open(url: string | URL, opts: ProbeOptions, deadline: Deadline): Promise<ProbeConnection> {
    let parsed: URL;
    try {
      parsed = url instanceof URL ? url : new URL(url);
    } catch {
      throw new ProbeError(`invalid URL ${JSON.stringify(String(url))}`);
    }
    if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
      throw new ProbeError(`unsupported URL scheme ${JSON.stringify(parsed.protocol)}: use ws:// or wss://`);
    }
    if (opts.signal?.aborted) throw new ProbeError('aborted before connecting');
    const started = now();
    let conn: ProbeConnection;
    try {
      conn = new ProbeConnection(parsed, opts);
    } catch (err) {
      // ws validates the URL and options synchronously (bad header values…).
      throw new ProbeError(err instanceof Error ? err.message : String(err));
    }
    try {
      await conn.#waitFor('the handshake (101 Switching Protocols)', deadline, () => (conn.#opened ? true : undefined));
      conn.connectionTimeMs = now() - started;
      return conn;
    } catch (err) {
      await conn.destroy();
      throw err;
    }
  }

  /** The negotiated subprotocol ('' when none). */
  get protocol(): string {
    return this.#ws.protocol;
  }

  /** Set once the connection has closed (by either side). */
  get closeInfo(): CloseInfo | undefined {
    return this.#close;
  }

  /** Ping with a random payload and wait for the matching pong; resolves the round trip in ms. */
  async ping(deadline: Deadline): Promise<number> {
    await this.#usable('ping', deadline);
    const ping: { readonly key: string; pongAt?: number } = { key: randomBytes(8).toString('hex') };
    this.#ping = ping;
    const sentAt = now();
    try {
      this.#ws.ping(Buffer.from(ping.key, 'hex'));
      const at = await this.#waitFor('a pong', deadline, () => ping.pongAt);
      return at - sentAt;
    } finally {
      if (this.#ping === ping) this.#ping = undefined;
    }
  }

  /**
   * Send a text message. Messages that arrived before it are dropped from the backlog: they
   * cannot be the reply, and a banner (`{"type":"hello"}`) must not satisfy the next receive.
   * Resolves the send time ({@link now}).
   */
  async send(text: string, deadline: Deadline): Promise<number> {
    await this.#usable('send', deadline);
    this.#backlog = [];
    this.#ws.send(text);
    return now();
  }

  /**
   * Wait for the first unread message that `accepts`; messages it rejects are consumed and
   * counted, and a timeout says how many there were and what the last one was.
   */
  async receive(accepts: (m: ReceivedMessage) => boolean, what: string, deadline: Deadline): Promise<ReceivedMessage> {
    let skipped = 0;
    let last: ReceivedMessage | undefined;
    try {
      return await this.#waitFor(what, deadline, () => {
        while (this.#backlog.length > 0) {
          const m = this.#backlog.shift() as ReceivedMessage;
          if (accepts(m)) return m;
          skipped += 1;
          last = m;
        }
        return undefined;
      });
    } catch (err) {
      if (skipped === 0 || !(err instanceof ProbeError) || last === undefined) throw err;
      throw new ProbeError(`${err.message} (${skipped} other message${skipped === 1 ? '' : 's'} received; last: ${preview(last)})`);
    }
  }

  /**
   * Close with `code` and wait for the close handshake; if the server closed first, report its
   * close. On timeout the socket is terminated and a ProbeError thrown.
   */
  async close(deadline: Deadline, code = 1000): Promise<CloseInfo> {
    if (this.#close === undefined && !this.#closeRequested) {
      // ws turns CLOSING as soon as a close frame arrives: the server spoke first.
      if (this.#ws.readyState === WebSocket.CLOSING) this.#serverStartedClose = true;
      this.#closeRequested = true;
      if (this.#ws.readyState === WebSocket.OPEN) this.#ws.close(code);
    }
    try {
      return await this.#waitFor('the close handshake', deadline, () => this.#close, true);
    } catch (err) {
      this.#ws.terminate();
      throw err;
    }
  }

  /** Terminate if still open and resolve once `ws` has released the socket. Idempotent. */
  async destroy(): Promise<void> {
    if (this.#ws.readyState !== WebSocket.CLOSED) this.#ws.terminate();
    await this.#closed;
  }

  /**
   * Throw unless the connection can carry `what`. When the server's close frame is already in
   * (ws is CLOSING), wait for the close to complete first so the error can name its code.
   */
  async #usable(what: string, deadline: Deadline): Promise<void> {
    if (this.#close === undefined && this.#ws.readyState === WebSocket.OPEN) return;
    if (this.#close === undefined && this.#ws.readyState === WebSocket.CLOSING && !this.#closeRequested) {
      this.#serverStartedClose = true;
      await this.#waitFor("the server's close handshake", deadline, () => this.#close, true);
    }
    throw new ProbeError(this.#close !== undefined ? `cannot ${what}: ${this.#closedText()}` : `cannot ${what}: the connection is closing`);
  }

  #closedText(): string {
    const c = this.#close as CloseInfo;
    if (c.code === 1006) return 'the connection dropped without a close frame (1006)';
    return `the ${c.byServer ? 'server' : 'client'} closed the connection with ${formatClose(c.code, c.reason)}`;
  }

  #fail(message: string): void {
    this.#failure ??= new ProbeError(message);
    this.#wake();
  }

  #wake(): void {
    for (const w of [...this.#wakers]) w();
  }

  /**
   * The one wait primitive: resolves when `check` yields a value, rejects on a failure, an
   * unexpected close (unless `closeIsAnswer`), abort or the deadline. Its timer and listeners
   * are removed on every outcome.
   */
  #waitFor<T>(what: string, deadline: Deadline, check: () => T | undefined, closeIsAnswer = false): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const finish = (settle: () => void): void => {
        clearTimeout(timer);
        this.#wakers.delete(wake);
        this.#signal?.removeEventListener('abort', wake);
        settle();
      };
      const wake = (): void => {
        const value = check();
        if (value !== undefined) return finish(() => resolve(value));
        if (this.#signal?.aborted) return finish(() => reject(new ProbeError(`aborted while waiting for ${what}`)));
        if (this.#failure !== undefined && !this.#opened) return finish(() => reject(this.#failure));
        if (this.#close !== undefined && !closeIsAnswer) {
          const why = this.#failure !== undefined ? `${this.#failure.message}; ` : '';
          return finish(() => reject(new ProbeError(`${why}${this.#closedText()} while waiting for ${what}`)));
        }
      };
      const timer = setTimeout(() => finish(() => reject(new ProbeError(timeoutMessage(deadline, what)))), Math.max(0, deadline.at - now()));
      this.#wakers.add(wake);
      this.#signal?.addEventListener('abort', wake);
      wake();
    });
  }
}

function rawToString(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

function preview(m: ReceivedMessage): string {
  if (m.binary) return 'a binary message';
  return m.text.length > 80 ? `${m.text.slice(0, 80)}…` : m.text;
}
