/**
 * "Through wstap must behave exactly as direct": every scenario runs twice, once straight to
 * the backend and once through the proxy, and what both endpoints observe must be identical.
 * Where the wire itself matters (fragments, masks), a raw client checks the bytes.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { assertNoLeaks, closed, connect, nextMessage, simpleConfig, startProxy, type RunningProxy } from '../../helpers/proxy.js';
import { collect, crashGuard, trackedBackend, type BackendConn, type TrackedBackend } from '../../helpers/backends.js';
import { useLeakCheck } from '../../helpers/proxy-fixture.js';
import { FIXED_MASK, closeFrameOf, frame, framesAfterHead, rawWebSocket } from '../../helpers/raw.js';

crashGuard();

let backend: TrackedBackend | undefined;
let p: RunningProxy | undefined;
const { wsClients: clients } = useLeakCheck(async () => {
  await p?.close();
  await backend?.close();
  p = undefined;
  backend = undefined;
});

async function open(url: string, protocols?: string | string[], opts = {}): Promise<WebSocket> {
  const ws = await connect(url, protocols, opts);
  clients.add(ws);
  return ws;
}

/** Run `scenario` straight to the backend, then through the proxy. */
async function directAndProxied<T>(b: TrackedBackend, proxy: RunningProxy, scenario: (url: string) => Promise<T>): Promise<{ direct: T; proxied: T }> {
  const direct = await scenario(b.url);
  const proxied = await scenario(proxy.url);
  return { direct, proxied };
}

/** Open a client and get the backend's side of the same connection. */
async function pair(url: string, protocols?: string | string[], opts = {}): Promise<{ ws: WebSocket; conn: BackendConn }> {
  const conn = backend!.nextConnection();
  const ws = await open(url, protocols, opts);
  return { ws, conn: await conn };
}

function digest(data: Buffer, isBinary: boolean): { binary: boolean; len: number; sha: string } {
  return { binary: isBinary, len: data.length, sha: createHash('sha256').update(data).digest('hex').slice(0, 16) };
}

async function closeBoth(ws: WebSocket, conn: BackendConn): Promise<{ client: { code: number; reason: string }; backend: { code: number; reason: string } }> {
  const c = closed(ws);
  ws.close(1000, 'done');
  return { client: await c, backend: await conn.closed };
}

describe('transparency: ws client ↔ ws server, direct vs through wstap', () => {
  it('text and binary echo, empty and unicode messages', async () => {
    backend = await trackedBackend();
    p = await startProxy(simpleConfig([backend.url]));
    const payloads: (string | Buffer)[] = ['hello', Buffer.from([0, 1, 2, 0xff]), '', Buffer.alloc(0), 'é ünïcødé 🎉', Buffer.alloc(70_000, 9), 'x'.repeat(126)];
    const { direct, proxied } = await directAndProxied(backend, p, async (url) => {
      const { ws, conn } = await pair(url + '/chat?room=1');
      const out = [];
      for (const m of payloads) {
        const next = nextMessage(ws);
        ws.send(m);
        const r = await next;
        out.push(digest(r.data, r.isBinary));
      }
      return { out, path: conn.req.url, close: await closeBoth(ws, conn) };
    });
    expect(proxied).toEqual(direct);
    expect(direct.out.map((o) => o.binary)).toEqual([false, true, false, true, false, true, false]);
    await p.rec.closes(1);
    const sizes = payloads.map((m) => Buffer.byteLength(m));
    expect(p.rec.messages.filter((m) => m.dir === 'client_to_backend').map((m) => m.size)).toEqual(sizes);
    expect(p.rec.messages.filter((m) => m.dir === 'backend_to_client').map((m) => m.size)).toEqual(sizes);
    expect(p.rec.closed[0]!.e).toMatchObject({ code: 1000, initiator: 'client', messagesC2B: payloads.length, messagesB2C: payloads.length });
    expect(p.rec.violations).toEqual([]);
    await assertNoLeaks(p);
    await backend.drained();
  });

  it('an 8 MiB message both ways', async () => {
    backend = await trackedBackend({ ws: { maxPayload: 64 * 1024 * 1024 } });
    p = await startProxy(simpleConfig([backend.url]));
    const big = Buffer.allocUnsafe(8 * 1024 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 13)) & 0xff;
    const { direct, proxied } = await directAndProxied(backend, p, async (url) => {
      const { ws, conn } = await pair(url);
      const next = nextMessage(ws);
      ws.send(big);
      const r = await next;
      const ok = r.data.equals(big);
      return { got: digest(r.data, r.isBinary), ok, close: await closeBoth(ws, conn) };
    });
    expect(direct.ok).toBe(true);
    expect(proxied).toEqual(direct);
    await p.rec.closes(1);
    expect(p.rec.messages).toEqual([
      { dir: 'client_to_backend', type: 'binary', size: big.length },
      { dir: 'backend_to_client', type: 'binary', size: big.length },
    ]);
    // Wire bytes: the payload plus headers (14 bytes max per frame) and the close frames.
    expect(p.rec.wire.client_to_backend).toBeGreaterThan(big.length);
    expect(p.rec.wire.client_to_backend).toBeLessThan(big.length + 100);
    await assertNoLeaks(p);
    await backend.drained();
  });

  it('a fragmented message (with a ping between fragments) is one message at both ends', async () => {
    backend = await trackedBackend();
    p = await startProxy(simpleConfig([backend.url]));
    const { direct, proxied } = await directAndProxied(backend, p, async (url) => {
      const { ws, conn } = await pair(url);
      const pings = collect<Buffer>(conn.ws, 'ping', 1);
      const pong = collect<Buffer>(ws, 'pong', 1);
      const next = nextMessage(ws);
      ws.send('ab', { fin: false });
      ws.ping('mid');
      ws.send('cd', { fin: false });
      ws.send('ef', { fin: true });
      const r = await next;
      const next2 = nextMessage(ws);
      ws.send(Buffer.from([1, 2]), { fin: false, binary: true });
      ws.send(Buffer.from([3]), { fin: true, binary: true });
      const r2 = await next2;
      return {
        text: r.data.toString(),
        bin: [...r2.data],
        binary: r2.isBinary,
        ping: (await pings)[0]!.toString(),
        pong: (await pong)[0]!.toString(),
        close: await closeBoth(ws, conn),
      };
    });
    expect(proxied).toEqual(direct);
    expect(direct).toMatchObject({ text: 'abcdef', bin: [1, 2, 3], binary: true, ping: 'mid', pong: 'mid' });
    await p.rec.closes(1);
    expect(p.rec.messages.filter((m) => m.dir === 'client_to_backend')).toEqual([
      { dir: 'client_to_backend', type: 'text', size: 6 },
      { dir: 'client_to_backend', type: 'binary', size: 3 },
    ]);
    expect(p.rec.violations).toEqual([]);
    await assertNoLeaks(p);
    await backend.drained();
  });

  it('frames reach the backend byte for byte: fragments, mask keys and an interleaved ping unchanged', async () => {
    backend = await trackedBackend();
    p = await startProxy(simpleConfig([backend.url]));
    const conn = backend.nextConnection();
    const { client } = await rawWebSocket(p.port, '/raw');
    const keys = [Buffer.from([1, 2, 3, 4]), Buffer.from([0, 0, 0, 0]), Buffer.from([0xde, 0xad, 0xbe, 0xef]), FIXED_MASK];
    const sent = Buffer.concat([
      frame(0x1, 'hel', { fin: false, mask: keys[0]! }),
      frame(0x9, 'ping!', { mask: keys[1]! }),
      frame(0x0, 'lo ', { fin: false, mask: keys[2]! }),
      frame(0x0, 'world', { mask: keys[3]! }),
    ]);
    // Written in awkward pieces: one byte, then a split inside a header, then the rest.
    client.write(sent.subarray(0, 1));
    client.write(sent.subarray(1, 12));
    client.write(sent.subarray(12));
    const c = await conn;
    await client.waitFor((b) => b.includes('hello world'), 'the echo');
    expect(c.received().toString("hex")).toBe(sent.toString("hex"));
    const { frames } = framesAfterHead(client);
    expect(frames.map((f) => [f.opcode, f.masked, f.payload.toString()])).toEqual([
      [0xa, false, 'ping!'],
      [0x1, false, 'hello world'],
    ]);
    const closeBytes = closeFrameOf(1000, 'raw bye', FIXED_MASK);
    client.write(closeBytes);
    await client.closed;
    expect(c.received().subarray(sent.length).equals(closeBytes)).toBe(true);
    expect(await c.closed).toEqual({ code: 1000, reason: 'raw bye' });
    await p.rec.closes(1);
    expect(p.rec.closed[0]!.e).toMatchObject({ code: 1000, initiator: 'client', messagesC2B: 1, messagesB2C: 1 });
    await assertNoLeaks(p);
    await backend.drained();
  });

  it('permessage-deflate is negotiated end to end; the proxy records compressed wire sizes', async () => {
    backend = await trackedBackend({ ws: { perMessageDeflate: { threshold: 0 } } });
    p = await startProxy(simpleConfig([backend.url]));
    const raw = Array.from({ length: 5 }, (_, i) => `{"seq":${i},"body":"${'lorem ipsum dolor sit amet '.repeat(400)}"}`);
    const { direct, proxied } = await directAndProxied(backend, p, async (url) => {
      const { ws, conn } = await pair(url);
      const echoes = [];
      for (const m of raw) {
        const next = nextMessage(ws);
        ws.send(m);
        echoes.push((await next).data.toString() === m);
      }
      return {
        extensions: ws.extensions,
        offer: conn.req.headers['sec-websocket-extensions'],
        echoes,
        close: await closeBoth(ws, conn),
      };
    });
    expect(proxied).toEqual(direct);
    expect(proxied.extensions).toMatch(/^permessage-deflate/);
    expect(proxied.offer).toBe('permessage-deflate; client_max_window_bits');
    expect(proxied.echoes).toEqual([true, true, true, true, true]);
    await p.rec.closes(1);
    const up = p.rec.messages.filter((m) => m.dir === 'client_to_backend');
    const down = p.rec.messages.filter((m) => m.dir === 'backend_to_client');
    expect(up).toHaveLength(5);
    expect(down).toHaveLength(5);
    const rawLen = Buffer.byteLength(raw[0]!);
    for (const m of [...up, ...down]) expect(m.size).toBeLessThan(rawLen / 4);
    // Context takeover works across messages: later messages compress against earlier ones.
    expect(up[1]!.size).toBeLessThan(up[0]!.size);
    expect(p.rec.wire.client_to_backend).toBeLessThan(rawLen);
    expect(p.rec.violations).toEqual([]);
    await assertNoLeaks(p);
    await backend.drained();
  });

  it('subprotocol negotiation, including the backend picking none', async () => {
    backend = await trackedBackend({ ws: { handleProtocols: (set) => (set.has('chat.v1') ? 'chat.v1' : false) } });
    p = await startProxy(simpleConfig([backend.url]));
    const { direct, proxied } = await directAndProxied(backend, p, async (url) => {
      const { ws, conn } = await pair(url, ['chat.v2', 'chat.v1']);
      const offer = conn.req.headers['sec-websocket-protocol'];
      const protocol = ws.protocol;
      const close = await closeBoth(ws, conn);
      // Offering only protocols the backend does not speak: it answers without one, and the
      // client fails the connection itself (RFC 6455 §4.1) — the same way through the proxy.
      const ws2 = new WebSocket(url, ['mqtt']);
      clients.add(ws2);
      const err = await new Promise<string>((resolve) => {
        ws2.once('error', (e) => resolve(e.message));
        ws2.once('open', () => resolve('opened'));
      });
      await closed(ws2);
      return { protocol, offer, close, err };
    });
    expect(proxied).toEqual(direct);
    expect(proxied).toMatchObject({ protocol: 'chat.v1', offer: 'chat.v2,chat.v1', err: 'Server sent no subprotocol' });
    await assertNoLeaks(p);
    await backend.drained();
  });

  it('application pings and pongs both ways, payloads intact, empty pings too', async () => {
    backend = await trackedBackend();
    p = await startProxy(simpleConfig([backend.url]));
    const payloads = [Buffer.from('p1'), Buffer.alloc(0), Buffer.alloc(125, 0x61), Buffer.from([0, 0xff, 0x80])];
    const { direct, proxied } = await directAndProxied(backend, p, async (url) => {
      const { ws, conn } = await pair(url);
      const hex = (bs: Buffer[]): string[] => bs.map((b) => b.toString('hex'));
      // client → backend
      const backendSawPing = collect<Buffer>(conn.ws, 'ping', payloads.length);
      const clientGotPong = collect<Buffer>(ws, 'pong', payloads.length);
      for (const d of payloads) ws.ping(d);
      const c2b = { pings: hex(await backendSawPing), pongs: hex(await clientGotPong) };
      // backend → client
      const clientSawPing = collect<Buffer>(ws, 'ping', payloads.length);
      const backendGotPong = collect<Buffer>(conn.ws, 'pong', payloads.length);
      for (const d of payloads) conn.ws.ping(d);
      const b2c = { pings: hex(await clientSawPing), pongs: hex(await backendGotPong) };
      // unsolicited pongs pass too
      const unsolicited = collect<Buffer>(conn.ws, 'pong', 1);
      ws.pong('unsolicited');
      const u = (await unsolicited)[0]!.toString();
      return { c2b, b2c, u, close: await closeBoth(ws, conn) };
    });
    expect(proxied).toEqual(direct);
    const expected = payloads.map((b) => b.toString('hex'));
    expect(proxied.c2b).toEqual({ pings: expected, pongs: expected });
    expect(proxied.b2c).toEqual({ pings: expected, pongs: expected });
    expect(proxied.u).toBe('unsolicited');
    expect(p.rec.messages).toEqual([]);
    await assertNoLeaks(p);
    await backend.drained();
  });

  it('close codes and reasons in both directions (and an empty close: 1005)', async () => {
    backend = await trackedBackend({
      onConnection: (c) =>
        c.ws.on('message', (data) => {
          const cmd = String(data);
          if (cmd.startsWith('close ')) {
            const [, code, reason] = /^close (\d+) ?(.*)$/.exec(cmd)!;
            c.ws.close(Number(code), reason);
          }
        }),
    });
    p = await startProxy(simpleConfig([backend.url]));
    const longReason = 'r'.repeat(123);
    const cases: { by: 'client' | 'backend'; code?: number; reason?: string }[] = [
      { by: 'client', code: 4001, reason: 'client bye' },
      { by: 'client', code: 1000, reason: longReason },
      { by: 'client', code: 3000 },
      { by: 'client' },
      { by: 'backend', code: 4002, reason: 'server bye' },
      { by: 'backend', code: 1011, reason: 'internal' },
      { by: 'backend', code: 1001 },
    ];
    const { direct, proxied } = await directAndProxied(backend, p, async (url) => {
      const out = [];
      for (const k of cases) {
        const { ws, conn } = await pair(url);
        const c = closed(ws);
        if (k.by === 'client') ws.close(k.code, k.reason);
        else ws.send(`close ${k.code} ${k.reason ?? ''}`.trimEnd());
        out.push({ client: await c, backend: await conn.closed });
      }
      return out;
    });
    expect(proxied).toEqual(direct);
    expect(proxied[0]).toEqual({ client: { code: 4001, reason: 'client bye' }, backend: { code: 4001, reason: 'client bye' } });
    expect(proxied[3]).toEqual({ client: { code: 1005, reason: '' }, backend: { code: 1005, reason: '' } });
    expect(proxied[4]).toEqual({ client: { code: 4002, reason: 'server bye' }, backend: { code: 4002, reason: 'server bye' } });
    await p.rec.closes(cases.length);
    expect(p.rec.closed.map((c) => [c.e.code, c.e.initiator])).toEqual([
      [4001, 'client'],
      [1000, 'client'],
      [3000, 'client'],
      [1005, 'client'],
      [4002, 'backend'],
      [1011, 'backend'],
      [1001, 'backend'],
    ]);
    expect(p.rec.violations).toEqual([]);
    await assertNoLeaks(p);
    await backend.drained();
  });
});
