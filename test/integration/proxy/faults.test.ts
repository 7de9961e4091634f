/**
 * Faults (SPEC §6 "Never crash, never leak"; research §6 #1, #8, #10): a peer resets at every
 * phase, drops mid-frame, sends garbage; the process survives, every session is reported once,
 * and no socket is left open on either side.
 */
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { assertNoLeaks, closed, connect, nextMessage, simpleConfig, startProxy, type RunningProxy } from '../../helpers/proxy.js';
import { crashGuard, hubEvents, nextUpgrade, trackedBackend, type BackendConn, type TrackedBackend } from '../../helpers/backends.js';
import { useLeakCheck } from '../../helpers/proxy-fixture.js';
import {
  FIXED_MASK,
  Prng,
  RawClient,
  acceptKey,
  rawBackend,
  requestKey,
  type RawBackend,
  type RawConn,
  bytesAfterHead,
  closeFrameOf,
  frame,
  framesAfterHead,
  headEnd,
  upgradeRequest,
} from '../../helpers/raw.js';

crashGuard();

let p: RunningProxy | undefined;
let backend: TrackedBackend | undefined;
let fake: RawBackend | undefined;
const { rawClients, wsClients, rawWs } = useLeakCheck(async () => {
  await p?.close();
  await backend?.close();
  await fake?.close();
  p = backend = fake = undefined;
});

async function raw(port: number): Promise<RawClient> {
  const c = await RawClient.connect(port);
  rawClients.add(c);
  return c;
}

/** Resolves when the backend connection has received `n` bytes after its 101. */
function backendGot(conn: BackendConn, n: number): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (conn.received().length >= n) {
        conn.socket.off('data', check);
        resolve();
      }
    };
    conn.socket.on('data', check);
    check();
  });
}

/** Resolves when what a fake backend connection received satisfies `pred`. */
function rawConnGot(conn: RawConn, pred: (b: Buffer) => boolean): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (pred(conn.received())) {
        conn.socket.off('data', check);
        resolve();
      }
    };
    conn.socket.on('data', check);
    check();
  });
}

/** Everything ended: no session, no pending handshake, no backend socket. */
async function noLeaks(): Promise<void> {
  await assertNoLeaks(p!);
  await backend!.drained();
}

describe('a client that resets (TCP RST) at every phase', () => {
  it('mid-request-head: nothing reaches the backend, the proxy goes on serving', async () => {
    backend = await trackedBackend();
    p = await startProxy(simpleConfig([backend.url]));
    const c = await raw(p.port);
    const head = upgradeRequest('/').text;
    c.write(head.slice(0, head.length - 20));
    c.reset();
    await c.closed;
    // The proxy still serves, and the reset connection never produced a backend connection.
    const ws = await connect(p.url);
    wsClients.add(ws);
    ws.send('still alive');
    expect((await nextMessage(ws)).data.toString()).toBe('still alive');
    expect(backend.accepted()).toBe(1);
    ws.close();
    await closed(ws);
    await noLeaks();
    expect(p.rec.upgrades.map((u) => u.status)).toEqual([101]);
  });

  it('after the head while the backend is slow to answer: the upstream request is dropped at once', async () => {
    backend = await trackedBackend({ delay101: 2000 });
    p = await startProxy(simpleConfig([backend.url]));
    const events = hubEvents(p.hub);
    const c = await raw(p.port);
    const reqSeen = backend.nextRequest();
    c.write(upgradeRequest('/').text);
    await reqSeen;
    expect(p.proxy.pendingHandshakes).toBe(1);
    const answered = nextUpgrade(events);
    const t0 = performance.now();
    c.reset();
    expect(await answered).toMatchObject({ status: 499, errorType: 'client_closed' });
    // The backend connection is closed long before the backend would have answered.
    await backend.drained(1000);
    expect(performance.now() - t0).toBeLessThan(500);
    expect(p.proxy.pendingHandshakes).toBe(0);
    expect(p.rec.opened).toEqual([]);
    await noLeaks();
  });

  it('right after the 101: the backend gets 1001, 1006 is recorded for the client', async () => {
    backend = await trackedBackend();
    p = await startProxy(simpleConfig([backend.url]));
    const conn = backend.nextConnection();
    const c = await rawWs(p.port);
    c.reset();
    expect(await (await conn).closed).toMatchObject({ code: 1001 });
    await p.rec.closes(1);
    expect(p.rec.closed[0]!.e).toMatchObject({ code: 1006, initiator: 'client' });
    await noLeaks();
  });

  it('mid-frame: the backend connection is closed (no close frame spliced into the frame)', async () => {
    backend = await trackedBackend();
    p = await startProxy(simpleConfig([backend.url]));
    const connP = backend.nextConnection();
    const c = await rawWs(p.port);
    const conn = await connP;
    // A 1000-byte binary frame, only its header and 10 payload bytes sent.
    const partial = frame(0x2, Buffer.alloc(1000, 0x41), { mask: FIXED_MASK }).subarray(0, 8 + 10);
    c.write(partial);
    await backendGot(conn, partial.length);
    c.reset();
    expect((await conn.closed).code).toBe(1006);
    expect(conn.received().equals(partial)).toBe(true);
    await p.rec.closes(1);
    expect(p.rec.closed[0]!.e).toMatchObject({ code: 1006, initiator: 'client' });
    await noLeaks();
  });

  it('mid-close-handshake: the close frame passed, the session ends, nothing leaks', async () => {
    // A fake backend that accepts and never answers the close: the client resets while the
    // close handshake is half done.
    fake = await rawBackend((conn, head) =>
      conn.socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(requestKey(head))}\r\n\r\n`),
    );
    p = await startProxy(simpleConfig([fake.url], { timeouts: { close: 3000 } }));
    const c = await rawWs(p.port);
    const conn = fake.conns[0]!;
    const cf = closeFrameOf(4000, 'leaving', FIXED_MASK);
    c.write(cf);
    await rawConnGot(conn, (b) => b.subarray(headEnd(b)).equals(cf));
    c.reset();
    await conn.closed;
    await p.rec.closes(1);
    expect(p.rec.closed[0]!.e).toMatchObject({ code: 4000, initiator: 'client' });
    await assertNoLeaks(p);
    expect(fake.open.size).toBe(0);
  });
});

describe('a backend that drops', () => {
  it('mid-frame of a large frame: the client TCP closes, never a close frame spliced into the frame', async () => {
    const payloadLen = 1024 * 1024;
    let written: Buffer = Buffer.alloc(0);
    backend = await trackedBackend({
      onConnection: (conn) =>
        conn.ws.once('message', () => {
          const full = frame(0x2, Buffer.alloc(payloadLen, 0x5a));
          written = full.subarray(0, 10 + 64 * 1024);
          conn.socket.write(written, () => conn.socket.destroy());
        }),
    });
    p = await startProxy(simpleConfig([backend.url]));
    // Raw client: every byte it receives is visible.
    const c = await rawWs(p.port);
    c.write(frame(0x1, 'go', { mask: FIXED_MASK }));
    await c.closed;
    const got = bytesAfterHead(c);
    expect(got.length).toBeGreaterThan(0);
    expect(got.length).toBeLessThanOrEqual(written.length);
    expect(got.equals(written.subarray(0, got.length))).toBe(true);
    await p.rec.closes(1);
    expect(p.rec.closed[0]!.e).toMatchObject({ code: 1006, initiator: 'backend' });

    // A ws client sees an abnormal closure (1006), not a protocol error.
    const ws = await connect(p.url);
    wsClients.add(ws);
    let error: Error | undefined;
    ws.on('error', (e) => (error = e));
    const cl = closed(ws);
    ws.send('go');
    expect((await cl).code).toBe(1006);
    expect(error).toBeUndefined();
    await p.rec.closes(2);
    await noLeaks();
  });

  it('between frames: the client gets 1014 right after the last whole frame', async () => {
    backend = await trackedBackend({
      onConnection: (conn) =>
        conn.ws.once('message', () => {
          conn.ws.send('last words', () => conn.socket.destroy());
        }),
    });
    p = await startProxy(simpleConfig([backend.url]));
    const c = await rawWs(p.port);
    c.write(frame(0x1, 'go', { mask: FIXED_MASK }));
    await c.closed;
    const { frames, rest } = framesAfterHead(c);
    expect(rest.length).toBe(0);
    expect(frames.map((f) => [f.opcode, f.masked])).toEqual([
      [0x1, false],
      [0x8, false],
    ]);
    expect(frames[0]!.payload.toString()).toBe('last words');
    expect(frames[1]!.payload.readUInt16BE(0)).toBe(1014);
    await p.rec.closes(1);
    expect(p.rec.closed[0]!.e).toMatchObject({ code: 1006, initiator: 'backend' });
    await noLeaks();
  });
});

describe('half-closed endings', () => {
  it('client sends Close then FIN while the backend still sends: every byte reaches the client before teardown', async () => {
    const tail = Buffer.concat([frame(0x1, 'one'), frame(0x2, Buffer.alloc(50_000, 3)), frame(0x1, 'three'), closeFrameOf(1000, 'ok')]);
    fake = await rawBackend((conn, head) => {
      conn.socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(requestKey(head))}\r\n\r\n`);
      // On the client's close frame: data still queued, then the close reply, then FIN.
      void rawConnGot(conn, (b) => b.subarray(headEnd(b)).length > 0).then(() => conn.socket.end(tail));
    });
    p = await startProxy(simpleConfig([fake.url]));
    const c = await rawWs(p.port);
    c.write(closeFrameOf(1000, 'client done', FIXED_MASK));
    c.socket.end();
    await c.closed;
    expect(bytesAfterHead(c).equals(tail)).toBe(true);
    await p.rec.closes(1);
    expect(p.rec.closed[0]!.e).toMatchObject({ code: 1000, initiator: 'client', messagesB2C: 3 });
    await assertNoLeaks(p);
    expect(fake.open.size).toBe(0);
  });
});

describe('garbage after the 101', () => {
  it('from the client: relayed unchanged to the backend, counted as a violation, no crash', async () => {
    backend = await trackedBackend();
    p = await startProxy(simpleConfig([backend.url]));
    const connP = backend.nextConnection();
    const c = await rawWs(p.port);
    const conn = await connP;
    const garbage = Buffer.concat([
      frame(0x1, 'fine', { mask: FIXED_MASK }),
      frame(0x3, 'reserved opcode', { mask: FIXED_MASK }),
      new Prng(7).bytes(300),
    ]);
    const violation = once(hubEvents(p.hub), 'violation');
    c.write(garbage);
    expect(await violation).toEqual(['client_to_backend', 'reserved_opcode']);
    // ws fails the connection with a 1002 close frame; the proxy just relays whatever comes.
    await c.waitFor(() => framesAfterHead(c).frames.some((f) => f.opcode === 0x8), 'the close frame');
    const frames = framesAfterHead(c).frames;
    expect(frames.map((f) => f.opcode)).toEqual([0x1, 0x8]);
    expect(frames[1]!.payload.readUInt16BE(0)).toBe(1002);
    c.write(closeFrameOf(1002, '', FIXED_MASK));
    await conn.closed;
    expect(conn.received().subarray(0, garbage.length).equals(garbage)).toBe(true);
    await c.closed;
    await p.rec.closes(1);
    expect(p.rec.closed[0]!.e).toMatchObject({ code: 1002, initiator: 'backend' });
    await noLeaks();
  });

  it('from the backend: relayed unchanged to the client, counted as a violation, no crash', async () => {
    const garbage = Buffer.concat([frame(0x1, 'hi'), frame(0x1, 'masked from a server', { mask: FIXED_MASK }), frame(0xb, 'bad'), new Prng(11).bytes(500)]);
    backend = await trackedBackend({ onConnection: (conn) => conn.socket.write(garbage) });
    p = await startProxy(simpleConfig([backend.url]));
    const violations: string[] = [];
    hubEvents(p.hub).on('violation', (dir: string, kind: string) => violations.push(`${dir}:${kind}`));
    const c = await rawWs(p.port);
    await c.waitFor((b) => b.length >= headEnd(b) + garbage.length, 'the garbage');
    expect(bytesAfterHead(c).equals(garbage)).toBe(true);
    expect(violations).toEqual(['backend_to_client:mask_forbidden', 'backend_to_client:reserved_opcode']);
    // The client leaves without a close frame; the backend gets 1001 (c2b is at a boundary).
    const conn = backend.conns[0]!;
    c.socket.end();
    expect((await conn.closed).code).toBe(1001);
    await c.closed;
    await p.rec.closes(1);
    await noLeaks();
  });

  it('a ws client receiving garbage fails the connection itself, exactly as it does direct', async () => {
    backend = await trackedBackend({ onConnection: (conn) => conn.socket.write(frame(0x2, 'ok', { rsv: 2 })) });
    p = await startProxy(simpleConfig([backend.url]));
    const scenario = async (url: string): Promise<{ err: string; client: number; backend: number }> => {
      const connP = backend!.nextConnection();
      const ws = new WebSocket(url);
      wsClients.add(ws);
      const err = new Promise<Error>((resolve) => ws.once('error', resolve));
      const cl = closed(ws);
      const conn = await connP;
      return { err: (await err).message, client: (await cl).code, backend: (await conn.closed).code };
    };
    const direct = await scenario(backend.url);
    const proxied = await scenario(p.url);
    expect(proxied).toEqual(direct);
    expect(proxied.err).toMatch(/RSV2 and RSV3 must be clear/);
    await p.rec.closes(1);
    expect(p.rec.violations).toEqual([{ dir: 'backend_to_client', kind: 'reserved_bits' }]);
    await noLeaks();
  });
});

describe('churn', () => {
  it('200 connections reset at random phases end with zero sessions and zero backend connections', async () => {
    const seed = Number(process.env.CHURN_SEED ?? 20260607);
    const rng = new Prng(seed);
    backend = await trackedBackend({
      delay101: (req) => Number(new URL(req.url ?? '/', 'http://x').searchParams.get('delay') ?? 0),
    });
    p = await startProxy(simpleConfig([backend.url], { timeouts: { close: 1000, handshake: 2000 } }));
    const port = p.port;
    const phases = ['mid-head', 'after-head', 'after-101', 'mid-frame', 'after-echo', 'mid-close', 'clean', 'fin-no-close'] as const;
    const counts: Record<string, number> = {};
    const count = Number(process.env.CHURN_COUNT ?? 200);
    const plan = Array.from({ length: count }, () => ({
      phase: phases[rng.int(0, phases.length - 1)]!,
      delay: rng.int(0, 3) === 0 ? rng.int(1, 15) : 0,
      cut: rng.next(),
      ticks: rng.int(0, 3),
    }));

    const tick = (n: number): Promise<void> => new Promise((r) => (n <= 0 ? r() : setImmediate(() => void tick(n - 1).then(r))));

    async function one(step: (typeof plan)[number]): Promise<void> {
      counts[step.phase] = (counts[step.phase] ?? 0) + 1;
      const c = await raw(port);
      const head = Buffer.from(upgradeRequest(`/churn?delay=${step.delay}`).text);
      if (step.phase === 'mid-head') {
        c.write(head.subarray(0, Math.max(1, Math.floor(head.length * step.cut) - 1)));
        await tick(step.ticks);
        return c.reset();
      }
      c.write(head);
      if (step.phase === 'after-head') {
        await tick(step.ticks);
        return c.reset();
      }
      const h = await c.head().catch(() => undefined);
      if (h === undefined || h.status !== 101) return c.reset();
      if (step.phase === 'after-101') return c.reset();
      if (step.phase === 'mid-frame') {
        const f = frame(0x2, Buffer.alloc(4000, 1), { mask: FIXED_MASK });
        c.write(f.subarray(0, 8 + Math.floor(step.cut * 3000)));
        await tick(step.ticks);
        return c.reset();
      }
      c.write(frame(0x1, 'ping me back', { mask: FIXED_MASK }));
      await c.waitFor((b) => b.includes('ping me back'), 'the echo').catch(() => undefined);
      if (step.phase === 'after-echo') return c.reset();
      if (step.phase === 'fin-no-close') {
        c.socket.end();
        return c.closed;
      }
      c.write(closeFrameOf(1000, 'bye', FIXED_MASK));
      if (step.phase === 'mid-close') {
        await tick(step.ticks);
        return c.reset();
      }
      await c.closed;
    }

    // Bounded concurrency: 20 at a time.
    const queue = [...plan];
    const workers = Array.from({ length: 20 }, async () => {
      for (let s = queue.shift(); s !== undefined; s = queue.shift()) await one(s);
    });
    await Promise.all(workers);
    await assertNoLeaks(p, []);
    await backend.drained();
    expect(p.rec.closed.length).toBe(p.rec.opened.length);
    expect(p.proxy.activeSessions).toBe(0);
    expect(p.proxy.pendingHandshakes).toBe(0);
    for (const ph of phases) expect(counts[ph], `phase ${ph} (seed ${seed})`).toBeGreaterThan(5);
    // Every backend connection that got a 101 saw it end.
    for (const conn of backend.conns) expect(conn.ws.readyState).toBe(WebSocket.CLOSED);
    // Clean endings record 1000, every reset or FIN without a close frame 1006.
    const codes = new Set(p.rec.closed.map((c) => c.e.code));
    for (const code of codes) expect([1000, 1006], `code ${code} (seed ${seed})`).toContain(code);
  });
});
