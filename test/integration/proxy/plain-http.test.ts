/**
 * Plain HTTP on the proxy's port (SPEC §6): a request that matches a route goes to the backend
 * through http-proxy and back; a dead backend is a 502, never a crash.
 */
import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { assertNoLeaks, simpleConfig, startProxy, testConfig, type RunningProxy } from '../../helpers/proxy.js';
import { crashGuard, httpBackend, type HttpBackend, type SeenRequest } from '../../helpers/backends.js';
import { useLeakCheck } from '../../helpers/proxy-fixture.js';
import { deadPort, rawExchange } from '../../helpers/raw.js';

crashGuard();

let p: RunningProxy | undefined;
let backend: HttpBackend | undefined;

useLeakCheck(async () => {
  await p?.close();
  await backend?.close();
  p = backend = undefined;
});

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request on its own connection (no keep-alive pool left behind). */
function request(port: number, path: string, o: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: o.method ?? 'GET', headers: o.headers, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

describe('plain HTTP through wstap', () => {
  it('a GET that matches a route reaches the HTTP backend and comes back', async () => {
    backend = await httpBackend();
    p = await startProxy(simpleConfig([backend.url]));
    const r = await request(p.port, '/api/items?q=1', { headers: { 'X-Forwarded-For': '6.6.6.6', Cookie: 'a=1', Host: 'app.example.com' } });
    expect(r.status).toBe(200);
    expect(r.headers['x-backend']).toBe('http-1');
    const seen = JSON.parse(r.body) as SeenRequest;
    expect(seen).toMatchObject({ method: 'GET', url: '/api/items?q=1' });
    expect(seen.headers).toMatchObject({
      cookie: 'a=1',
      host: 'app.example.com',
      'x-forwarded-for': '127.0.0.1',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': 'app.example.com',
    });
    expect(backend.seen).toHaveLength(1);
    await assertNoLeaks(p);
  });

  it('a POST body is relayed too', async () => {
    backend = await httpBackend();
    p = await startProxy(simpleConfig([backend.url]));
    const r = await request(p.port, '/submit', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'payload bytes' });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ method: 'POST', url: '/submit', body: 'payload bytes' });
    await assertNoLeaks(p);
  });

  it('a request that matches no route is a 404 and reaches no backend', async () => {
    backend = await httpBackend();
    p = await startProxy(
      testConfig({
        backends: { main: { servers: [{ id: 'b1', url: backend.url }] } },
        routes: [{ name: 'api', match: { path: '/api' }, backend: 'main' }],
      }),
    );
    const r = await request(p.port, '/elsewhere');
    expect(r.status).toBe(404);
    expect(backend.seen).toEqual([]);
    await assertNoLeaks(p);
  });

  it('a dead backend is a 502, and the proxy goes on serving', async () => {
    const port = await deadPort();
    p = await startProxy(simpleConfig([`ws://127.0.0.1:${port}`]));
    const r1 = await request(p.port, '/x');
    expect(r1.status).toBe(502);
    expect(r1.body).toMatch(/ECONNREFUSED/);
    const r2 = await request(p.port, '/y', { method: 'POST', body: 'z' });
    expect(r2.status).toBe(502);
    await assertNoLeaks(p);
  });

  it('a backend that resets mid-response does not crash the proxy', async () => {
    backend = await httpBackend();
    backend.server.removeAllListeners('request');
    backend.server.on('request', (_req: http.IncomingMessage, res: http.ServerResponse) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('partial');
      setImmediate(() => res.socket?.resetAndDestroy());
    });
    p = await startProxy(simpleConfig([backend.url]));
    const outcome = await request(p.port, '/').then(
      (a) => `answered ${a.status} with ${a.body.length} bytes`,
      (e: NodeJS.ErrnoException) => `failed: ${e.code ?? e.message}`,
    );
    expect(outcome).toMatch(/^failed|answered 200 with [0-9] bytes/);
    backend.server.removeAllListeners('request');
    backend.server.on('request', (_req: http.IncomingMessage, res: http.ServerResponse) => res.end('fine'));
    expect(await request(p.port, '/')).toMatchObject({ status: 200, body: 'fine' });
    await assertNoLeaks(p);
  });

  it('a request carrying Upgrade without "Connection: upgrade" is answered 400, not forwarded', async () => {
    backend = await httpBackend();
    p = await startProxy(simpleConfig([backend.url]));
    for (const upgrade of ['websocket', 'h2c']) {
      const r = await rawExchange(p.port, `GET /x HTTP/1.1\r\nHost: proxy.test\r\nConnection: close\r\nUpgrade: ${upgrade}\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
      expect(r.status).toBe(400);
    }
    expect(backend.seen).toEqual([]);
    expect(backend.sockets.size).toBe(0);
    await assertNoLeaks(p);
  });
});
