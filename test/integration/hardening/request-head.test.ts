/**
 * Slow or oversized request heads (SPEC §3 `timeouts.request_head`, `limits.max_header_bytes`;
 * research §3.1, §6 #5): a slowloris client gets 408 (or its socket closed) once its head takes
 * longer than `request_head`, a head over `max_header_bytes` gets 431, neither reaches a backend,
 * and established sessions — older than `request_head` — are not touched.
 */
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { assertNoLeaks, closed, connect, simpleConfig, startProxy, type RunningProxy } from '../../helpers/proxy.js';
import { crashGuard, trackedBackend, type TrackedBackend } from '../../helpers/backends.js';
import { echoes, useTracked } from '../../helpers/proxy-fixture.js';
import { RawClient, parseResponseHead, upgradeRequest } from '../../helpers/raw.js';

crashGuard();

let p: RunningProxy | undefined;
let be: TrackedBackend | undefined;
const { clients, raws, timers } = useTracked(async () => {
  await p?.close();
  await be?.close();
  p = be = undefined;
});

const REQUEST_HEAD_MS = 500;

describe('timeouts.request_head (slowloris)', () => {
  it('a client trickling its request head gets 408 (or is closed) after request_head; an open session keeps echoing', async () => {
    be = await trackedBackend();
    p = await startProxy(simpleConfig([be.url], { timeouts: { request_head: `${REQUEST_HEAD_MS}ms` } }));
    const ws = await connect(p.url);
    clients.add(ws);
    await echoes(ws, 'before');

    const slow = await RawClient.connect(p.port);
    raws.add(slow);
    const head = Buffer.from(upgradeRequest('/', { headers: [['X-Padding', 'p'.repeat(200)]] }).text);
    // One byte every 20 ms: the ~300-byte head would take ~6 s, far past request_head.
    let sent = 0;
    const started = Date.now();
    const t = setInterval(() => {
      if (slow.isClosed || sent >= head.length - 2) return clearInterval(t);
      slow.socket.write(head.subarray(sent, sent + 1));
      sent++;
    }, 20);
    timers.add(t);
    await slow.closed;
    clearInterval(t);
    const took = Date.now() - started;
    expect(sent).toBeLessThan(head.length - 2);
    expect(took).toBeGreaterThanOrEqual(REQUEST_HEAD_MS - 50);
    const got = slow.received();
    if (got.length > 0) expect(parseResponseHead(got).status).toBe(408);
    expect(be.requests).toHaveLength(1);
    expect(p.proxy.pendingHandshakes).toBe(0);

    // The established session outlived request_head and was not cut by it.
    expect(ws.readyState).toBe(WebSocket.OPEN);
    await echoes(ws, 'after');
    const c = closed(ws);
    ws.close(1000);
    expect((await c).code).toBe(1000);
    await assertNoLeaks(p);
    await be.drained();
  });

  it('a client that connects and sends nothing is closed after request_head', async () => {
    be = await trackedBackend();
    p = await startProxy(simpleConfig([be.url], { timeouts: { request_head: `${REQUEST_HEAD_MS}ms` } }));
    const idle = await RawClient.connect(p.port);
    raws.add(idle);
    const started = Date.now();
    await idle.closed;
    expect(Date.now() - started).toBeGreaterThanOrEqual(REQUEST_HEAD_MS - 50);
    expect(be.accepted()).toBe(0);
    await assertNoLeaks(p);
  });
});

describe('limits.max_header_bytes', () => {
  it('a request head over max_header_bytes gets 431 and never reaches a backend; one under it upgrades', async () => {
    be = await trackedBackend();
    p = await startProxy(simpleConfig([be.url], { limits: { max_header_bytes: 2048 } }));

    const big = await RawClient.connect(p.port);
    raws.add(big);
    big.write(upgradeRequest('/', { headers: [['X-Big', 'b'.repeat(4000)]] }).text);
    const res = await big.response();
    expect(res.status).toBe(431);
    expect(be.accepted()).toBe(0);
    expect(p.proxy.pendingHandshakes).toBe(0);

    const ws = await connect(p.url, undefined, { headers: { 'X-Fits': 'f'.repeat(1200) } });
    clients.add(ws);
    expect(be.requests[0]!.headers['x-fits']).toHaveLength(1200);
    await echoes(ws, 'fits');
    const c = closed(ws);
    ws.close(1000);
    await c;
    await assertNoLeaks(p);
    await be.drained();
  });

  it('an oversized head arriving in small pieces is refused too (431), not buffered without bound', async () => {
    be = await trackedBackend();
    p = await startProxy(simpleConfig([be.url], { limits: { max_header_bytes: 2048 } }));
    const big = await RawClient.connect(p.port);
    raws.add(big);
    big.write('GET / HTTP/1.1\r\nHost: proxy.test\r\n');
    // Many small header lines, each well under the limit, that add up past it.
    for (let i = 0; i < 100 && !big.isClosed; i++) big.write(`X-Line-${i}: ${'v'.repeat(60)}\r\n`);
    const res = await big.response();
    expect(res.status).toBe(431);
    expect(be.accepted()).toBe(0);
    await assertNoLeaks(p);
  });
});
