/**
 * Backpressure and slow readers (research §6 #14; SPEC §6 "memory stays bounded by socket
 * buffers"; Envoy `TcpProxyLargeWrite`): a backend pushes 200 MB to a client that reads at
 * 20 MB/s, a client pushes 200 MB to a backend that reads at 20 MB/s, and 20 slow readers at
 * once. wstap runs as its own process (`node dist/cli.js serve`) so that its RSS can be sampled
 * from /proc while the bytes flow: its peak growth over the idle baseline must stay far below
 * what passes through it. Payloads are hashed at both ends: no byte lost, added or reordered.
 * Heartbeats run meanwhile (every 250 ms, 5 s timeout): their pings wait for frame boundaries
 * in flows that are paused most of the time, and a slow reader that keeps draining is alive.
 * (The timeout must exceed the time a reader needs to read what sits in the kernel buffers
 * ahead of the ping — several MB on loopback — once wstap has nothing left to write and sees
 * no more 'drain': with 1 s, 2 MB/s readers were declared dead at the end of their stream.)
 *
 * Sizes and rate can be changed with SLOW_MB (default 200) and SLOW_RATE_MB (default 20, per s).
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { crashGuard, noOpenSockets, trackedBackend, type BackendConn, type TrackedBackend } from '../../helpers/backends.js';
import { buildOnce, killChildren, serve, tempDir, type Served } from '../../helpers/cli.js';
import { FIXED_MASK, RawClient, acceptKey, closeFrameOf, frame, headEnd, rawBackend, rawWebSocket, requestKey, type RawBackend } from '../../helpers/raw.js';
import { FrameReader, eventually, rssKiB, wstapIdle, sampleRss, throttle, drainOf, zeroMaskHeader } from '../../helpers/faults.js';

crashGuard();

const MB = 1024 * 1024;
const TOTAL_MB = Number(process.env.SLOW_MB ?? 200);
const RATE = Number(process.env.SLOW_RATE_MB ?? 20) * MB;
/** Peak RSS growth allowed over the idle baseline (research §6 #14: "e.g. < 64 MB total"). */
const RSS_BUDGET_KIB = 64 * 1024;
/** Most the downstream backend lets `ws` queue before it waits for 'drain'. */
const BACKEND_WINDOW = 8 * MB;

let down: TrackedBackend;
let up: RawBackend;
let tmp: ReturnType<typeof tempDir>;
let wstap: Served;
const clients = new Set<RawClient>();
/** What the upstream backend read, per connection, in order of connection. */
const upstream: { reader: FrameReader; readerDone: Promise<void> }[] = [];
const figures: string[] = [];

/** 1 MB messages: one random block with the message number in its first 4 bytes. */
const BLOCK = randomBytes(MB);
function message(i: number): Buffer {
  const m = Buffer.from(BLOCK);
  m.writeUInt32BE(i, 0);
  return m;
}

interface DownSummary {
  readonly sha256: string;
  readonly bytes: number;
  /** Largest `ws.bufferedAmount` the backend saw: it waited on a full pipe. */
  readonly maxQueued: number;
}

/** The downstream backend: on "start N", sends N messages of 1 MB (at most 8 MB queued), then a JSON summary as text. */
function streamDown(conn: BackendConn): void {
  conn.ws.once('message', (d) => {
    const n = Number(String(d).split(' ')[1]);
    const hash = createHash('sha256');
    let i = 0;
    let maxQueued = 0;
    const pump = (): void => {
      while (i < n && conn.ws.bufferedAmount < BACKEND_WINDOW && conn.ws.readyState === conn.ws.OPEN) {
        const m = message(i++);
        hash.update(m);
        conn.ws.send(m);
        maxQueued = Math.max(maxQueued, conn.ws.bufferedAmount);
      }
      if (conn.ws.readyState !== conn.ws.OPEN) return;
      if (i < n) conn.socket.once('drain', pump);
      else conn.ws.send(JSON.stringify({ sha256: hash.digest('hex'), bytes: n * MB, maxQueued } satisfies DownSummary));
    };
    pump();
  });
}

beforeAll(async () => {
  await buildOnce();
  tmp = tempDir();
  down = await trackedBackend({ onConnection: streamDown });
  // The upstream backend (raw): answers the 101, reads at RATE (or ?rate=), hashes what it
  // gets, answers pings; after ?n= messages it sends close 1000 and ends on the client's close.
  up = await rawBackend((conn, head, rest) => {
    const n = Number(/[?&]n=(\d+)/.exec(head)?.[1] ?? 0);
    const rate = Number(/[?&]rate=(\d+)/.exec(head)?.[1] ?? RATE);
    conn.socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(requestKey(head))}\r\n\r\n`);
    let done!: () => void;
    const readerDone = new Promise<void>((r) => (done = r));
    const reader: FrameReader = new FrameReader({
      onControl: (op, payload) => {
        if (op === 0x9) conn.socket.write(frame(0xa, Buffer.from(payload)));
        if (op === 0x8) conn.socket.end();
      },
      onMessage: () => {
        if (reader.messages !== n) return;
        conn.socket.write(closeFrameOf(1000, 'got it all'));
        done();
      },
    });
    upstream.push({ reader, readerDone });
    throttle(conn.socket, rate);
    if (rest.length > 0) reader.push(rest);
    conn.socket.on('data', (b: Buffer) => reader.push(b));
  });
  wstap = await serve(
    tmp.file('wstap.yaml'),
    (port, adminPort) => `
listen: { host: 127.0.0.1, port: ${port} }
admin: { host: 127.0.0.1, port: ${adminPort} }
backends:
  down: { servers: [{ id: down-1, url: "${down.url}" }] }
  up: { servers: [{ id: up-1, url: "${up.url}" }] }
routes:
  - { name: down, match: { path: /down }, backend: down }
  - { name: up, match: { path: /up }, backend: up }
heartbeat: { interval: 250ms, timeout: 5s }
log: { level: info }
`,
  );
}, 120_000);

afterAll(async () => {
  await killChildren();
  await down?.close();
  await up?.close();
  tmp?.remove();
  if (figures.length > 0) console.info(`slow readers, wstap in its own process:\n  ${figures.join('\n  ')}`);
});

afterEach(async () => {
  for (const c of clients) c.socket.destroy();
  clients.clear();
  // Leak check: wstap reports no session and no handshake, the backends have no connection,
  // and this process has no TCP socket open. wstap is still running.
  await wstapIdle(wstap.admin);
  await down.drained();
  await eventually(() => up.open.size === 0, 'the upstream backend connections to close');
  await noOpenSockets();
  expect(wstap.child.exitCode).toBeNull();
});

interface SlowClient {
  readonly c: RawClient;
  readonly reader: FrameReader;
  /** The downstream backend's summary (its final text message). */
  readonly summary: Promise<DownSummary>;
}

/** A raw client through wstap that reads at `rate` bytes/s, hashes binary payloads and answers pings. */
async function slowClient(path: string, rate: number): Promise<SlowClient> {
  const { client: c } = await rawWebSocket(wstap.port, path);
  clients.add(c);
  let resolveSummary!: (s: DownSummary) => void;
  const summary = new Promise<DownSummary>((r) => (resolveSummary = r));
  const reader = new FrameReader({
    onControl: (op, payload) => {
      if (op === 0x9) c.write(frame(0xa, Buffer.from(payload), { mask: FIXED_MASK }));
    },
    onText: (t) => resolveSummary(JSON.parse(t) as DownSummary),
  });
  const after = c.received().subarray(headEnd(c.received()));
  if (after.length > 0) reader.push(after);
  c.socket.on('data', (b: Buffer) => reader.push(b));
  throttle(c.socket, rate);
  return { c, reader, summary };
}

/** Close a client cleanly (it sends 1000, the backend answers, both TCP close). */
async function finish(c: RawClient): Promise<void> {
  c.write(closeFrameOf(1000, 'thanks', FIXED_MASK));
  await c.closed;
}

function mb(kib: number): string {
  return (kib / 1024).toFixed(1);
}

describe('slow readers through wstap (its own process)', () => {
  it(`a backend pushes ${TOTAL_MB} MB to a client reading at ${RATE / MB} MB/s: every byte in order, backpressure reaches the backend, RSS bounded`, async () => {
    const s = await slowClient('/down', RATE);
    const pid = wstap.child.pid!;
    const base = rssKiB(pid);
    const rss = sampleRss(pid);
    const t0 = performance.now();
    s.c.write(frame(0x1, `start ${TOTAL_MB}`, { mask: FIXED_MASK }));
    const summary = await s.summary;
    const secs = (performance.now() - t0) / 1000;
    const { peakKiB, samples } = rss.stop();
    expect(s.reader.dataBytes).toBe(TOTAL_MB * MB);
    expect(s.reader.digest()).toBe(summary.sha256);
    // The backend could not send faster than the client read: it waited on a full pipe.
    expect(summary.maxQueued).toBeGreaterThanOrEqual(BACKEND_WINDOW);
    expect(secs).toBeGreaterThan((TOTAL_MB * MB) / RATE / 2);
    expect(samples).toBeGreaterThan(10);
    expect(peakKiB - base).toBeLessThan(RSS_BUDGET_KIB);
    figures.push(`down: ${TOTAL_MB} MB in ${secs.toFixed(1)} s (${(TOTAL_MB / secs).toFixed(1)} MB/s); RSS idle ${mb(base)} MB, peak +${mb(peakKiB - base)} MB (${samples} samples)`);
    await finish(s.c);
    expect(s.reader.closeCodes).toEqual([1000]);
  }, 60_000);

  it(`a client pushes ${TOTAL_MB} MB to a backend reading at ${RATE / MB} MB/s: every byte in order, the client sees backpressure, RSS bounded`, async () => {
    const n = TOTAL_MB;
    const { client: c } = await rawWebSocket(wstap.port, `/up?n=${n}`);
    clients.add(c);
    const closeFromBackend = c.waitFor((b) => b.length > headEnd(b), 'the close frame');
    const conn = upstream.at(-1)!;
    const pid = wstap.child.pid!;
    const base = rssKiB(pid);
    const rss = sampleRss(pid);
    const t0 = performance.now();
    const sent = createHash('sha256');
    /** Time the client spent waiting for 'drain': held back by the slow backend, through wstap. */
    let waitedMs = 0;
    // 1 MB masked binary frames (zero mask key: the payload goes as is; wstap relays bytes
    // and never unmasks data), each written only when the socket takes more.
    const head = zeroMaskHeader(0x2, MB);
    for (let i = 0; i < n; i++) {
      const m = message(i);
      sent.update(m);
      c.socket.write(head);
      if (c.socket.write(m)) continue;
      const w0 = performance.now();
      if (!(await drainOf(c.socket))) throw new Error('the client socket closed');
      waitedMs += performance.now() - w0;
    }
    await conn.readerDone;
    const secs = (performance.now() - t0) / 1000;
    const { peakKiB, samples } = rss.stop();
    expect(conn.reader.dataBytes).toBe(n * MB);
    expect(conn.reader.digest()).toBe(sent.digest('hex'));
    // The client could not write faster than the backend read: it spent most of the time
    // waiting for its socket to drain.
    expect(waitedMs / 1000).toBeGreaterThan(secs / 2);
    expect(secs).toBeGreaterThan((n * MB) / RATE / 2);
    expect(peakKiB - base).toBeLessThan(RSS_BUDGET_KIB);
    figures.push(`up: ${n} MB in ${secs.toFixed(1)} s (${(n / secs).toFixed(1)} MB/s, the client waited on 'drain' ${((waitedMs / 1000 / secs) * 100).toFixed(0)}% of it); RSS idle ${mb(base)} MB, peak +${mb(peakKiB - base)} MB (${samples} samples)`);
    await closeFromBackend;
    await finish(c);
  }, 60_000);

  it('20 clients reading at 2 MB/s each, 6 MB apiece, at once: every stream intact, RSS bounded', async () => {
    const count = Number(process.env.SLOW_READERS ?? 20);
    const each = 6;
    const rate = 2 * MB;
    const all = await Promise.all(Array.from({ length: count }, () => slowClient('/down', rate)));
    const pid = wstap.child.pid!;
    const base = rssKiB(pid);
    const rss = sampleRss(pid);
    const t0 = performance.now();
    for (const s of all) s.c.write(frame(0x1, `start ${each}`, { mask: FIXED_MASK }));
    const summaries = await Promise.all(all.map((s) => s.summary));
    const secs = (performance.now() - t0) / 1000;
    const { peakKiB, samples } = rss.stop();
    all.forEach((s, i) => {
      expect(s.reader.dataBytes, `client ${i}`).toBe(each * MB);
      expect(s.reader.digest(), `client ${i}`).toBe(summaries[i]!.sha256);
    });
    expect(secs).toBeGreaterThan((each * MB) / rate / 2);
    expect(peakKiB - base).toBeLessThan(RSS_BUDGET_KIB);
    figures.push(`${count} × ${each} MB at ${rate / MB} MB/s each: ${secs.toFixed(1)} s (${((count * each) / secs).toFixed(1)} MB/s in all); RSS idle ${mb(base)} MB, peak +${mb(peakKiB - base)} MB (${samples} samples)`);
    await Promise.all(all.map((s) => finish(s.c)));
  }, 60_000);
});
