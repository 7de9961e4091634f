import { afterEach, describe, expect, it } from 'vitest';
import net from 'node:net';
import { once } from 'node:events';
import { silentLogger } from '../../../src/log.js';
import type { CoreSnapshot } from '../../../src/snapshot.js';
import { createAdminServer, type AdminServer, type AdminServerOptions } from '../../../src/admin/server.js';
import type { StatusDocument } from '../../../src/admin/status.js';
import { StatusWindow } from '../../../src/telemetry/status-window.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function snapshot(): Mutable<CoreSnapshot> {
  return {
    uptimeS: 42.5,
    listening: true,
    draining: false,
    activeSessions: 3,
    pendingHandshakes: 1,
    backends: [
      { pool: 'chat', id: 'chat-1', url: 'ws://user:pw@10.0.0.11:9000', up: true, active: 2 },
      { pool: 'chat', id: 'chat-2', url: 'ws://10.0.0.12:9000', up: false, active: 1 },
    ],
    routes: [{ name: 'chat', pool: 'chat', healthy: true }],
  };
}

const servers: AdminServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(overrides: Partial<AdminServerOptions> = {}) {
  const snap = snapshot();
  const window = new StatusWindow({ windowMs: 900_000, abnormalCloseRatio: 0.05, abnormalDisconnectRatio: 0.02 });
  const server = createAdminServer({
    host: '127.0.0.1',
    port: 0,
    snapshot: () => snap,
    statusReport: () => window.report(),
    logger: silentLogger(),
    ...overrides,
  });
  servers.push(server);
  const { port } = await server.listen();
  const base = `http://127.0.0.1:${port}`;
  return { snap, window, server, base, port };
}

/** Send raw bytes and return the whole answer (the server closes after a 400). */
async function raw(port: number, bytes: string): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.end(bytes);
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  await once(socket, 'close');
  return Buffer.concat(chunks).toString('latin1');
}

describe('admin server', () => {
  it('answers /healthz', async () => {
    const { base } = await start();
    const res = await fetch(`${base}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('ok\n');
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it('answers /readyz 200 when listening with healthy routes, 503 with reasons otherwise', async () => {
    const { base, snap } = await start();
    let res = await fetch(`${base}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('ready\n');

    snap.draining = true;
    res = await fetch(`${base}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.text()).toBe('not ready: draining\n');

    snap.draining = false;
    snap.listening = false;
    snap.routes = [{ name: 'chat', pool: 'chat', healthy: false }];
    res = await fetch(`${base}/readyz`);
    expect(res.status).toBe(503);
    const text = await res.text();
    expect(text).toContain('proxy listener is not bound');
    expect(text).toContain('route "chat": no healthy backend in pool "chat"');
  });

  it('answers /metrics 404 with a hint when Prometheus is off, and delegates when on', async () => {
    const off = await start();
    let res = await fetch(`${off.base}/metrics`);
    expect(res.status).toBe(404);
    expect(await res.text()).toContain('telemetry.prometheus: true');

    const on = await start({
      metrics: (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('# fake\n');
      },
    });
    res = await fetch(`${on.base}/metrics`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('# fake\n');
  });

  it('answers /status with the documented JSON shape', async () => {
    const monitors = [{ name: 'chat-health', healthy: true }];
    const { base, window } = await start({ monitors: () => monitors, service: 'wstap', version: '9.9.9' });
    const hub = { s: { id: 1, route: 'chat', backend: 'chat-1', pool: 'chat', openedAt: 0, clientIp: '1.2.3.4' } };
    window.sessionClose(hub.s, { code: 1000, initiator: 'client', durationS: 1, messagesC2B: 1, messagesB2C: 1 });
    window.sessionClose(hub.s, { code: 1006, initiator: 'backend', durationS: 1, messagesC2B: 1, messagesB2C: 1 });

    const res = await fetch(`${base}/status?pretty=1`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const doc = (await res.json()) as StatusDocument;
    expect(doc).toMatchObject({
      status: 'alert',
      service: 'wstap',
      version: '9.9.9',
      total_closes: 2,
      abnormal_closes: 1,
      abnormal_rate: 0.5,
      disconnects_1006: 1,
      codes: { '1000': 1, '1006': 1 },
      by_initiator: { client: { '1000': 1 }, backend: { '1006': 1 }, proxy: {} },
      uptime_s: 42.5,
      ready: true,
      not_ready_reasons: [],
      active_sessions: 3,
      pending_handshakes: 1,
      backends: [
        { pool: 'chat', id: 'chat-1', up: true, active_sessions: 2 },
        { pool: 'chat', id: 'chat-2', up: false, active_sessions: 1 },
      ],
      routes: [{ name: 'chat', pool: 'chat', healthy: true }],
      monitors,
    });
    expect(doc.alerts.map((a) => a.rule)).toEqual(['abnormal_close_ratio', 'abnormal_disconnect_ratio']);
    expect(doc.ping.client).toEqual({ count: 0, timeouts: 0, p50_ms: null, p95_ms: null, p99_ms: null });
    expect(doc.messages.client_to_backend).toEqual({ messages: 0, per_second: 0, bytes_per_second: 0 });
    expect(Number.isNaN(Date.parse(doc.generated_at))).toBe(false);
    expect(JSON.stringify(doc)).not.toContain('10.0.0.11'); // backend URLs stay out
  });

  it('serves a self-contained, accessible HTML page at /', async () => {
    const { base } = await start();
    const res = await fetch(`${base}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = await res.text();
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('<html lang="en">');
    expect(html).toContain('name="viewport"');
    expect(html).toContain('<h1>');
    expect(html).toContain('<th scope="col"');
    expect(html).toContain('aria-live="polite"');
    expect(html).toContain("fetch('./status'");
    expect(html).toContain('setTimeout(poll, 2000)');
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//); // no CDN, nothing external
    expect(html).not.toContain('innerHTML');
  });

  it('answers HEAD without a body, other methods 405, unknown paths 404', async () => {
    const { base } = await start();
    const head = await fetch(`${base}/healthz`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe('3');
    expect(await head.text()).toBe('');

    const post = await fetch(`${base}/status`, { method: 'POST', body: 'x'.repeat(10_000) });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    await post.text();

    const missing = await fetch(`${base}/nope`);
    expect(missing.status).toBe(404);
    expect(await missing.text()).toContain('/status');

    expect((await fetch(`${base}/status/`)).status).toBe(200);
  });

  it('survives malformed requests and failing providers', async () => {
    const { base, port } = await start({
      statusReport: () => {
        throw new Error('window broken');
      },
    });
    expect(await raw(port, 'GARBAGE\r\n\r\n')).toMatch(/^HTTP\/1\.1 400/);
    expect(await raw(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n')).toMatch(/^HTTP\/1\.1 400/);
    const res = await fetch(`${base}/status`);
    expect(res.status).toBe(500);
    await res.text();
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });

  it('rejects listen on a port in use and closes with idle keep-alive connections open', async () => {
    const first = await start();
    const second = createAdminServer({
      host: '127.0.0.1',
      port: first.port,
      snapshot,
      statusReport: () => first.window.report(),
      logger: silentLogger(),
    });
    await expect(second.listen()).rejects.toMatchObject({ code: 'EADDRINUSE' });
    await second.close();

    const socket = net.connect(first.port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await once(socket, 'data');
    const closed = once(socket, 'close');
    await first.server.close();
    await closed; // the idle keep-alive socket was dropped, not waited for
    expect(first.server.address).toBeUndefined();
  });
});
