/**
 * Ping injection (research §6 #12), the sub-cases the heartbeat suite does not cover: a Close
 * seen while a large frame streams stops injection (the ping deferred to the frame's end is
 * dropped, not sent after the Close), and a strict backend (`ws` fails unmasked client frames
 * with 1002) gets every proxy ping masked with a fresh key, while the client sees them unmasked
 * and neither endpoint ever sees a proxy pong. Application pings, empty ones included, still
 * get their pongs both ways.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { assertNoLeaks, simpleConfig, startProxy, type RunningProxy } from '../../helpers/proxy.js';
import { crashGuard, trackedBackend, type BackendConn, type TrackedBackend } from '../../helpers/backends.js';
import { useLeakCheck } from '../../helpers/proxy-fixture.js';
import { FIXED_MASK, acceptKey, closeFrameOf, decodeFrames, frame, headEnd, rawBackend, rawWebSocket, requestKey, type RawBackend } from '../../helpers/raw.js';
import { FrameReader, serverHeader, type FrameHead } from '../../helpers/faults.js';

crashGuard();

let p: RunningProxy | undefined;
let backend: TrackedBackend | undefined;
let fake: RawBackend | undefined;
const { rawClients } = useLeakCheck(async () => {
  await p?.close();
  await backend?.close();
  await fake?.close();
  p = backend = fake = undefined;
});

const MB = 1024 * 1024;
/** "wstp": the first 4 bytes of the proxy's ping payloads (src/heartbeat/beat.ts). */
const MAGIC = Buffer.from('wstp');

interface Seen {
  readonly head: FrameHead;
  /** Control payload (unmasked) for control frames. */
  readonly payload?: Buffer;
}

/** Read frames from `feed` bytes; keep the list of frames (data frames without payload). */
function frameLog(): { reader: FrameReader; seen: Seen[] } {
  const seen: Seen[] = [];
  const reader = new FrameReader({
    onHead: (head) => {
      if (head.opcode < 8) seen.push({ head });
    },
    onControl: (_op, payload, head) => seen.push({ head, payload: Buffer.from(payload) }),
  });
  return { reader, seen };
}

describe('a Close seen while a large frame streams', () => {
  it('stops injection both ways: the ping deferred to the end of the frame is dropped, nothing follows a Close but the close handshake', async () => {
    const size = 16 * MB;
    const body = Buffer.alloc(size);
    for (let i = 0; i < size; i += 4096) body.writeUInt32BE(i, i);
    const sentHash = createHash('sha256').update(body).digest('hex');
    const backendLog = frameLog();
    let backendSawClose!: () => void;
    const closeAtBackend = new Promise<void>((r) => (backendSawClose = r));
    fake = await rawBackend((conn, head, rest) => {
      conn.socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(requestKey(head))}\r\n\r\n`);
      const feed = (b: Buffer): void => {
        backendLog.reader.push(b);
        if (backendLog.reader.closeCodes.length > 0) backendSawClose();
      };
      if (rest.length > 0) feed(rest);
      conn.socket.on('data', feed);
      // One 16 MB binary frame, 512 KB every 10 ms (about 320 ms in all: the heartbeats, every
      // 5 ms on a 50 ms timer wheel, land mid-frame); the second half only once the client's
      // close frame has arrived.
      const sock = conn.socket;
      sock.write(serverHeader(0x2, size));
      let off = 0;
      const piece = 512 * 1024;
      let waited = false;
      const pump = (): void => {
        if (sock.destroyed) return;
        if (off >= size) {
          // The frame is whole: answer the client's close, then FIN.
          sock.end(closeFrameOf(1000, 'bye'));
          return;
        }
        if (off === size / 2 && !waited) {
          waited = true;
          void closeAtBackend.then(() => setTimeout(pump, 1));
          return;
        }
        sock.write(body.subarray(off, off + piece));
        off += piece;
        setTimeout(pump, 10);
      };
      pump();
    });
    p = await startProxy(simpleConfig([fake.url], { heartbeat: { interval: 5, timeout: 2000 } }));
    const { client: c } = await rawWebSocket(p.port);
    rawClients.add(c);
    // The client answers every ping (until it sends its close), so the proxy keeps pinging it
    // every 5 ms: its pings land mid-frame and wait for the boundary.
    let sentClose = false;
    const clientLog = frameLog();
    const answer = new FrameReader({
      onControl: (op, payload) => {
        if (op === 0x9 && !sentClose) c.write(frame(0xa, Buffer.from(payload), { mask: FIXED_MASK }));
      },
    });
    c.socket.on('data', (b: Buffer) => answer.push(b));
    const first = c.received().subarray(headEnd(c.received()));
    if (first.length > 0) {
      clientLog.reader.push(first);
      answer.push(first);
    }
    const closeSent = new Promise<void>((resolve) => {
      const onData = (b: Buffer): void => {
        clientLog.reader.push(b);
        // Mid-frame, after 6 MB (some 120 ms, long after the first heartbeat): the client says goodbye.
        if (!sentClose && clientLog.reader.dataBytes >= 6 * MB) {
          sentClose = true;
          c.write(closeFrameOf(1000, 'client done', FIXED_MASK));
          resolve();
        }
      };
      c.socket.on('data', onData);
    });
    await closeSent;
    await c.closed;

    // The client got the frame whole, then the close answer, and nothing in between.
    expect(clientLog.reader.dataBytes).toBe(size);
    expect(clientLog.reader.digest()).toBe(sentHash);
    const toClient = clientLog.seen.map((s) => s.head.opcode);
    expect(toClient.slice(toClient.indexOf(0x2))).toEqual([0x2, 0x8]);
    expect(clientLog.reader.closeCodes).toEqual([1000]);
    // Toward the backend: pings may precede the client's close, none follows it.
    const opsAtBackend = backendLog.seen.map((s) => s.head.opcode);
    const closeAt = opsAtBackend.indexOf(0x8);
    expect(closeAt).toBeGreaterThanOrEqual(0);
    expect(opsAtBackend.slice(closeAt + 1)).toEqual([]);
    expect(closeAt).toBeGreaterThanOrEqual(1); // the heartbeats were running
    expect(opsAtBackend.slice(0, closeAt).every((o) => o === 0x9)).toBe(true);
    await p.rec.closes(1);
    expect(p.rec.closed[0]!.e).toMatchObject({ code: 1000, initiator: 'client' });
    await assertNoLeaks(p);
    expect(fake.open.size).toBe(0);
  });
});

describe('a ping deferred behind a long frame', () => {
  it('waits for the boundary, and its round trip is measured from when it went out, not from when it was queued', async () => {
    const size = 16 * MB;
    fake = await rawBackend((conn, head) => {
      conn.socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(requestKey(head))}\r\n\r\n`);
      const sock = conn.socket;
      // 16 MB in 512 KB pieces every 10 ms: some 320 ms during which a ping toward the client waits.
      sock.write(serverHeader(0x2, size));
      const piece = Buffer.alloc(512 * 1024, 0x33);
      let off = 0;
      const pump = (): void => {
        if (sock.destroyed) return;
        if (off >= size) return void sock.write(frame(0x1, 'done'));
        sock.write(piece);
        off += piece.length;
        setTimeout(pump, 10);
      };
      pump();
      // Answer the client's close and leave.
      const reader = new FrameReader({ onControl: (op) => op === 0x8 && sock.end(closeFrameOf(1000)) });
      sock.on('data', (b: Buffer) => reader.push(b));
    });
    p = await startProxy(simpleConfig([fake.url], { heartbeat: { interval: 5, timeout: 2000 } }));
    const rtts: { leg: string; s: number }[] = [];
    p.hub.subscribe({ ping: (_s, leg, s) => rtts.push({ leg, s }) });
    const { client: c } = await rawWebSocket(p.port);
    rawClients.add(c);
    // The client answers pings at once; it notes where in the stream each one came.
    const pingsAt: number[] = [];
    let frameEnd = -1;
    const reader = new FrameReader({
      onHead: (h) => {
        if (h.opcode === 0x2) frameEnd = h.at + 10 + h.length;
      },
      onControl: (op, payload, h) => {
        if (op !== 0x9) return;
        pingsAt.push(h.at);
        c.write(frame(0xa, Buffer.from(payload), { mask: FIXED_MASK }));
      },
      onText: () => c.write(closeFrameOf(1000, '', FIXED_MASK)),
    });
    const first = c.received().subarray(headEnd(c.received()));
    if (first.length > 0) reader.push(first);
    c.socket.on('data', (b: Buffer) => reader.push(b));
    await c.closed;
    expect(reader.dataBytes).toBe(size);
    // A ping waited for the end of the frame: none inside it, one right at its end.
    expect(pingsAt.some((at) => at > 0 && at < frameEnd)).toBe(false);
    expect(pingsAt).toContain(frameEnd);
    // Its round trip is the client's answer time, not the ~300 ms it waited in the queue.
    const client = rtts.filter((r) => r.leg === 'client').map((r) => r.s * 1000);
    expect(client.length).toBeGreaterThanOrEqual(1);
    expect(Math.max(...client)).toBeLessThan(100);
    await p.rec.closes(1);
    expect(p.rec.closed[0]!.e).toMatchObject({ code: 1000, initiator: 'client' });
    await assertNoLeaks(p);
    expect(fake.open.size).toBe(0);
  });
});

describe('a strict backend (ws: unmasked client frames fail with 1002)', () => {
  it('every proxy ping toward it is masked with a fresh key; the client sees unmasked pings; no proxy pong reaches either end; app pings (empty too) get pongs both ways', async () => {
    let conn!: BackendConn;
    const backendPongs: Buffer[] = [];
    let pingsAtBackend = 0;
    let enoughPings!: () => void;
    const tenPings = new Promise<void>((r) => (enoughPings = r));
    backend = await trackedBackend({
      onConnection: (c) => {
        conn = c;
        c.ws.on('pong', (d) => backendPongs.push(Buffer.from(d)));
        c.ws.on('ping', () => ++pingsAtBackend === 11 && enoughPings()); // 10 of the proxy's, 1 of the client's
        c.ws.on('message', (d, bin) => c.ws.send(d as Buffer, { binary: bin }));
      },
    });
    p = await startProxy(simpleConfig([backend.url], { heartbeat: { interval: 5, timeout: 1000 } }));
    const connP = backend.nextConnection();
    const { client: c } = await rawWebSocket(p.port);
    rawClients.add(c);
    await connP;
    // A well-behaved raw client: answers every ping with a masked pong of the same payload.
    const clientFrames: Seen[] = [];
    const reader = new FrameReader({
      onHead: (head) => head.opcode < 8 && clientFrames.push({ head }),
      onControl: (op, payload, head) => {
        clientFrames.push({ head, payload: Buffer.from(payload) });
        if (op === 0x9) c.write(frame(0xa, Buffer.from(payload), { mask: FIXED_MASK }));
      },
    });
    const after = c.received().subarray(headEnd(c.received()));
    if (after.length > 0) reader.push(after);
    c.socket.on('data', (b: Buffer) => reader.push(b));

    // Traffic both ways while the heartbeats run.
    for (let i = 0; i < 20; i++) c.write(frame(0x1, `msg-${i}`, { mask: FIXED_MASK }));
    // An empty application ping from the client: the backend (ws) answers an empty pong.
    c.write(frame(0x9, Buffer.alloc(0), { mask: FIXED_MASK }));
    // An empty application ping from the backend: the raw client answers, the backend gets it.
    const appPong = new Promise<Buffer>((r) => conn.ws.once('pong', (d) => r(Buffer.from(d))));
    conn.ws.ping();
    expect((await appPong).length).toBe(0);
    await tenPings;
    await c.waitFor(() => reader.messages >= 20 && clientFrames.some((f) => f.head.opcode === 0xa), 'echoes and the empty pong');

    c.write(closeFrameOf(1000, 'done', FIXED_MASK));
    await c.closed;
    expect((await conn.closed).code).toBe(1000);

    // What the backend received, byte for byte: every frame masked; the proxy's pings with
    // distinct, non-zero keys.
    const { frames: atBackend, rest } = decodeFrames(conn.received());
    expect(rest.length).toBe(0);
    expect(atBackend.every((f) => f.masked)).toBe(true);
    const raw = conn.received();
    const keys: string[] = [];
    let pos = 0;
    for (const f of atBackend) {
      const len = f.payload.length;
      const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
      const key = raw.subarray(pos + 2 + ext, pos + 6 + ext).toString('hex');
      if (f.opcode === 0x9 && f.payload.subarray(0, 4).equals(MAGIC)) keys.push(key);
      pos += 6 + ext + len;
    }
    expect(keys.length).toBeGreaterThanOrEqual(10);
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys).not.toContain('00000000');
    // No proxy pong at the backend: only the answer to its own empty ping.
    expect(backendPongs.map((b) => b.length)).toEqual([0]);
    expect(atBackend.filter((f) => f.opcode === 0xa && f.payload.subarray(0, 4).equals(MAGIC))).toEqual([]);

    // What the client received: nothing masked; proxy pings plus the backend's empty ping; the
    // one pong is the answer to its own empty ping.
    expect(clientFrames.every((f) => !f.head.masked)).toBe(true);
    const pingsToClient = clientFrames.filter((f) => f.head.opcode === 0x9);
    expect(pingsToClient.filter((f) => f.payload!.subarray(0, 4).equals(MAGIC)).length).toBeGreaterThanOrEqual(1);
    expect(pingsToClient.filter((f) => f.payload!.length === 0).length).toBe(1);
    expect(clientFrames.filter((f) => f.head.opcode === 0xa).map((f) => f.payload!.length)).toEqual([0]);
    await p.rec.closes(1);
    expect(p.rec.closed[0]!.e).toMatchObject({ code: 1000, initiator: 'client' });
    expect(p.rec.violations).toEqual([]);
    await assertNoLeaks(p);
    await backend.drained();
  });
});
