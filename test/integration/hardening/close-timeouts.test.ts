/**
 * Ending a session (SPEC §3 `timeouts.close`; research §3.8 (c)(d), §6 #9): the close-handshake
 * timer destroys a peer that never answers a close frame, a half-closed client still receives
 * everything the backend sent before its own close, and nothing outlives `timeouts.close`.
 * (The handshake deadline, 504, is covered in test/integration/proxy/handshake.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { assertNoLeaks, closed, connect, simpleConfig, startProxy, type RunningProxy } from '../../helpers/proxy.js';
import { crashGuard } from '../../helpers/backends.js';
import { useTracked } from '../../helpers/proxy-fixture.js';
import { FIXED_MASK, closeFrameOf, decodeFrames, frame, framesAfterHead, rawWebSocket } from '../../helpers/raw.js';
import { halfOpenBackend, type HalfOpenBackend } from '../../helpers/hardening.js';

crashGuard();

let p: RunningProxy | undefined;
let be: HalfOpenBackend | undefined;
const { clients, raws, timers } = useTracked(async () => {
  await p?.close();
  await be?.close();
  p = be = undefined;
});

const CLOSE_MS = 300;
const config = (url: string): ReturnType<typeof simpleConfig> => simpleConfig([url], { timeouts: { close: `${CLOSE_MS}ms` } });

const hasClose = (b: Buffer): boolean => decodeFrames(b).frames.some((f) => f.opcode === 0x8);
const text = (s: string): Buffer => frame(0x1, s);

async function noLeaks(): Promise<void> {
  await assertNoLeaks(p!);
  await new Promise<void>((resolve, reject) => {
    const t0 = Date.now();
    const check = (): void => {
      if (be!.open.size === 0) return resolve();
      if (Date.now() - t0 > 5000) return reject(new Error(`${be!.open.size} backend sockets still open`));
      setTimeout(check, 5);
    };
    check();
  });
}

describe('timeouts.close', () => {
  it('a backend that gets the client close frame and never answers nor closes: both sockets are destroyed after timeouts.close; the client code is recorded', async () => {
    be = await halfOpenBackend();
    p = await startProxy(config(be.url));
    const connP = be.nextConnection();
    const ws = await connect(p.url);
    clients.add(ws);
    const conn = await connP;

    const clientClosed = closed(ws);
    ws.close(4001, 'bye');
    const t0 = Date.now();
    const got = await conn.waitFor(hasClose);
    const f = decodeFrames(got).frames.find((x) => x.opcode === 0x8)!;
    expect(f.payload.readUInt16BE(0)).toBe(4001);

    // The backend says nothing; the proxy gives up after timeouts.close and drops both legs
    // (this backend keeps half-open sockets: it sees the FIN, and only then lets go).
    const [c] = await Promise.all([clientClosed, conn.ended]);
    conn.socket.destroy();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(CLOSE_MS - 20);
    expect(c.code).toBe(1006); // no close frame came back: the TCP connection was dropped
    await p.rec.closes(1);
    expect(p.rec.closed[0]!.e).toMatchObject({ code: 4001, initiator: 'client' });
    expect(p.rec.errors).toContain('close_timeout');
    await noLeaks();
  });

  it('the client sends a close frame then FIN while the backend keeps sending: all data sent before the backend close reaches the client, then the close', async () => {
    be = await halfOpenBackend();
    p = await startProxy(config(be.url));
    const connP = be.nextConnection();
    const { client } = await rawWebSocket(p.port);
    raws.add(client);
    const conn = await connP;

    conn.socket.write(text('before'));
    await client.waitFor(() => framesAfterHead(client).frames.length >= 1, 'the first data frame');
    client.write(closeFrameOf(1000, 'done', FIXED_MASK));
    client.socket.end();

    // The backend sees the close, then the FIN the proxy passes on; it still sends 50 frames,
    // then its close, then FIN.
    await conn.waitFor(hasClose);
    await conn.ended;
    const tail = Buffer.concat([...Array.from({ length: 50 }, (_, i) => text(`d${i}`)), closeFrameOf(1000, 'done')]);
    conn.socket.end(tail);

    await client.closed;
    const { frames, rest } = framesAfterHead(client);
    expect(rest).toHaveLength(0);
    expect(frames.map((x) => (x.opcode === 0x8 ? `close:${x.payload.readUInt16BE(0)}` : x.payload.toString()))).toEqual([
      'before',
      ...Array.from({ length: 50 }, (_, i) => `d${i}`),
      'close:1000',
    ]);
    await p.rec.closes(1);
    expect(p.rec.closed[0]!.e).toMatchObject({ code: 1000, initiator: 'client' });
    expect(p.rec.errors).not.toContain('close_timeout');
    await noLeaks();
  });

  it('the client sends a close frame then FIN and the backend streams on forever without a close: everything is torn down after timeouts.close', async () => {
    be = await halfOpenBackend();
    p = await startProxy(config(be.url));
    const connP = be.nextConnection();
    const { client } = await rawWebSocket(p.port);
    raws.add(client);
    const conn = await connP;
    let n = 0;
    const t = setInterval(() => {
      if (conn.socket.writable) conn.socket.write(text(`s${n++}`));
    }, 5);
    timers.add(t);
    conn.socket.once('close', () => clearInterval(t));
    await client.waitFor(() => framesAfterHead(client).frames.length >= 3, 'streamed frames');

    client.write(closeFrameOf(1000, '', FIXED_MASK));
    client.socket.end();
    const t0 = Date.now();
    await Promise.all([client.closed, conn.closed]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(CLOSE_MS - 20);
    // Data kept flowing to the half-closed client until the end, in order, never spliced.
    const { frames } = framesAfterHead(client);
    expect(frames.length).toBeGreaterThan(3);
    expect(frames.every((x, i) => x.opcode === 0x1 && x.payload.toString() === `s${i}`)).toBe(true);
    await p.rec.closes(1);
    expect(p.rec.closed[0]!.e).toMatchObject({ code: 1000, initiator: 'client' });
    expect(p.rec.errors).toContain('close_timeout');
    await noLeaks();
  });

  it('the backend sends a close frame and the client never answers: destroyed after timeouts.close, backend code recorded', async () => {
    be = await halfOpenBackend();
    p = await startProxy(config(be.url));
    const connP = be.nextConnection();
    const { client } = await rawWebSocket(p.port);
    raws.add(client);
    const conn = await connP;
    conn.socket.write(closeFrameOf(4002, 'server says bye'));
    await client.waitFor((b) => hasClose(b.subarray(b.indexOf('\r\n\r\n') + 4)), 'the close frame');
    const t0 = Date.now();
    // Neither the client nor the backend do anything more.
    await Promise.all([client.closed, conn.ended]);
    conn.socket.destroy();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(CLOSE_MS - 20);
    await p.rec.closes(1);
    expect(p.rec.closed[0]!.e).toMatchObject({ code: 4002, initiator: 'backend' });
    await noLeaks();
  });

  it('a client FIN without a close frame, and a backend that keeps its side open in silence: 1001 to the backend, torn down after timeouts.close, 1006 recorded for the client', async () => {
    be = await halfOpenBackend();
    p = await startProxy(config(be.url));
    const connP = be.nextConnection();
    const { client } = await rawWebSocket(p.port);
    raws.add(client);
    const conn = await connP;
    client.socket.end();
    const got = await conn.waitFor(hasClose);
    expect(decodeFrames(got).frames[0]!.payload.readUInt16BE(0)).toBe(1001);
    await conn.ended;
    // The proxy passed the FIN on; the backend holds its side open and says nothing.
    const t0 = Date.now();
    await Promise.all([client.closed, p.rec.closes(1)]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(CLOSE_MS - 50);
    expect(p.rec.closed[0]!.e).toMatchObject({ code: 1006, initiator: 'client' });
    conn.socket.destroy();
    await noLeaks();
  });
});
