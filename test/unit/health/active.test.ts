/**
 * Active health checks against real ws servers on 127.0.0.1:0: the probe (handshake, send,
 * expect, timeout, refusals) and the checker's rise/fall thresholds, with every probe socket
 * and timer gone after stop().
 */
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { Backend } from '../../../src/balance/backend.js';
import { ActiveChecker } from '../../../src/health/active.js';
import { probe, probeUrl } from '../../../src/health/probe.js';
import type { HealthConfig } from '../../../src/config/types.js';

const H: HealthConfig = { interval: 50, timeout: 40, path: '/health', rise: 2, fall: 2 };
const cleanup: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function wsServer(port = 0, onConnection?: (ws: WebSocket) => void): Promise<{ wss: WebSocketServer; port: number; paths: string[] }> {
  const paths: string[] = [];
  const wss = new WebSocketServer({ host: '127.0.0.1', port });
  await once(wss, 'listening');
  wss.on('connection', (ws, req) => {
    paths.push(req.url ?? '');
    ws.on('error', () => {});
    onConnection?.(ws);
  });
  const closeIt = (): Promise<void> =>
    new Promise((resolve) => {
      for (const c of wss.clients) c.terminate();
      wss.close(() => resolve());
    });
  cleanup.push(closeIt);
  return { wss, port: (wss.address() as AddressInfo).port, paths };
}

const url = (port: number): URL => new URL(`ws://127.0.0.1:${port}`);

describe('probe', () => {
  it('joins the server path and health.path like the proxy joins client paths', () => {
    expect(probeUrl(new URL('ws://h:1'), '/health').href).toBe('ws://h:1/health');
    expect(probeUrl(new URL('ws://h:1/app/'), '/health?deep=1').href).toBe('ws://h:1/app/health?deep=1');
  });

  it('passes on a completed handshake to health.path and closes with 1000', async () => {
    const closes: number[] = [];
    const s = await wsServer(0, (ws) => ws.on('close', (code) => closes.push(code)));
    const p = probe(url(s.port), H);
    expect(await p.result).toEqual({ ok: true });
    await p.closed;
    expect(s.paths).toEqual(['/health']);
    await new Promise((r) => setTimeout(r, 20));
    expect(closes).toEqual([1000]);
  });

  it('sends health.send and passes on a reply containing health.expect', async () => {
    const s = await wsServer(0, (ws) => ws.on('message', (m) => ws.send(String(m) === 'ping' ? '{"type":"pong"}' : 'what?')));
    expect(await probe(url(s.port), { ...H, send: 'ping', expect: '"pong"' }).result).toEqual({ ok: true });
    const wrong = await probe(url(s.port), { ...H, send: 'hello', expect: '"pong"' }).result;
    expect(wrong).toEqual({ ok: false, detail: 'no reply within 40 ms' });
  });

  it('fails on a refused connection, a non-101 answer and a close before the reply', async () => {
    const s = await wsServer();
    const port = s.port;
    await new Promise<void>((r) => s.wss.close(() => r()));
    expect(await probe(url(port), H).result).toEqual({ ok: false, detail: 'ECONNREFUSED' });

    const denied = new WebSocketServer({ host: '127.0.0.1', port: 0, verifyClient: () => false });
    await once(denied, 'listening');
    cleanup.push(() => new Promise<void>((r) => denied.close(() => r())));
    expect(await probe(url((denied.address() as AddressInfo).port), H).result).toEqual({ ok: false, detail: 'status 401' });

    const closer = await wsServer(0, (ws) => ws.close(1013));
    expect(await probe(url(closer.port), { ...H, expect: 'ready' }).result).toEqual({ ok: false, detail: 'closed with 1013 before the check passed' });
  });

  it('fails within health.timeout on a server that accepts TCP and never answers', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((sock) => {
      sockets.add(sock);
      sock.on('error', () => {});
    });
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    cleanup.push(() => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => silent.close(() => r()));
    });
    const started = performance.now();
    const r = await probe(url((silent.address() as AddressInfo).port), H).result;
    expect(r.ok).toBe(false);
    expect(performance.now() - started).toBeLessThan(500);
  });

  it('fails, never throws, on a URL ws cannot use (probes run in timers)', async () => {
    const r = await probe(new URL('ftp://127.0.0.1:1'), H).result;
    expect(r.ok).toBe(false);
  });

  it('abort() destroys the socket and settles the probe as failed', async () => {
    const s = await wsServer(0, () => {});
    const p = probe(url(s.port), { ...H, timeout: 5_000, expect: 'never' });
    await new Promise((r) => setTimeout(r, 30));
    p.abort();
    expect(await p.result).toEqual({ ok: false, detail: 'aborted' });
    await p.closed;
  });
});

describe('ActiveChecker', () => {
  it('takes a server down after `fall` failures and up after `rise` passes', async () => {
    const s = await wsServer();
    const port = s.port;
    const b = new Backend('p', { id: 'a', url: url(port), weight: 1 });
    const verdicts: string[] = [];
    const checker = new ActiveChecker({
      pool: 'p',
      backends: [b],
      health: H,
      isUp: () => true,
      onVerdict: (_b, up) => void verdicts.push(up ? 'up' : 'down'),
    });
    cleanup.push(() => checker.stop());
    checker.start();
    await new Promise((r) => setTimeout(r, 160));
    expect(verdicts).toEqual([]);
    await new Promise<void>((r) => {
      for (const c of s.wss.clients) c.terminate();
      s.wss.close(() => r());
    });
    const downAt = performance.now();
    while (verdicts.length === 0) await new Promise((r) => setTimeout(r, 5));
    expect(verdicts).toEqual(['down']);
    // fall 2 at a 50 ms interval: the second failed round, about 100 ms later.
    expect(performance.now() - downAt).toBeLessThan(400);
    await wsServer(port);
    while (verdicts.length === 1) await new Promise((r) => setTimeout(r, 5));
    expect(verdicts).toEqual(['down', 'up']);
  });

  it('probes every server of the pool with one timer, and stop() leaves no socket open', async () => {
    const a = await wsServer();
    const slow = await wsServer(0, () => {}); // never answers the expected reply
    const backends = [a, slow].map((s, i) => new Backend('p', { id: `s${i}`, url: url(s.port), weight: 1 }));
    const down: string[] = [];
    const checker = new ActiveChecker({
      pool: 'p',
      backends,
      health: { ...H, interval: 1_000, timeout: 900, expect: 'hello', rise: 1, fall: 1 },
      isUp: () => true,
      onVerdict: (b, up) => void (up ? undefined : down.push(b.id)),
    });
    a.wss.on('connection', (ws) => ws.send('hello'));
    checker.start();
    while (a.paths.length === 0 || slow.paths.length === 0) await new Promise((r) => setTimeout(r, 5));
    expect(checker.openProbes).toBeGreaterThan(0);
    checker.stop();
    expect(checker.openProbes).toBe(0);
    while (a.wss.clients.size + slow.wss.clients.size > 0) await new Promise((r) => setTimeout(r, 5));
    expect(down).toEqual([]);
  });
});
