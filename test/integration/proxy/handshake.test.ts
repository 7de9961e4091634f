/**
 * The opening handshake through wstap (SPEC §6 "Handshake"; research §1.7, §6 #2–#7): what the
 * proxy answers itself, what it relays, what it refuses to tunnel, and which headers the
 * backend gets. Raw `net` clients and fake backends make every byte visible.
 */
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { assertNoLeaks, refusedStatus, simpleConfig, startProxy, testConfig, type RunningProxy } from '../../helpers/proxy.js';
import { crashGuard, noOpenSockets, trackedBackend, type TrackedBackend } from '../../helpers/backends.js';
import { useLeakCheck } from '../../helpers/proxy-fixture.js';
import {
  FIXED_MASK,
  RawClient,
  acceptKey,
  closeFrameOf,
  deadPort,
  frame,
  headerValues,
  rawBackend,
  rawExchange,
  rawValues,
  rawWebSocket,
  requestKey,
  upgradeRequest,
  type ParsedHead,
  type RawBackend,
} from '../../helpers/raw.js';

crashGuard();

let p: RunningProxy | undefined;
let tracked: TrackedBackend | undefined;
let raw: RawBackend | undefined;
const { rawClients } = useLeakCheck(async () => {
  await p?.close();
  await tracked?.close();
  await raw?.close();
  p = tracked = raw = undefined;
});

async function rawClient(port: number): Promise<RawClient> {
  const c = await RawClient.connect(port);
  rawClients.add(c);
  return c;
}

/** Decode a response body by its own framing; throws when the framing is broken. */
function decodeBody(h: ParsedHead): string {
  const te = headerValues(h, 'transfer-encoding').join(',').toLowerCase();
  const cl = headerValues(h, 'content-length');
  if (te.includes('chunked')) {
    let rest = h.rest;
    let out = '';
    for (;;) {
      const eol = rest.indexOf('\r\n');
      if (eol < 0) throw new Error('chunked framing broken: no chunk size line');
      const size = parseInt(rest.subarray(0, eol).toString('latin1'), 16);
      if (!Number.isFinite(size)) throw new Error(`chunked framing broken: ${JSON.stringify(rest.toString('latin1'))}`);
      if (size === 0) return out;
      out += rest.subarray(eol + 2, eol + 2 + size).toString();
      if (rest.subarray(eol + 2 + size, eol + 4 + size).toString() !== '\r\n') throw new Error('chunked framing broken: missing CRLF');
      rest = rest.subarray(eol + 4 + size);
    }
  }
  if (cl.length > 0) {
    if (cl.length > 1) throw new Error('several Content-Length headers');
    const n = Number(cl[0]);
    if (h.rest.length !== n) throw new Error(`Content-Length ${n} but ${h.rest.length} body bytes`);
    return h.rest.toString();
  }
  return h.rest.toString(); // close-delimited
}

/** Close a raw WebSocket cleanly (masked close 1000) and wait for the TCP close. */
async function finish(c: RawClient): Promise<void> {
  c.write(closeFrameOf(1000, '', FIXED_MASK));
  await c.closed;
}

const wsRoute = (url: string, extra: Record<string, unknown> = {}) =>
  testConfig({
    backends: { main: { servers: [{ id: 'b1', url }] } },
    routes: [{ name: 'ws', match: { path: '/ws' }, backend: 'main' }],
    ...extra,
  });

describe('handshake: answers wstap gives itself', () => {
  it('an unrouted path gets 404 and never reaches a backend', async () => {
    tracked = await trackedBackend();
    p = await startProxy(wsRoute(tracked.url));
    const r = await refusedStatus(`${p.url}/other`);
    expect(r.status).toBe(404);
    const rr = await rawExchange(p.port, upgradeRequest('/elsewhere').text);
    expect(rr.status).toBe(404);
    expect(headerValues(rr, 'connection')).toEqual(['close']);
    expect(decodeBody(rr)).toMatch(/no route/);
    expect(tracked.accepted()).toBe(0);
    expect(p.rec.upgrades.map((u) => [u.status, u.errorType])).toEqual([
      [404, 'no_route'],
      [404, 'no_route'],
    ]);
    await assertNoLeaks(p);
  });

  it('a dead backend (nothing listening) is a 502 at once', async () => {
    const port = await deadPort();
    p = await startProxy(simpleConfig([`ws://127.0.0.1:${port}`], { timeouts: { handshake: 5000 } }));
    const t0 = performance.now();
    const r = await refusedStatus(p.url);
    const ms = performance.now() - t0;
    expect(r.status).toBe(502);
    expect(ms).toBeLessThan(500);
    expect(p.rec.upgrades[0]).toMatchObject({ status: 502, errorType: 'backend_refused' });
    await assertNoLeaks(p);
  });

  it('a blackholed backend (accepts, never answers) is a 504 after timeouts.handshake, and its socket is closed', async () => {
    raw = await rawBackend(); // no answer, ever
    p = await startProxy(simpleConfig([raw.url], { timeouts: { handshake: 300 } }));
    const t0 = performance.now();
    const r = await refusedStatus(p.url);
    const ms = performance.now() - t0;
    expect(r.status).toBe(504);
    expect(ms).toBeGreaterThanOrEqual(280);
    expect(ms).toBeLessThan(1000);
    expect(p.rec.upgrades[0]).toMatchObject({ status: 504, errorType: 'backend_timeout' });
    await raw.conns[0]!.closed;
    expect(raw.open.size).toBe(0);
    await assertNoLeaks(p);
  });

  it('Upgrade: h2c is answered 501 by wstap; the backend sees no connection', async () => {
    tracked = await trackedBackend();
    p = await startProxy(simpleConfig([tracked.url]));
    const r = await rawExchange(
      p.port,
      'GET / HTTP/1.1\r\nHost: proxy.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n',
    );
    expect(r.status).toBe(501);
    expect(headerValues(r, 'connection')).toEqual(['close']);
    decodeBody(r);
    expect(tracked.accepted()).toBe(0);
    await assertNoLeaks(p);
  });

  const malformed: { name: string; req: string; status: number; extra?: [string, string] }[] = [
    { name: 'a malformed key', req: upgradeRequest('/', { key: 'not-a-key' }).text, status: 400 },
    { name: 'a key of 15 bytes', req: upgradeRequest('/', { key: Buffer.alloc(15, 1).toString('base64') }).text, status: 400 },
    { name: 'no key', req: upgradeRequest('/', { omit: ['sec-websocket-key'] }).text, status: 400 },
    { name: 'two keys', req: upgradeRequest('/', { headers: [['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ==']] }).text, status: 400 },
    { name: 'version 8', req: upgradeRequest('/', { version: '8' }).text, status: 426, extra: ['sec-websocket-version', '13'] },
    { name: 'no version', req: upgradeRequest('/', { omit: ['sec-websocket-version'] }).text, status: 426, extra: ['sec-websocket-version', '13'] },
    { name: 'a POST upgrade', req: upgradeRequest('/', { method: 'POST', headers: [['Content-Length', '0']] }).text, status: 400 },
    { name: 'a body on the upgrade', req: upgradeRequest('/', { headers: [['Content-Length', '5']] }).text + 'hello', status: 400 },
    { name: 'Connection without "upgrade"', req: upgradeRequest('/', { connection: 'keep-alive' }).text, status: 400 },
  ];
  for (const m of malformed) {
    it(`${m.name} → ${m.status}, never forwarded`, async () => {
      tracked = await trackedBackend();
      p = await startProxy(simpleConfig([tracked.url]));
      const r = await rawExchange(p.port, m.req);
      expect(r.status).toBe(m.status);
      expect(headerValues(r, 'connection')).toEqual(['close']);
      if (m.extra) expect(headerValues(r, m.extra[0])).toEqual([m.extra[1]]);
      decodeBody(r);
      expect(tracked.accepted()).toBe(0);
      await assertNoLeaks(p);
    });
  }
});

describe('handshake: a backend that refuses', () => {
  it('a 403 with a Content-Length body is relayed as sent, then both connections close', async () => {
    raw = await rawBackend((c) =>
      c.socket.write('HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nX-Reason: nope\r\nContent-Length: 9\r\n\r\nforbidden'),
    );
    p = await startProxy(simpleConfig([raw.url]));
    const ws = await refusedStatus(p.url);
    expect(ws).toMatchObject({ status: 403, body: 'forbidden' });
    expect(ws.headers['x-reason']).toBe('nope');
    const r = await rawExchange(p.port, upgradeRequest('/').text);
    expect(r.status).toBe(403);
    expect(r.reason).toBe('Forbidden');
    expect(decodeBody(r)).toBe('forbidden');
    expect(headerValues(r, 'connection')).toEqual(['close']);
    expect(headerValues(r, 'X-Reason')).toEqual(['nope']);
    // The backend kept its side open (keep-alive): the proxy must not leave it there.
    await raw.conns[0]!.closed;
    await raw.conns[1]!.closed;
    expect(raw.open.size).toBe(0);
    expect(p.rec.upgrades.map((u) => [u.status, u.errorType])).toEqual([
      [403, 'backend_rejected'],
      [403, 'backend_rejected'],
    ]);
    await assertNoLeaks(p);
  });

  it('a chunked 401 body reaches the client correctly framed (never TE: chunked around a de-chunked body)', async () => {
    raw = await rawBackend((c) =>
      c.socket.write(
        'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm="chat"\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n',
      ),
    );
    p = await startProxy(simpleConfig([raw.url]));
    const r = await rawExchange(p.port, upgradeRequest('/').text);
    expect(r.status).toBe(401);
    expect(headerValues(r, 'WWW-Authenticate')).toEqual(['Bearer realm="chat"']);
    expect(decodeBody(r)).toBe('hello world');
    const ws = await refusedStatus(p.url);
    expect(ws).toMatchObject({ status: 401, body: 'hello world' });
    await Promise.all(raw.conns.map((c) => c.closed));
    expect(raw.open.size).toBe(0);
    await assertNoLeaks(p);
  });

  it('early bytes sent right after the request head never reach a backend that refuses', async () => {
    raw = await rawBackend((c) => {
      // A slow refusal: the client's early bytes have time to arrive at the proxy meanwhile.
      setTimeout(() => c.socket.write('HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n'), 100);
    });
    p = await startProxy(simpleConfig([raw.url]));
    const c = await rawClient(p.port);
    // Unmasked, so that the marker would be visible in what the backend received.
    c.write(Buffer.concat([Buffer.from(upgradeRequest('/').text), frame(0x1, 'EARLY-ONE')]));
    const conn = await raw.connection();
    c.write(frame(0x1, 'EARLY-TWO'));
    c.write('GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n');
    const h = await c.response();
    expect(h.status).toBe(426);
    expect(headerValues(h, 'Sec-WebSocket-Version')).toEqual(['13']);
    await conn.closed;
    const seen = conn.received().toString('latin1');
    expect(seen).toMatch(/^GET \/ HTTP\/1\.1\r\n[\s\S]*\r\n\r\n$/);
    expect(seen).not.toContain('EARLY');
    expect(seen).not.toContain('smuggled');
    expect(raw.conns).toHaveLength(1);
    await assertNoLeaks(p);
  });

  it('more early bytes than the proxy holds, then a refusal: the client gets the answer and no socket stays open', async () => {
    raw = await rawBackend((c) => c.socket.write('HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno'));
    p = await startProxy(simpleConfig([raw.url]));
    const c = await rawClient(p.port);
    c.write(Buffer.concat([Buffer.from(upgradeRequest('/').text), Buffer.alloc(200_000, 0x41)]));
    const h = await c.response();
    expect(h.status).toBe(403);
    expect(decodeBody(h)).toBe('no');
    expect(raw.conns[0]!.received().toString('latin1')).not.toContain('AAAA');
    // The proxy paused the client while holding its bytes: it must still see the client's FIN.
    await noOpenSockets();
    await assertNoLeaks(p);
  });

  it('early bytes are held until a valid 101, then delivered in order', async () => {
    tracked = await trackedBackend({ delay101: 50 });
    p = await startProxy(simpleConfig([tracked.url]));
    const c = await rawClient(p.port);
    c.write(Buffer.concat([Buffer.from(upgradeRequest('/').text), frame(0x1, 'optimistic', { mask: FIXED_MASK })]));
    await tracked.nextRequest();
    c.write(frame(0x1, 'second', { mask: FIXED_MASK }));
    await c.waitFor((b) => b.includes('optimistic') && b.includes('second'), 'both echoes');
    expect(c.received().indexOf('optimistic')).toBeLessThan(c.received().indexOf('second'));
    await finish(c);
    await assertNoLeaks(p);
    await tracked.drained();
  });
});

describe('handshake: an invalid 101 is a 502 and nothing is tunnelled', () => {
  /** Answers of a fake backend, given the key it received. */
  const answers: { name: string; offer?: [string, string]; answer: (key: string) => string }[] = [
    { name: 'a wrong Sec-WebSocket-Accept', answer: () => `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey('AAAAAAAAAAAAAAAAAAAAAA==')}\r\n\r\n` },
    { name: 'no Sec-WebSocket-Accept', answer: () => 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n' },
    { name: 'two Sec-WebSocket-Accept', answer: (k) => `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(k)}\r\nSec-WebSocket-Accept: ${acceptKey(k)}\r\n\r\n` },
    { name: 'Upgrade: h2c', answer: (k) => `HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(k)}\r\n\r\n` },
    {
      name: 'a subprotocol that was not offered',
      offer: ['Sec-WebSocket-Protocol', 'chat'],
      answer: (k) => `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(k)}\r\nSec-WebSocket-Protocol: evil\r\n\r\n`,
    },
    { name: 'a subprotocol when none was offered', answer: (k) => `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(k)}\r\nSec-WebSocket-Protocol: chat\r\n\r\n` },
    { name: 'an extension that was not offered', answer: (k) => `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(k)}\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n` },
  ];
  for (const a of answers) {
    it(`${a.name} → 502`, async () => {
      raw = await rawBackend((c, head) => {
        // The 101, then bytes that would be tunnelled if the proxy believed it.
        c.socket.write(Buffer.concat([Buffer.from(a.answer(requestKey(head))), frame(0x1, 'SMUGGLED')]));
      });
      p = await startProxy(simpleConfig([raw.url]));
      const c = await rawClient(p.port);
      const req = upgradeRequest('/', { headers: a.offer ? [a.offer] : [] });
      c.write(Buffer.concat([Buffer.from(req.text), frame(0x1, 'EARLY')]));
      const h = await c.response();
      expect(h.status).toBe(502);
      expect(decodeBody(h)).toMatch(/invalid 101/);
      expect(c.received().toString('latin1')).not.toContain('SMUGGLED');
      const conn = raw.conns[0]!;
      await conn.closed;
      expect(conn.received().toString('latin1')).not.toContain('EARLY');
      expect(p.rec.upgrades[0]).toMatchObject({ status: 502, errorType: 'backend_invalid_response' });
      expect(p.rec.opened).toEqual([]);
      await assertNoLeaks(p);
    });
  }

  it('a ws client offering "chat" and a backend choosing "evil": the client gets 502', async () => {
    raw = await rawBackend((c, head) =>
      c.socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(requestKey(head))}\r\nSec-WebSocket-Protocol: evil\r\n\r\n`),
    );
    p = await startProxy(simpleConfig([raw.url]));
    const ws = new WebSocket(p.url, ['chat']);
    ws.on('error', () => {});
    const status = await new Promise<number>((resolve) => {
      ws.once('open', () => resolve(101));
      ws.once('unexpected-response', (_req, res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
    });
    expect(status).toBe(502);
    await assertNoLeaks(p);
  });
});

describe('handshake: headers the backend gets', () => {
  it('hop-by-hop headers are dropped; cookies, auth and Sec-WebSocket-* arrive as sent', async () => {
    tracked = await trackedBackend({ ws: { handleProtocols: (s) => (s.has('chat') ? 'chat' : false) } });
    p = await startProxy(simpleConfig([tracked.url]));
    const reqP = tracked.nextRequest();
    const { client, head, key } = await rawWebSocket(p.port, '/ws?token=abc', {
      connection: 'Upgrade, X-Secret, keep-alive',
      headers: [
        ['X-Secret', 'do not forward'],
        ['Keep-Alive', 'timeout=5'],
        ['Proxy-Connection', 'keep-alive'],
        ['TE', 'trailers'],
        ['Cookie', 'session=s3cr3t; theme=dark'],
        ['Authorization', 'Bearer tok.en'],
        ['Sec-WebSocket-Protocol', 'chat, superchat'],
        ['Sec-WebSocket-Protocol', 'v2.chat'],
        ['Sec-WebSocket-Extensions', 'x-unknown; p=1'],
        ['X-Custom-Case', 'KeepMe'],
      ],
    });
    const req = await reqP;
    const rh = req.rawHeaders;
    for (const h of ['x-secret', 'keep-alive', 'proxy-connection', 'te']) expect(rawValues(rh, h), h).toEqual([]);
    expect(rawValues(rh, 'connection')).toEqual(['Upgrade']);
    expect(rawValues(rh, 'upgrade')).toEqual(['websocket']);
    expect(rawValues(rh, 'cookie')).toEqual(['session=s3cr3t; theme=dark']);
    expect(rawValues(rh, 'authorization')).toEqual(['Bearer tok.en']);
    expect(rawValues(rh, 'sec-websocket-protocol')).toEqual(['chat, superchat', 'v2.chat']);
    expect(rawValues(rh, 'sec-websocket-extensions')).toEqual(['x-unknown; p=1']);
    expect(rawValues(rh, 'sec-websocket-key')).toEqual([key]);
    expect(rawValues(rh, 'sec-websocket-version')).toEqual(['13']);
    expect(rh).toContain('X-Custom-Case');
    expect(rawValues(rh, 'host')).toEqual(['proxy.test']);
    expect(req.url).toBe('/ws?token=abc');
    expect(headerValues(head, 'sec-websocket-protocol')).toEqual(['chat']);
    await finish(client);
    await assertNoLeaks(p);
    await tracked.drained();
  });

  it("the backend's 101 headers reach the client as sent: repeated Set-Cookie lines unmerged, case kept", async () => {
    tracked = await trackedBackend({ ws: { handleProtocols: () => 'chat' } });
    tracked.wss.on('headers', (headers: string[]) => headers.push('Set-Cookie: a=1; Path=/', 'Set-Cookie: b=2', 'X-Backend-Case: MiXeD'));
    p = await startProxy(simpleConfig([tracked.url]));
    const direct = await rawWebSocket(tracked.port, '/', { headers: [['Sec-WebSocket-Protocol', 'chat']] });
    const proxied = await rawWebSocket(p.port, '/', { headers: [['Sec-WebSocket-Protocol', 'chat']] });
    const names = ['set-cookie', 'x-backend-case', 'sec-websocket-protocol', 'upgrade'];
    for (const n of names) expect(headerValues(proxied.head, n), n).toEqual(headerValues(direct.head, n));
    expect(headerValues(proxied.head, 'set-cookie')).toEqual(['a=1; Path=/', 'b=2']);
    expect(proxied.head.headers.some(([k]) => k === 'X-Backend-Case')).toBe(true);
    expect(headerValues(proxied.head, 'transfer-encoding')).toEqual([]);
    await finish(direct.client);
    await finish(proxied.client);
    await assertNoLeaks(p);
    await tracked.drained();
  });

  it('X-Forwarded-For from an untrusted client is replaced by the peer; Proto and Host are set', async () => {
    tracked = await trackedBackend();
    p = await startProxy(simpleConfig([tracked.url]));
    const reqP = tracked.nextRequest();
    const { client } = await rawWebSocket(p.port, '/', {
      host: 'chat.example.com:8080',
      headers: [
        ['X-Forwarded-For', '6.6.6.6'],
        ['X-Forwarded-For', '7.7.7.7'],
        ['X-Forwarded-Proto', 'https'],
        ['X-Forwarded-Host', 'evil.example'],
        ['Forwarded', 'for=6.6.6.6'],
      ],
    });
    const rh = (await reqP).rawHeaders;
    expect(rawValues(rh, 'x-forwarded-for')).toEqual(['127.0.0.1']);
    expect(rawValues(rh, 'x-forwarded-proto')).toEqual(['http']);
    expect(rawValues(rh, 'x-forwarded-host')).toEqual(['chat.example.com:8080']);
    expect(rawValues(rh, 'forwarded')).toEqual([]);
    await finish(client);
    await assertNoLeaks(p);
    await tracked.drained();
  });

  it('X-Forwarded-For from a trusted proxy (127.0.0.1/32) is extended with the peer', async () => {
    tracked = await trackedBackend();
    p = await startProxy(simpleConfig([tracked.url], { trusted_proxies: ['127.0.0.1/32'] }));
    const reqP = tracked.nextRequest();
    const { client } = await rawWebSocket(p.port, '/', {
      headers: [
        ['X-Forwarded-For', '203.0.113.7, 10.0.0.2'],
        ['X-Forwarded-Proto', 'https'],
        ['X-Forwarded-Host', 'chat.example.com'],
      ],
    });
    const rh = (await reqP).rawHeaders;
    expect(rawValues(rh, 'x-forwarded-for')).toEqual(['203.0.113.7, 10.0.0.2, 127.0.0.1']);
    expect(rawValues(rh, 'x-forwarded-proto')).toEqual(['https']);
    expect(rawValues(rh, 'x-forwarded-host')).toEqual(['chat.example.com']);
    await finish(client);
    // Without an incoming XFF, a trusted peer gets the plain peer address.
    const reqP2 = tracked.nextRequest();
    const second = await rawWebSocket(p.port, '/');
    const rh2 = (await reqP2).rawHeaders;
    expect(rawValues(rh2, 'x-forwarded-for')).toEqual(['127.0.0.1']);
    expect(rawValues(rh2, 'x-forwarded-proto')).toEqual(['http']);
    expect(rawValues(rh2, 'x-forwarded-host')).toEqual(['proxy.test']);
    await finish(second.client);
    await assertNoLeaks(p);
    await tracked.drained();
  });
});

