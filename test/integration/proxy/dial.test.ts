/**
 * The backend dial reads the backend's answer itself (src/proxy/dial.ts): a small parser for the
 * 101 head, Node's HTTP client only for anything else. These cases pin what that parser must get
 * right at its edges — heads split across reads, bytes right after the head, interim answers,
 * heads it does not take, the request it writes — with fake backends that show every byte.
 */
import { describe, expect, it } from 'vitest';
import { assertNoLeaks, simpleConfig, startProxy, type RunningProxy } from '../../helpers/proxy.js';
import { crashGuard } from '../../helpers/backends.js';
import { useLeakCheck } from '../../helpers/proxy-fixture.js';
import {
  RawClient,
  acceptKey,
  closeFrameOf,
  decodeFrames,
  frame,
  headEnd,
  headerValues,
  rawBackend,
  rawExchange,
  requestKey,
  upgradeRequest,
  type RawBackend,
  type RawConn,
} from '../../helpers/raw.js';

crashGuard();

let p: RunningProxy | undefined;
let raw: RawBackend | undefined;
const { rawClients } = useLeakCheck(async () => {
  await p?.close();
  await raw?.close();
  p = raw = undefined;
});

const HEAD_101 = (key: string, extra = ''): string =>
  `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(key)}\r\n${extra}\r\n`;

/** Write `parts` one after the other, each once the peer can have read the previous one. */
async function writeApart(conn: RawConn, parts: readonly (string | Buffer)[]): Promise<void> {
  for (const part of parts) {
    await new Promise<void>((resolve) => conn.socket.write(part, () => resolve()));
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

async function upgradedClient(port: number): Promise<RawClient> {
  const c = await RawClient.connect(port);
  rawClients.add(c);
  c.write(upgradeRequest('/').text);
  return c;
}

/** The session ends cleanly: the client sends Close, the backend answers it and closes. */
async function closeSession(c: RawClient, conn: RawConn): Promise<void> {
  c.write(closeFrameOf(1000, '', Buffer.from([1, 2, 3, 4])));
  await new Promise<void>((resolve) => {
    const check = (): void => {
      if (decodeFrames(conn.received().subarray(headEnd(conn.received()))).frames.some((f) => f.opcode === 0x8)) resolve();
      else setImmediate(check);
    };
    check();
  });
  conn.socket.end(closeFrameOf(1000));
  await c.closed;
  await conn.closed;
}

describe('the 101 head, read by the dial itself', () => {
  it('a head split over several reads, with a frame in the same read as its end: the frame reaches the client', async () => {
    let parts: (string | Buffer)[] = [];
    raw = await rawBackend((conn, head) => {
      const h = HEAD_101(requestKey(head));
      parts = [h.slice(0, 10), h.slice(10, h.length - 3), Buffer.concat([Buffer.from(h.slice(h.length - 3)), frame(0x1, 'FIRST')])];
      void writeApart(conn, parts);
    });
    p = await startProxy(simpleConfig([raw.url]));
    const c = await upgradedClient(p.port);
    const h = await c.head();
    expect(h.status).toBe(101);
    const all = await c.waitFor((b) => headEnd(b) >= 0 && decodeFrames(b.subarray(headEnd(b))).frames.length > 0, 'the first frame');
    expect(decodeFrames(all.subarray(headEnd(all))).frames.map((f) => f.payload.toString())).toEqual(['FIRST']);
    expect(p.rec.opened.length).toBe(1);
    await closeSession(c, raw.conns[0]!);
    await assertNoLeaks(p);
  });

  it('interim answers (100, 103) before the 101 are skipped, as Node skips them', async () => {
    raw = await rawBackend((conn, head) => {
      conn.socket.write(`HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n${HEAD_101(requestKey(head), 'X-Backend: one\r\n')}`);
    });
    p = await startProxy(simpleConfig([raw.url]));
    const c = await upgradedClient(p.port);
    const h = await c.head();
    expect(h.status).toBe(101);
    expect(headerValues(h, 'x-backend')).toEqual(['one']);
    expect(headerValues(h, 'link')).toEqual([]);
    await closeSession(c, raw.conns[0]!);
    await assertNoLeaks(p);
  });

  it('header values keep their case and inner spaces, lose their outer spaces', async () => {
    raw = await rawBackend((conn, head) => conn.socket.write(HEAD_101(requestKey(head), 'X-Odd:   Two  Words \t\r\nset-cookie: a=1\r\n')));
    p = await startProxy(simpleConfig([raw.url]));
    const c = await upgradedClient(p.port);
    const h = await c.head();
    expect(h.status).toBe(101);
    expect(headerValues(h, 'x-odd')).toEqual(['Two  Words']);
    expect(h.text).toMatch(/\r\nset-cookie: a=1(\r\n|$)/);
    await closeSession(c, raw.conns[0]!);
    await assertNoLeaks(p);
  });

  it('a head larger than 16 KiB → 502 backend_error, nothing tunnelled', async () => {
    raw = await rawBackend((conn, head) => conn.socket.write(`${HEAD_101(requestKey(head)).slice(0, -2)}X-Big: ${'a'.repeat(17 * 1024)}\r\n\r\n`));
    p = await startProxy(simpleConfig([raw.url]));
    const r = await rawExchange(p.port, upgradeRequest('/').text);
    expect(r.status).toBe(502);
    expect(p.rec.upgrades[0]).toMatchObject({ status: 502, errorType: 'backend_error' });
    await raw.conns[0]!.closed;
    expect(p.rec.opened).toEqual([]);
    await assertNoLeaks(p);
  });

  it('a 101 whose head only a full HTTP parser reads (an obs-fold line) is not tunnelled → 502', async () => {
    raw = await rawBackend((conn, head) => {
      conn.socket.write(Buffer.concat([Buffer.from(HEAD_101(requestKey(head), 'X-Folded: one\r\n two\r\n')), frame(0x1, 'SMUGGLED')]));
    });
    p = await startProxy(simpleConfig([raw.url]));
    const r = await rawExchange(p.port, upgradeRequest('/').text);
    expect(r.status).toBe(502);
    expect(r.raw.toString('latin1')).not.toContain('SMUGGLED');
    await raw.conns[0]!.closed;
    expect(p.rec.opened).toEqual([]);
    await assertNoLeaks(p);
  });

  it('a head with bare-LF line ends goes to Node’s parser, which decides at once (it refuses them: 502, not a 504 later)', async () => {
    raw = await rawBackend((conn) => conn.socket.write('HTTP/1.1 403 Forbidden\nContent-Length: 4\n\nnope'));
    p = await startProxy(simpleConfig([raw.url], { timeouts: { handshake: 30_000 } }));
    const r = await rawExchange(p.port, upgradeRequest('/').text);
    expect(r.status).toBe(502);
    expect(p.rec.upgrades[0]).toMatchObject({ status: 502, errorType: 'backend_error' });
    await raw.conns[0]!.closed;
    await assertNoLeaks(p);
  });

  it('a refusal split over reads, its body in pieces: relayed whole, with its Content-Length', async () => {
    raw = await rawBackend((conn) => void writeApart(conn, ['HTTP/1.1 404 Not', ' Found\r\nContent-Length: 11\r\n', '\r\nnot ', 'here', ' :(']));
    p = await startProxy(simpleConfig([raw.url]));
    const r = await rawExchange(p.port, upgradeRequest('/').text);
    expect(r.status).toBe(404);
    expect(headerValues(r, 'content-length')).toEqual(['11']);
    expect(r.rest.toString()).toBe('not here :(');
    await raw.conns[0]!.closed;
    expect(p.rec.upgrades[0]).toMatchObject({ status: 404, errorType: 'backend_rejected' });
    await assertNoLeaks(p);
  });

  it('a backend that closes before a complete head → 502 backend_error', async () => {
    raw = await rawBackend((conn) => conn.socket.end('HTTP/1.1 101 Switching'));
    p = await startProxy(simpleConfig([raw.url]));
    const r = await rawExchange(p.port, upgradeRequest('/').text);
    expect(r.status).toBe(502);
    expect(p.rec.upgrades[0]).toMatchObject({ status: 502, errorType: 'backend_error' });
    await assertNoLeaks(p);
  });
});

describe('the request the dial writes', () => {
  it('request line and headers as http.request wrote them: the path prefix, the client’s headers in order, no Host added', async () => {
    let head = '';
    raw = await rawBackend((conn, h) => {
      head = h;
      conn.socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
    });
    p = await startProxy(simpleConfig([`${raw.url}/base`]));
    await rawExchange(
      p.port,
      'GET /chat?room=1 HTTP/1.1\r\nHost: example.test\r\nX-First: 1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nX-Last: 2\r\n\r\n',
    );
    const lines = head.split('\r\n');
    expect(lines[0]).toBe('GET /base/chat?room=1 HTTP/1.1');
    const names = lines.slice(1).map((l) => l.slice(0, l.indexOf(':')));
    expect(names.slice(0, 5)).toEqual(['Host', 'X-First', 'Sec-WebSocket-Key', 'Sec-WebSocket-Version', 'X-Last']);
    expect(names.filter((n) => n.toLowerCase() === 'host')).toEqual(['Host']);
    expect(lines).toContain('Connection: Upgrade');
    expect(lines).toContain('Upgrade: websocket');
    await raw.conns[0]!.closed;
    await assertNoLeaks(p);
  });
});
