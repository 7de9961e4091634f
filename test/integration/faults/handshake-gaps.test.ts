/**
 * The sub-cases of research §6 #2–#6 and #9 that test/integration/proxy/handshake.test.ts,
 * test/integration/hardening/* and faults.test.ts do not cover yet:
 * - #2 refusals relayed correctly framed: a 404 and a 502 from the backend, a close-delimited
 *   body (neither Content-Length nor chunked);
 * - #3 invalid "successes": a 101 without `Connection: upgrade`, a 101 with two
 *   `Sec-WebSocket-Protocol` lines, a 200 carrying `Upgrade: websocket` (relayed as a refusal,
 *   SPEC §6, never tunnelled);
 * - #4 a backend host that does not resolve (502 at once), a backend answering its head byte by
 *   byte (504 at `timeouts.handshake`, its socket closed);
 * - #5 2000 idle TCP connections (the research's 10 000 scaled down): an upgrade meanwhile
 *   still works, and all of them are closed at `timeouts.request_head`;
 * - #6 `Transfer-Encoding` on an upgrade, a repeated `Host`, a repeated `Upgrade`: answered by
 *   wstap, never forwarded;
 * - #9 both sides sending Close at the same moment: both closes delivered, the session ends.
 */
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { assertNoLeaks, simpleConfig, startProxy, type RunningProxy } from '../../helpers/proxy.js';
import { crashGuard, noOpenSockets, trackedBackend, type TrackedBackend } from '../../helpers/backends.js';
import { useLeakCheck } from '../../helpers/proxy-fixture.js';
import {
  FIXED_MASK,
  RawClient,
  acceptKey,
  closeFrameOf,
  decodeFrames,
  frame,
  framesAfterHead,
  headEnd,
  headerValues,
  rawBackend,
  rawExchange,
  rawWebSocket,
  requestKey,
  upgradeRequest,
  type DecodedFrame,
  type RawBackend,
} from '../../helpers/raw.js';
import { pool } from '../../helpers/faults.js';

crashGuard();

let p: RunningProxy | undefined;
let tracked: TrackedBackend | undefined;
let raw: RawBackend | undefined;
const { rawClients, sockets } = useLeakCheck(async () => {
  await p?.close();
  await tracked?.close();
  await raw?.close();
  p = tracked = raw = undefined;
});

const OK_101 = (head: string, extra = ''): string =>
  `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(requestKey(head))}\r\n${extra}\r\n`;

describe('#2 a backend that refuses: relayed correctly framed, then both connections close', () => {
  const answers = [
    { name: 'a 404 with a Content-Length body', answer: 'HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nno such ws', status: 404, body: 'no such w' },
    { name: 'a 502 of its own', answer: 'HTTP/1.1 502 Bad Gateway\r\nContent-Length: 3\r\n\r\nbad', status: 502, body: 'bad' },
    { name: 'a close-delimited body', answer: 'HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nuntil the end', status: 403, body: 'until the end', close: true },
  ];
  for (const a of answers) {
    it(`${a.name}: status and body reach the client, Connection: close, nothing stays open`, async () => {
      raw = await rawBackend((conn) => {
        if (a.close) conn.socket.end(a.answer);
        else conn.socket.write(a.answer);
      });
      p = await startProxy(simpleConfig([raw.url]));
      const r = await rawExchange(p.port, upgradeRequest('/').text);
      expect(r.status).toBe(a.status);
      expect(headerValues(r, 'connection')).toEqual(['close']);
      expect(headerValues(r, 'transfer-encoding')).toEqual([]);
      const cl = headerValues(r, 'content-length');
      // Framed by its Content-Length when it had one, else by the close: never anything else.
      if (cl.length > 0) expect(Number(cl[0])).toBe(r.rest.length);
      expect(r.rest.toString()).toBe(a.body);
      await raw.conns[0]!.closed;
      expect(raw.open.size).toBe(0);
      expect(p.rec.upgrades[0]).toMatchObject({ status: a.status, errorType: 'backend_rejected' });
      expect(p.rec.opened).toEqual([]);
      await assertNoLeaks(p);
    });
  }
});

describe('#3 invalid "successes" from the backend: nothing tunnelled', () => {
  it('a 101 without "Connection: upgrade" → 502', async () => {
    raw = await rawBackend((conn, head) =>
      conn.socket.write(
        Buffer.concat([Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: ${acceptKey(requestKey(head))}\r\n\r\n`), frame(0x1, 'SMUGGLED')]),
      ),
    );
    p = await startProxy(simpleConfig([raw.url]));
    const r = await rawExchange(p.port, upgradeRequest('/').text);
    expect(r.status).toBe(502);
    expect(r.raw.toString('latin1')).not.toContain('SMUGGLED');
    await raw.conns[0]!.closed;
    expect(p.rec.opened).toEqual([]);
    await assertNoLeaks(p);
  });

  it('a 101 with two Sec-WebSocket-Protocol lines → 502', async () => {
    raw = await rawBackend((conn, head) => conn.socket.write(OK_101(head, 'Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: chat\r\n')));
    p = await startProxy(simpleConfig([raw.url]));
    const r = await rawExchange(p.port, upgradeRequest('/', { headers: [['Sec-WebSocket-Protocol', 'chat']] }).text);
    expect(r.status).toBe(502);
    await raw.conns[0]!.closed;
    expect(p.rec.upgrades[0]).toMatchObject({ status: 502, errorType: 'backend_invalid_response' });
    await assertNoLeaks(p);
  });

  it('a 200 carrying "Upgrade: websocket": relayed as the refusal it is, never tunnelled; early client bytes never reach it', async () => {
    raw = await rawBackend((conn) =>
      conn.socket.write(Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nContent-Length: 2\r\n\r\nhi'), frame(0x1, 'SMUGGLED')])),
    );
    p = await startProxy(simpleConfig([raw.url]));
    const c = await RawClient.connect(p.port);
    rawClients.add(c);
    c.write(Buffer.concat([Buffer.from(upgradeRequest('/').text), frame(0x1, 'EARLY', { mask: null })]));
    const r = await c.response();
    expect(r.status).toBe(200);
    expect(headerValues(r, 'connection')).toEqual(['close']);
    expect(headerValues(r, 'upgrade')).toEqual([]);
    expect(r.rest.toString()).toBe('hi');
    expect(c.received().toString('latin1')).not.toContain('SMUGGLED');
    const conn = raw.conns[0]!;
    await conn.closed;
    expect(conn.received().toString('latin1')).not.toContain('EARLY');
    expect(p.rec.opened).toEqual([]);
    await assertNoLeaks(p);
  });
});

describe('#4 a backend that cannot be reached or answers too slowly', () => {
  it('a host name that does not resolve → 502 at once', async () => {
    p = await startProxy(simpleConfig(['ws://wstap-test.invalid:9']));
    const t0 = performance.now();
    const r = await rawExchange(p.port, upgradeRequest('/').text);
    expect(r.status).toBe(502);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(p.rec.upgrades[0]).toMatchObject({ status: 502, errorType: 'backend_error' });
    await assertNoLeaks(p);
  });

  it('a backend answering its head a byte at a time → 504 at timeouts.handshake, its socket closed', async () => {
    const timers = new Set<NodeJS.Timeout>();
    raw = await rawBackend((conn, head) => {
      const answer = OK_101(head);
      let i = 0;
      const drip = (): void => {
        if (conn.socket.destroyed || i >= answer.length) return;
        conn.socket.write(answer[i++]!);
        const t = setTimeout(drip, 20);
        timers.add(t);
      };
      drip();
    });
    p = await startProxy(simpleConfig([raw.url], { timeouts: { handshake: 300 } }));
    const t0 = performance.now();
    const r = await rawExchange(p.port, upgradeRequest('/').text);
    const took = performance.now() - t0;
    for (const t of timers) clearTimeout(t);
    expect(r.status).toBe(504);
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(1500);
    await raw.conns[0]!.closed;
    expect(raw.open.size).toBe(0);
    await assertNoLeaks(p);
  });
});

describe('#5 many idle TCP connections (half-open handshakes)', () => {
  it('2000 connections that never send a request: an upgrade still works meanwhile, all are closed at timeouts.request_head', async () => {
    tracked = await trackedBackend();
    p = await startProxy(simpleConfig([tracked.url], { timeouts: { request_head: 500 } }));
    const idle: net.Socket[] = [];
    const closedAll: Promise<void>[] = [];
    await pool(
      Array.from({ length: 2000 }, (_, i) => i),
      200,
      async () => {
        const s = net.connect(p!.port, '127.0.0.1');
        sockets.add(s);
        s.on('error', () => {});
        s.resume(); // read (and drop) the 408, see the FIN
        closedAll.push(new Promise((r) => s.once('close', () => r())));
        await new Promise<void>((r) => s.once('connect', () => r()));
        idle.push(s);
      },
    );
    // Meanwhile a real client gets through.
    const { client } = await rawWebSocket(p.port);
    rawClients.add(client);
    client.write(frame(0x1, 'through the crowd', { mask: FIXED_MASK }));
    await client.waitFor((b) => b.includes('through the crowd'), 'the echo');
    const t0 = performance.now();
    await Promise.all(closedAll);
    // Node checks request heads every min(1 s, request_head): all gone within about 2 × 500 ms.
    expect(performance.now() - t0).toBeLessThan(3000);
    expect(idle.every((s) => s.destroyed)).toBe(true);
    expect(tracked.accepted()).toBe(1);
    // The session opened before them was not cut by the head timeout.
    client.write(frame(0x1, 'still open', { mask: FIXED_MASK }));
    await client.waitFor((b) => b.includes('still open'), 'the second echo');
    client.write(closeFrameOf(1000, '', FIXED_MASK));
    await client.closed;
    await assertNoLeaks(p);
    await tracked.drained();
    await noOpenSockets();
  });
});

describe('#6 malformed upgrades answered by wstap, never forwarded', () => {
  const cases = [
    { name: 'Transfer-Encoding: chunked on the upgrade', req: upgradeRequest('/', { headers: [['Transfer-Encoding', 'chunked']] }).text + '0\r\n\r\n' },
    { name: 'a repeated Host', req: upgradeRequest('/', { headers: [['Host', 'evil.test']] }).text },
    { name: 'a repeated Upgrade', req: upgradeRequest('/', { headers: [['Upgrade', 'h2c']] }).text },
  ];
  for (const m of cases) {
    it(`${m.name}: an HTTP error with Connection: close, no backend connection`, async () => {
      tracked = await trackedBackend();
      p = await startProxy(simpleConfig([tracked.url]));
      const r = await rawExchange(p.port, m.req);
      expect(r.status).toBeGreaterThanOrEqual(400);
      expect(r.status).not.toBe(101);
      expect(headerValues(r, 'connection')).toEqual(['close']);
      expect(tracked.accepted()).toBe(0);
      await assertNoLeaks(p);
    });
  }
});

describe('#9 both sides send Close at the same moment', () => {
  it('each gets the other\'s close frame, all data before it arrives, both TCP connections close, the session ends once', async () => {
    let backendClosed!: Promise<void>;
    raw = await rawBackend((conn, head) => {
      conn.socket.write(OK_101(head));
      backendClosed = conn.closed;
    });
    p = await startProxy(simpleConfig([raw.url]));
    const { client: c } = await rawWebSocket(p.port);
    rawClients.add(c);
    const conn = await raw.connection(1);
    // Both at once: data, then close, from each side, then each ends when it has the other's close.
    c.write(Buffer.concat([frame(0x1, 'from the client', { mask: FIXED_MASK }), closeFrameOf(1000, 'client bye', FIXED_MASK)]));
    conn.socket.write(Buffer.concat([frame(0x1, 'from the backend'), closeFrameOf(1001, 'backend bye')]));
    await c.waitFor(() => framesAfterHead(c).frames.some((f) => f.opcode === 0x8), "the backend's close");
    /** Frames the backend received after its request head. */
    const atBackend = (): DecodedFrame[] => decodeFrames(conn.received().subarray(headEnd(conn.received()))).frames;
    await new Promise<void>((resolve) => {
      const check = (): void => {
        if (atBackend().some((f) => f.opcode === 0x8)) {
          conn.socket.off('data', check);
          resolve();
        }
      };
      conn.socket.on('data', check);
      check();
    });
    c.socket.end();
    conn.socket.end();
    await c.closed;
    await backendClosed;
    const toClient = framesAfterHead(c).frames;
    expect(toClient.map((f) => f.opcode)).toEqual([0x1, 0x8]);
    expect(toClient[0]!.payload.toString()).toBe('from the backend');
    expect(toClient[1]!.payload.readUInt16BE(0)).toBe(1001);
    const toBackend = atBackend();
    expect(toBackend.map((f) => f.opcode)).toEqual([0x1, 0x8]);
    expect(toBackend[0]!.payload.toString()).toBe('from the client');
    expect(toBackend[1]!.payload.readUInt16BE(0)).toBe(1000);
    await p.rec.closes(1);
    expect(p.rec.closed).toHaveLength(1);
    expect([1000, 1001]).toContain(p.rec.closed[0]!.e.code);
    await assertNoLeaks(p);
    expect(raw.open.size).toBe(0);
  });
});
