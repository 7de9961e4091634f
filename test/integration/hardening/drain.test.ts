/**
 * The drain, in process (SPEC §6 "Draining"; research §6 #15): stop accepting, let open
 * sessions go on for the grace period, then 1001 (or 1012) to both legs; handshakes caught in
 * the middle neither hang the drain nor leave a session behind it. (The CLI side — SIGTERM,
 * /readyz, exit code — is in test/e2e/serve-drain.test.ts.)
 */
import { once } from 'node:events';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { closed, connect, simpleConfig, startProxy, type RunningProxy } from '../../helpers/proxy.js';
import { crashGuard, trackedBackend, type TrackedBackend } from '../../helpers/backends.js';
import { echoes, useTracked } from '../../helpers/proxy-fixture.js';

crashGuard();

let p: RunningProxy | undefined;
let be: TrackedBackend | undefined;
const { clients } = useTracked(async () => {
  await p?.close();
  await be?.close();
  p = be = undefined;
});

/** How an upgrade attempt ended: 'open' (then closed with code), or the HTTP status, or an error code. */
function attempt(url: string): { ws: WebSocket; outcome: Promise<string> } {
  const ws = new WebSocket(url);
  clients.add(ws);
  const outcome = new Promise<string>((resolve) => {
    ws.once('open', () => ws.once('close', (code) => resolve(`open, then ${code}`)));
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve(`status ${res.statusCode}`);
    });
    ws.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
  return { ws, outcome };
}

describe('ProxyServer.drain', () => {
  it.each([1001, 1012])('open sessions work during the grace period, then both legs get %i; new connections are refused', async (code) => {
    be = await trackedBackend();
    p = await startProxy(simpleConfig([be.url], { timeouts: { close: '1s' } }));
    const connP = be.nextConnection();
    const ws = await connect(p.url);
    clients.add(ws);
    const conn = await connP;
    const t0 = Date.now();
    const drained = p.proxy.drain(300, code);
    await echoes(ws, 'during the grace period');
    const refused = net.connect(p.port, '127.0.0.1');
    const [err] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
    expect(err.code).toBe('ECONNREFUSED');

    const [c, bc] = await Promise.all([closed(ws), conn.closed]);
    expect(c.code).toBe(code);
    expect(bc.code).toBe(code);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(280);
    await drained;
    expect(p.rec.closed.map((x) => [x.e.code, x.e.initiator])).toEqual([[code, 'proxy']]);
    expect(p.proxy.activeSessions).toBe(0);
    await be.drained();
  });

  it('a handshake in flight whose 101 comes within the grace period becomes a session, closed with the others at the end', async () => {
    be = await trackedBackend({ delay101: 100 });
    p = await startProxy(simpleConfig([be.url]));
    const a = attempt(p.url);
    await be.nextRequest();
    const drained = p.proxy.drain(400, 1001);
    expect(await a.outcome).toBe('open, then 1001');
    await drained;
    expect(p.proxy.activeSessions).toBe(0);
    expect(p.proxy.pendingHandshakes).toBe(0);
    await be.drained();
  });

  it('a handshake still in flight when the drain ends is dropped: no session opens after drain() returned', async () => {
    be = await trackedBackend({ delay101: 600 });
    p = await startProxy(simpleConfig([be.url], { timeouts: { close: '100ms' } }));
    const a = attempt(p.url);
    await be.nextRequest();
    await p.proxy.drain(100, 1001);
    expect(p.proxy.pendingHandshakes).toBe(0);
    const outcome = await a.outcome;
    expect(outcome).not.toMatch(/^open/);
    expect(p.rec.opened).toHaveLength(0);
    // The backend's late 101 finds the upstream socket gone.
    await be.drained();
    expect(p.rec.opened).toHaveLength(0);
    expect(p.proxy.activeSessions).toBe(0);
  });
});
