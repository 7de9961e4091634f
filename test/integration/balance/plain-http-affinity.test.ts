import { afterEach, describe, expect, it } from 'vitest';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, WebSocket } from 'ws';
import { assertNoLeaks, closed, startProxy, testConfig, type RunningProxy } from '../../helpers/proxy.js';

/** An HTTP server that names itself on GET and, on upgrade, in its first WebSocket message. */
async function namedServer(id: string): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => res.end(id));
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => ws.send(id));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

let servers: Awaited<ReturnType<typeof namedServer>>[] = [];
let p: RunningProxy | undefined;

afterEach(async () => {
  await p?.close();
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
  p = undefined;
});

describe('plain HTTP follows the same affinity as WebSockets', () => {
  it('a long-polling request with the sticky cookie reaches its WebSocket\'s server', async () => {
    servers = await Promise.all(['s1', 's2', 's3', 's4'].map(namedServer));
    p = await startProxy(
      testConfig({
        backends: { main: { servers: servers.map((s, i) => ({ id: `s${i + 1}`, url: s.url })), affinity: { key: 'cookie:sid' } } },
        routes: [{ name: 'all', match: { path: '/' }, backend: 'main' }],
      }),
    );
    for (const sid of ['a', 'b', 'c', 'd', 'e', 'f']) {
      const headers = { Cookie: `sid=${sid}` };
      // Listen before 'open': the server's first message may come in the 101's packet.
      const ws = new WebSocket(p.url, { headers });
      const first = new Promise<string>((resolve) => ws.once('message', (d) => resolve(String(d))));
      const viaWs = await first;
      const viaHttp = await (await fetch(`http://127.0.0.1:${p.port}/poll`, { headers })).text();
      expect(viaHttp, `sid=${sid}`).toBe(viaWs);
      ws.close(1000);
      await closed(ws);
    }
    await assertNoLeaks(p);
  });
});
