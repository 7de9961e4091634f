/**
 * Limits (SPEC §3 `limits`, §6; research §3.2, §3.7, §6 #15): connection caps are answered
 * before any backend is contacted (503 + Retry-After, 429), and a message over
 * `max_message_bytes` is refused from its frame header — 1009 to the sender, 1001 to the other
 * leg, and not one byte of the refused frame reaches the other side.
 */
import { describe, expect, it } from 'vitest';
import {
  assertNoLeaks,
  closed,
  refusedStatus,
  simpleConfig,
  startProxy,
  type RunningProxy,
} from '../../helpers/proxy.js';
import { crashGuard, trackedBackend, type BackendConn, type TrackedBackend } from '../../helpers/backends.js';
import { echoes, end, useTracked } from '../../helpers/proxy-fixture.js';
import { FIXED_MASK, closeFrameOf, decodeFrames, frame, framesAfterHead, rawWebSocket } from '../../helpers/raw.js';

crashGuard();

let p: RunningProxy | undefined;
let be: TrackedBackend | undefined;
const { raws, open } = useTracked(async () => {
  await p?.close();
  await be?.close();
  p = be = undefined;
});

/** No session, no pending handshake, no backend TCP connection. */
async function noLeaks(): Promise<void> {
  await assertNoLeaks(p!);
  await be!.drained();
}

/** Resolves when `conn` has received, after its 101, bytes that satisfy `pred`. */
function backendGot(conn: BackendConn, pred: (b: Buffer) => boolean): Promise<Buffer> {
  return new Promise((resolve) => {
    const check = (): void => {
      const b = conn.received();
      if (pred(b)) {
        conn.socket.off('data', check);
        resolve(b);
      }
    };
    conn.socket.on('data', check);
    check();
  });
}

const closeCode = (payload: Buffer): number => payload.readUInt16BE(0);

describe('limits.max_connections', () => {
  it('a third upgrade over max_connections: 2 gets 503 with Retry-After and never reaches the backend; after one closes, a new one succeeds', async () => {
    be = await trackedBackend();
    p = await startProxy(simpleConfig([be.url], { limits: { max_connections: 2 } }));
    const a = await open(p.url);
    const b = await open(p.url);
    const accepted = be.accepted();
    expect(be.requests).toHaveLength(2);

    const refused = await refusedStatus(p.url);
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toMatch(/^\d+$/);
    expect(refused.headers.connection).toBe('close');
    expect(be.accepted()).toBe(accepted);
    expect(be.requests).toHaveLength(2);
    expect(p.rec.upgrades.at(-1)).toMatchObject({ status: 503, errorType: 'overloaded' });
    // The refusal did not disturb the open sessions.
    await echoes(a);
    await echoes(b);

    await end(a);
    await p.rec.closes(1);
    const c = await open(p.url);
    await echoes(c, 'after a slot freed');
    expect(be.requests).toHaveLength(3);

    await Promise.all([end(b), end(c)]);
    await noLeaks();
  });

  it('handshakes in flight count toward max_connections (a slow backend cannot be flooded)', async () => {
    be = await trackedBackend({ delay101: 300 });
    p = await startProxy(simpleConfig([be.url], { limits: { max_connections: 2 } }));
    const first = [open(p.url), open(p.url)];
    // Both upgrades are at the backend, neither has its 101 yet.
    while (be.requests.length < 2) await be.nextRequest();
    expect(p.proxy.pendingHandshakes).toBe(2);
    const refused = await refusedStatus(p.url);
    expect(refused.status).toBe(503);
    expect(be.accepted()).toBe(2);
    const [a, b] = await Promise.all(first);
    await Promise.all([end(a!), end(b!)]);
    await noLeaks();
  });
});

describe('limits.max_connections_per_ip', () => {
  it('a second upgrade from the same address over max_connections_per_ip: 1 gets 429 and never reaches the backend; after the first closes, it succeeds', async () => {
    be = await trackedBackend();
    p = await startProxy(simpleConfig([be.url], { limits: { max_connections_per_ip: 1 } }));
    const a = await open(p.url);
    const refused = await refusedStatus(p.url);
    expect(refused.status).toBe(429);
    expect(refused.headers['retry-after']).toMatch(/^\d+$/);
    expect(be.accepted()).toBe(1);
    expect(p.rec.upgrades.at(-1)).toMatchObject({ status: 429, errorType: 'too_many_per_ip' });
    await echoes(a);

    await end(a);
    await p.rec.closes(1);
    const b = await open(p.url);
    await echoes(b);
    await end(b);
    await noLeaks();
  });

  it('a spoofed X-Forwarded-For from an untrusted peer does not escape the per-IP cap', async () => {
    be = await trackedBackend();
    p = await startProxy(simpleConfig([be.url], { limits: { max_connections_per_ip: 1 } }));
    const a = await open(p.url);
    const refused = await refusedStatus(p.url, { headers: { 'X-Forwarded-For': '203.0.113.9' } });
    expect(refused.status).toBe(429);
    expect(be.accepted()).toBe(1);
    await end(a);
    await noLeaks();
  });

  it('behind a trusted proxy, the cap applies to each forwarded client address', async () => {
    be = await trackedBackend();
    p = await startProxy(simpleConfig([be.url], { limits: { max_connections_per_ip: 1 }, trusted_proxies: ['127.0.0.1/32'] }));
    const a = await open(p.url, { headers: { 'X-Forwarded-For': '203.0.113.1' } });
    const b = await open(p.url, { headers: { 'X-Forwarded-For': '203.0.113.2' } });
    const refused = await refusedStatus(p.url, { headers: { 'X-Forwarded-For': '203.0.113.1' } });
    expect(refused.status).toBe(429);
    expect(be.accepted()).toBe(2);
    await Promise.all([end(a), end(b)]);
    await noLeaks();
  });
});

describe('limits.max_message_bytes', () => {
  const config = (url: string): ReturnType<typeof simpleConfig> => simpleConfig([url], { limits: { max_message_bytes: 1024 } });

  it('a message of exactly the limit passes; a 2000-byte message from the client: client 1009, backend 1001, no byte of it at the backend', async () => {
    be = await trackedBackend();
    p = await startProxy(config(be.url));
    const connP = be.nextConnection();
    const ws = await open(p.url);
    const conn = await connP;
    await echoes(ws, 'x'.repeat(1024));
    const before = conn.received().length;

    const clientClosed = closed(ws);
    ws.send(Buffer.alloc(2000, 0x41));
    const [c, bc] = await Promise.all([clientClosed, conn.closed]);
    expect(c.code).toBe(1009);
    expect(bc.code).toBe(1001);

    // After the last echo the backend got one frame: the proxy's close. Not a byte of the 2000.
    const { frames, rest } = decodeFrames(conn.received().subarray(before));
    expect(rest).toHaveLength(0);
    expect(frames.map((f) => f.opcode)).toEqual([0x8]);
    expect(frames[0]!.masked).toBe(true);
    expect(closeCode(frames[0]!.payload)).toBe(1001);

    await p.rec.closes(1);
    expect(p.rec.closed[0]!.e).toMatchObject({ code: 1009, initiator: 'proxy' });
    expect(p.rec.errors).toContain('message_too_big');
    await noLeaks();
  });

  it('a 2000-byte message from the backend: backend 1009, client 1001, no byte of it at the client', async () => {
    be = await trackedBackend({
      onConnection: (c) => c.ws.on('message', (m) => c.ws.send(m.toString() === 'big' ? Buffer.alloc(2000, 0x42) : (m as Buffer))),
    });
    p = await startProxy(config(be.url));
    const connP = be.nextConnection();
    const { client } = await rawWebSocket(p.port);
    raws.add(client);
    const conn = await connP;
    client.write(frame(0x1, 'big', { mask: FIXED_MASK }));
    // The client's first frame after the 101 is the proxy's close: nothing of the big message.
    await client.waitFor(() => framesAfterHead(client).frames.length >= 1, 'a close frame');
    const first = framesAfterHead(client).frames[0]!;
    expect(first.opcode).toBe(0x8);
    expect(first.masked).toBe(false);
    expect(closeCode(first.payload)).toBe(1001);
    // The backend got 1009 (and answered it; its answer is not passed on).
    expect((await conn.closed).code).toBe(1009);
    client.write(closeFrameOf(1001, '', FIXED_MASK));
    client.socket.end();
    await client.closed;
    const { frames, rest } = framesAfterHead(client);
    expect(frames.map((f) => f.opcode)).toEqual([0x8]);
    expect(rest).toHaveLength(0);

    await p.rec.closes(1);
    expect(p.rec.closed[0]!.e).toMatchObject({ code: 1009, initiator: 'proxy' });
    await noLeaks();
  });

  it('a fragmented message is refused at the fragment that takes it past the limit; the fragments before it pass unchanged', async () => {
    be = await trackedBackend();
    p = await startProxy(config(be.url));
    const connP = be.nextConnection();
    const { client } = await rawWebSocket(p.port);
    raws.add(client);
    const conn = await connP;
    const f1 = frame(0x1, 'a'.repeat(400), { fin: false, mask: FIXED_MASK });
    const f2 = frame(0x0, 'b'.repeat(400), { fin: false, mask: FIXED_MASK });
    const f3 = frame(0x0, 'c'.repeat(400), { fin: true, mask: FIXED_MASK }); // 1200 > 1024
    client.write(Buffer.concat([f1, f2]));
    await backendGot(conn, (b) => b.length >= f1.length + f2.length);
    client.write(f3);

    await client.waitFor(() => framesAfterHead(client).frames.length >= 1, 'a close frame');
    const toClient = framesAfterHead(client).frames[0]!;
    expect(toClient.opcode).toBe(0x8);
    expect(closeCode(toClient.payload)).toBe(1009);
    expect((await conn.closed).code).toBe(1001);

    // The backend got f1 and f2 byte for byte, then the proxy's close; nothing of f3.
    const got = conn.received();
    expect(got.subarray(0, f1.length + f2.length).equals(Buffer.concat([f1, f2]))).toBe(true);
    const { frames, rest } = decodeFrames(got.subarray(f1.length + f2.length));
    expect(rest).toHaveLength(0);
    expect(frames.map((f) => [f.opcode, closeCode(f.payload)])).toEqual([[0x8, 1001]]);

    client.write(closeFrameOf(1009, '', FIXED_MASK));
    client.socket.end();
    await client.closed;
    await p.rec.closes(1);
    expect(p.rec.closed[0]!.e).toMatchObject({ code: 1009, initiator: 'proxy' });
    expect(p.rec.messages).toHaveLength(0);
    await noLeaks();
  });

  it('the refused frame and whatever follows it in the same chunk are dropped; the frames before it in that chunk pass', async () => {
    be = await trackedBackend();
    p = await startProxy(config(be.url));
    const connP = be.nextConnection();
    const { client } = await rawWebSocket(p.port);
    raws.add(client);
    const conn = await connP;
    const ok = frame(0x1, 'fits', { mask: FIXED_MASK });
    const big = frame(0x2, Buffer.alloc(2000, 1), { mask: FIXED_MASK });
    const after = frame(0x1, 'after', { mask: FIXED_MASK });
    client.write(Buffer.concat([ok, big, after]));
    expect((await conn.closed).code).toBe(1001);
    const got = conn.received();
    expect(got.subarray(0, ok.length).equals(ok)).toBe(true);
    const { frames } = decodeFrames(got.subarray(ok.length));
    expect(frames.map((f) => f.opcode)).toEqual([0x8]);
    await client.waitFor(() => framesAfterHead(client).frames.some((f) => f.opcode === 0x8), 'a close frame');
    const toClient = framesAfterHead(client).frames;
    // The backend's echo of "fits" may come before the close; the close says 1009.
    expect(toClient.filter((f) => f.opcode === 0x8).map((f) => closeCode(f.payload))).toEqual([1009]);
    client.write(closeFrameOf(1009, '', FIXED_MASK));
    client.socket.end();
    await client.closed;
    await noLeaks();
  });
});
