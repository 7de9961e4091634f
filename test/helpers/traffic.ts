/**
 * Known traffic through a real running wstap App, for the end-to-end telemetry tests: a
 * scripted `ws` backend, an event log subscribed to the App's hub (so tests wait on events,
 * never on sleeps), the "known traffic" script with the totals it must produce, and small
 * utilities (a captured CommandIO, a free port).
 */
import net, { type AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { WebSocket } from 'ws';
import { App } from '../../src/app.js';
import type { CommandIO } from '../../src/commands/io.js';
import type { Config } from '../../src/config/types.js';
import {
  EventHub,
  type Direction,
  type MessageType,
  type ProxyObserver,
  type SessionCloseEvent,
  type SessionInfo,
  type UpgradeEvent,
} from '../../src/events.js';
import { silentLogger } from '../../src/log.js';
import { closed, connect, echoBackend, nextMessage, testConfig, type Backend } from './proxy.js';

// ---------------------------------------------------------------------------------------------
// The backend

/**
 * A `ws` backend whose behaviour is chosen by the query of the request target, so one server
 * serves every session of a test:
 * - no query: echo every message (text stays text, binary stays binary);
 * - `?close_at=N&code=C`: echo messages 1…N−1, and on the N-th close with code C (no echo);
 * - `?drop_at=N`: echo messages 1…N−1, and on the N-th destroy the socket with no close frame.
 */
export function scriptedBackend(): Promise<Backend> {
  return echoBackend({}, (ws, req) => {
    const q = new URL(req.url ?? '/', 'http://backend.invalid').searchParams;
    const closeAt = Number(q.get('close_at') ?? 0);
    const code = Number(q.get('code') ?? 1000);
    const dropAt = Number(q.get('drop_at') ?? 0);
    let n = 0;
    ws.on('message', (data, isBinary) => {
      n++;
      if (n === closeAt) return ws.close(code, 'backend closes');
      if (n === dropAt) return ws.terminate();
      ws.send(data, { binary: isBinary });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Waiting on the hub

interface Waiter {
  readonly check: () => boolean;
  readonly resolve: () => void;
}

/**
 * Everything the core reported, subscribed to the App's own hub. `waitFor` resolves as soon as
 * an event makes the predicate true (no polling); it rejects after `timeoutMs` with `what`.
 */
export class EventLog implements ProxyObserver {
  readonly upgrades: UpgradeEvent[] = [];
  readonly opened: SessionInfo[] = [];
  readonly messages: { dir: Direction; type: MessageType; size: number }[] = [];
  readonly closes: { info: SessionInfo; e: SessionCloseEvent }[] = [];
  /** Wire bytes relayed per direction (sum of the `bytes` hook). */
  readonly wire: Record<Direction, number> = { client_to_backend: 0, backend_to_client: 0 };
  #waiters: Waiter[] = [];

  upgrade(e: UpgradeEvent): void {
    this.upgrades.push(e);
    this.#wake();
  }
  sessionOpen(s: SessionInfo): void {
    this.opened.push(s);
    this.#wake();
  }
  message(_s: SessionInfo, dir: Direction, type: MessageType, size: number, _at?: number, count = 1): void {
    for (let i = 0; i < count; i++) this.messages.push({ dir, type, size });
    this.#wake();
  }
  bytes(_s: SessionInfo, dir: Direction, n: number): void {
    this.wire[dir] += n;
  }
  sessionClose(info: SessionInfo, e: SessionCloseEvent): void {
    this.closes.push({ info, e });
    this.#wake();
  }

  /** Messages seen in `dir` (and of `type`, if given). */
  count(dir: Direction, type?: MessageType): number {
    return this.messages.filter((m) => m.dir === dir && (type === undefined || m.type === type)).length;
  }

  /** Payload bytes of the messages seen in `dir`. */
  payloadBytes(dir: Direction): number {
    return this.messages.filter((m) => m.dir === dir).reduce((a, m) => a + m.size, 0);
  }

  /** Resolve once `check()` holds (checked now and after every event). */
  waitFor(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const waiter: Waiter = {
        check,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      this.#waiters.push(waiter);
    });
  }

  /** Resolve once `n` sessions have been reported closed. */
  closed(n: number): Promise<void> {
    return this.waitFor(() => this.closes.length >= n, `${n} session closes (seen ${this.closes.length})`);
  }

  #wake(): void {
    if (this.#waiters.length === 0) return;
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.check()) return true;
      w.resolve();
      return false;
    });
  }
}

// ---------------------------------------------------------------------------------------------
// The App under test

/** Route and server names of {@link trafficConfig}, as they appear on every series. */
export const ROUTE = 'chat';
export const SERVER = 'echo-1';

/**
 * One pool of one server and one catch-all route, with the admin server on a free port, the
 * Prometheus endpoint on, heartbeats off (they would add pings), and `extra` merged on top.
 */
export function trafficConfig(backendUrl: string, extra: Record<string, unknown> = {}): Config {
  return testConfig({
    backends: { chat: { servers: [{ id: SERVER, url: backendUrl }] } },
    routes: [{ name: ROUTE, match: { path: '/' }, backend: 'chat' }],
    admin: { host: '127.0.0.1', port: 0 },
    ...extra,
  });
}

/** A running App with its own hub and an {@link EventLog} subscribed to it. */
export interface TappedApp {
  readonly app: App;
  readonly log: EventLog;
  /** `ws://127.0.0.1:<proxy port>` */
  readonly proxyUrl: string;
  /** `http://127.0.0.1:<admin port>` */
  readonly adminUrl: string;
  /** Close the App and check it left no session behind. */
  close(): Promise<void>;
}

/** Start an App whose hub feeds an {@link EventLog} (subscribed before the App starts). */
export async function startTappedApp(config: Config): Promise<TappedApp> {
  const hub = new EventHub();
  const log = new EventLog();
  hub.subscribe(log);
  const app = await App.start(config, { logger: silentLogger(), hub });
  const { proxy, admin } = app.addresses;
  if (admin === undefined) throw new Error('the admin server is not enabled in this config');
  return {
    app,
    log,
    proxyUrl: `ws://127.0.0.1:${proxy.port}`,
    adminUrl: `http://127.0.0.1:${admin.port}`,
    close: async () => {
      await app.close();
      if (app.proxy.activeSessions !== 0) throw new Error(`${app.proxy.activeSessions} sessions left open`);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The known traffic

/** What the clients of {@link runKnownTraffic} saw. */
export interface ClientView {
  /** Close code each client received: A, B, C. */
  readonly closeCodes: readonly [number, number, number];
  /** Echoes each client received: A, B, C. */
  readonly echoes: readonly [number, number, number];
}

/** Text payloads of session A (6), B (4), C (2). */
const A_TEXT = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot'];
const A_BINARY = [1, 2, 3, 4, 5].map((n) => Buffer.alloc(n * 10, n));
const B_TEXT = ['one', 'two', 'three', 'four'];
const C_TEXT = ['first', 'second'];

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
const textBytes = (xs: readonly string[]) => sum(xs.map((s) => Buffer.byteLength(s)));
const binBytes = (xs: readonly Buffer[]) => sum(xs.map((b) => b.length));

/**
 * The totals {@link runKnownTraffic} must produce (the issue's numbers):
 * - A: 6 text + 5 binary, all echoed; the client closes 4001;
 * - B: 4 text, the first 3 echoed; the backend closes 4002 on the 4th;
 * - C: 2 text, the first echoed; the backend drops its TCP on the 2nd (client gets 1014).
 */
export const KNOWN = {
  sessions: 3,
  c2b: { text: 12, binary: 5, total: 17 },
  b2c: { text: 10, binary: 5, total: 15 },
  /** (code, initiator) of each session's first close. */
  closes: [
    { code: 4001, initiator: 'client' },
    { code: 4002, initiator: 'backend' },
    { code: 1006, initiator: 'backend' },
  ],
  /** What each client saw: A its own 4001 echoed back, B the backend's 4002, C the proxy's 1014. */
  client: { closeCodes: [4001, 4002, 1014], echoes: [11, 3, 1] } satisfies ClientView,
  /** Data messages per session, both directions (the `wstap.session.messages` samples). */
  perSession: [22, 7, 3],
  /** Payload bytes per direction (the sums of `wstap.message.size`). */
  payload: {
    client_to_backend: textBytes(A_TEXT) + binBytes(A_BINARY) + textBytes(B_TEXT) + textBytes(C_TEXT),
    backend_to_client: textBytes(A_TEXT) + binBytes(A_BINARY) + textBytes(B_TEXT.slice(0, 3)) + textBytes(C_TEXT.slice(0, 1)),
  },
} as const;

/** Send one message and wait for its echo (checked equal). */
export async function roundTrip(ws: WebSocket, payload: string | Buffer): Promise<void> {
  const echo = nextMessage(ws);
  ws.send(payload);
  const got = await echo;
  const binary = Buffer.isBuffer(payload);
  if (got.isBinary !== binary || !got.data.equals(binary ? payload : Buffer.from(payload))) {
    throw new Error(`bad echo of ${binary ? `${payload.length} bytes` : JSON.stringify(payload)}`);
  }
}

/**
 * Run sessions A, B and C one after the other through the proxy at `proxyUrl` (served by a
 * {@link scriptedBackend}) and wait until the App reported all three closed.
 */
export async function runKnownTraffic(proxyUrl: string, log: EventLog): Promise<ClientView> {
  const before = log.closes.length;

  // A: 6 text + 5 binary, interleaved, each echoed; the client closes 4001.
  const a = await connect(`${proxyUrl}/chat/a`);
  for (let i = 0; i < A_TEXT.length; i++) {
    await roundTrip(a, A_TEXT[i]!);
    if (i < A_BINARY.length) await roundTrip(a, A_BINARY[i]!);
  }
  const aClosed = closed(a);
  a.close(4001, 'client done');
  const aCode = (await aClosed).code;

  // B: 3 text echoed, then the 4th makes the backend close 4002 (no echo).
  const b = await connect(`${proxyUrl}/chat/b?close_at=4&code=4002`);
  for (const t of B_TEXT.slice(0, 3)) await roundTrip(b, t);
  const bClosed = closed(b);
  b.send(B_TEXT[3]!);
  const bCode = (await bClosed).code;

  // C: 1 text echoed, then the 2nd makes the backend drop its TCP with no close frame.
  const c = await connect(`${proxyUrl}/chat/c?drop_at=2`);
  await roundTrip(c, C_TEXT[0]!);
  const cClosed = closed(c);
  c.send(C_TEXT[1]!);
  const cCode = (await cClosed).code;

  await log.closed(before + 3);
  return { closeCodes: [aCode, bCode, cCode], echoes: [A_TEXT.length + A_BINARY.length, 3, 1] };
}

/**
 * `n` sessions that each send one text message, get it echoed, and close 1000 from the client,
 * then (if `dropped`) one session the backend drops (→ 1006). Waits for every close.
 */
export async function runCloses(proxyUrl: string, log: EventLog, normal: number, dropped = 0): Promise<void> {
  const before = log.closes.length;
  for (let i = 0; i < normal; i++) {
    const ws = await connect(`${proxyUrl}/chat/normal`);
    await roundTrip(ws, `hello ${i}`);
    const done = closed(ws);
    ws.close(1000, 'bye');
    await done;
  }
  for (let i = 0; i < dropped; i++) {
    const ws = await connect(`${proxyUrl}/chat/drop?drop_at=1`);
    const done = closed(ws);
    ws.send('boom');
    await done;
  }
  await log.closed(before + normal + dropped);
}

// ---------------------------------------------------------------------------------------------
// Utilities

/** A CommandIO whose streams are captured as strings. */
export function captureIO(): CommandIO & { out(): string; err(): string } {
  const sink = () => {
    const chunks: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer | string, _enc, cb) {
        chunks.push(chunk.toString());
        cb();
      },
    });
    return { stream, text: () => chunks.join('') };
  };
  const o = sink();
  const e = sink();
  return {
    stdout: o.stream,
    stderr: e.stream,
    env: {},
    onSignal: () => () => {},
    out: o.text,
    err: e.text,
  };
}

/** A TCP port that was free a moment ago on 127.0.0.1 (listen on 0, read it, close). */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/** GET `url` and return status and body text. */
export async function get(url: string): Promise<{ status: number; text: string; contentType: string | null }> {
  const res = await fetch(url);
  return { status: res.status, text: await res.text(), contentType: res.headers.get('content-type') };
}
