/**
 * An independent WebSocket implementation on either side of wstap: Debian's python3-websockets
 * as the backend (with a `ws` client) and as the client (with a `ws` backend). Whatever the peers
 * observe through the proxy must match what they observe directly.
 */
import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { assertNoLeaks, closed, connect, nextMessage, simpleConfig, startProxy, type RunningProxy } from '../../helpers/proxy.js';
import { collect, crashGuard, trackedBackend, type TrackedBackend } from '../../helpers/backends.js';
import { useLeakCheck } from '../../helpers/proxy-fixture.js';
import { killAll, pythonEchoServer, pythonWebsocketsProblem, runPythonClient, type ClientSpec } from '../../helpers/python.js';

crashGuard();

let p: RunningProxy | undefined;
let backend: TrackedBackend | undefined;
beforeAll(() => {
  const problem = pythonWebsocketsProblem();
  if (problem !== undefined) throw new Error(problem);
});

const { wsClients: clients } = useLeakCheck(async () => {
  await p?.close();
  await backend?.close();
  await killAll();
  p = backend = undefined;
});

function digest(data: Buffer, isBinary: boolean): { binary: boolean; len: number; sha: string } {
  return { binary: isBinary, len: data.length, sha: createHash('sha256').update(data).digest('hex').slice(0, 16) };
}

describe('python-websockets as the backend, a ws client', () => {
  it('messages, pings, subprotocol, permessage-deflate and close codes: the same as direct', async () => {
    const py = await pythonEchoServer();
    p = await startProxy(simpleConfig([py.url]));
    const big = Buffer.allocUnsafe(300_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 13)) & 0xff;
    const payloads: (string | Buffer)[] = ['hello', Buffer.from(Array.from({ length: 256 }, (_, i) => i)), big, 'ünïcødé ✓', ''];

    const scenario = async (url: string) => {
      const ws = await connect(url + '/interop', ['chat']);
      clients.add(ws);
      const echoes = [];
      for (const m of payloads) {
        const next = nextMessage(ws);
        ws.send(m);
        const r = await next;
        echoes.push(digest(r.data, r.isBinary));
      }
      const pongs = collect<Buffer>(ws, 'pong', 2);
      ws.ping('abc');
      ws.ping();
      const pongPayloads = (await pongs).map((b) => b.toString());
      const byClient = closed(ws);
      ws.close(4001, 'ws bye');
      const clientClose = await byClient;

      const ws2 = await connect(url, ['chat']);
      clients.add(ws2);
      const byServer = closed(ws2);
      ws2.send('close 4002 python bye');
      const serverClose = await byServer;
      return { protocol: ws.protocol, extensions: ws.extensions, echoes, pongPayloads, clientClose, serverClose };
    };

    const direct = await scenario(py.url);
    const proxied = await scenario(p.url);
    expect(proxied).toEqual(direct);
    expect(proxied.protocol).toBe('chat');
    expect(proxied.extensions).toMatch(/^permessage-deflate/);
    expect(proxied.pongPayloads).toEqual(['abc', '']);
    expect(proxied.clientClose).toEqual({ code: 4001, reason: 'ws bye' });
    expect(proxied.serverClose).toEqual({ code: 4002, reason: 'python bye' });

    await p.rec.closes(2);
    expect(p.rec.closed.map((c) => [c.e.code, c.e.initiator, c.e.messagesC2B, c.e.messagesB2C])).toEqual([
      [4001, 'client', payloads.length, payloads.length],
      [4002, 'backend', 1, 0],
    ]);
    // Compressed end to end: the 300 kB message crossed the proxy as far fewer wire bytes.
    const bigUp = p.rec.messages.filter((m) => m.dir === 'client_to_backend')[2]!;
    expect(bigUp.size).toBeLessThan(big.length / 10);
    expect(p.rec.violations).toEqual([]);
    await assertNoLeaks(p);
  });
});

describe('python-websockets as the client, a ws backend', () => {
  it('echoes, ping, subprotocol, permessage-deflate and its close code: the same as direct', async () => {
    backend = await trackedBackend({ ws: { perMessageDeflate: true, handleProtocols: (s) => (s.has('chat') ? 'chat' : false) } });
    p = await startProxy(simpleConfig([backend.url]));
    const spec = (url: string): ClientSpec => ({
      url: url + '/py',
      subprotocols: ['chat'],
      messages: [{ text: 'hello from python' }, { hex: '00ff10' }, { fill: 300_000, binary: true }, { fill: 2000, binary: false }],
      ping: 'cafe',
      close: [4001, 'py bye'],
    });

    const run = async (url: string) => {
      const conn = backend!.nextConnection();
      const result = await runPythonClient(spec(url));
      const c = await conn;
      return { result, backendSaw: await c.closed, offer: c.req.headers['sec-websocket-extensions'] };
    };
    const direct = await run(backend.url);
    const proxied = await run(p.url);
    expect(proxied).toEqual(direct);
    expect(proxied.result).toMatchObject({
      subprotocol: 'chat',
      extensions: ['permessage-deflate'],
      pong: true,
      close_code: 4001,
      close_reason: 'py bye',
    });
    expect(proxied.result.received.map((r) => [r.binary, r.len])).toEqual([
      [false, 17],
      [true, 3],
      [true, 300_000],
      [false, 2000],
    ]);
    expect(proxied.backendSaw).toEqual({ code: 4001, reason: 'py bye' });

    await p.rec.closes(1);
    expect(p.rec.closed[0]!.e).toMatchObject({ code: 4001, initiator: 'client', messagesC2B: 4, messagesB2C: 4 });
    expect(p.rec.violations).toEqual([]);
    await assertNoLeaks(p);
    await backend.drained();
  });
});
