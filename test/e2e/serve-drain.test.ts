/**
 * `wstap serve` end to end, draining (SPEC §2 exit codes, §3 `timeouts.drain`,
 * `shutdown.close_code`, §4 `/readyz`, §6 "Draining"): on SIGTERM the real process reports not
 * ready, refuses new connections, lets open sessions go on for `timeouts.drain`, then sends
 * them 1001 (1012 with restart semantics) and exits 0.
 */
import { EventEmitter, once } from 'node:events';
import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { closed, connect, nextMessage } from '../helpers/proxy.js';
import { trackedBackend, type TrackedBackend } from '../helpers/backends.js';
import { buildOnce, killChildren, serve, tempDir } from '../helpers/cli.js';
import { decodeFrames, headEnd, tcpConnect, upgradeRequest } from '../helpers/raw.js';

let be: TrackedBackend;
let tmp: ReturnType<typeof tempDir>;
const clients = new Set<WebSocket>();
const sockets = new Set<net.Socket>();

beforeAll(async () => {
  await buildOnce();
  be = await trackedBackend();
  tmp = tempDir();
}, 120_000);

afterAll(async () => {
  await be?.close();
  tmp?.remove();
});

afterEach(async () => {
  for (const ws of clients) ws.terminate();
  for (const r of sockets) r.destroy();
  clients.clear();
  sockets.clear();
  await killChildren();
});

function yaml(extra = ''): (port: number, adminPort: number) => string {
  return (port, adminPort) => `
listen: { host: 127.0.0.1, port: ${port} }
admin: { host: 127.0.0.1, port: ${adminPort} }
backends:
  main: { servers: [{ id: b1, url: "${be.url}" }] }
routes:
  - { name: all, match: { path: / }, backend: main }
heartbeat: { interval: 0 }
log: { level: info }
${extra}
`;
}

async function status(url: string): Promise<number> {
  const res = await fetch(url);
  await res.arrayBuffer();
  return res.status;
}

async function echoes(ws: WebSocket, text: string): Promise<void> {
  const m = nextMessage(ws);
  ws.send(text);
  expect((await m).data.toString()).toBe(text);
}

describe.each([
  { code: 1001, extra: 'timeouts: { drain: 300ms }' },
  { code: 1012, extra: 'timeouts: { drain: 300ms }\nshutdown: { close_code: 1012 }' },
])('SIGTERM with an open session (close code $code)', ({ code, extra }) => {
  it(`/readyz answers 503 while draining, new connections are refused, the session gets ${code} when the drain ends, exit 0`, async () => {
    const s = await serve(tmp.file(`drain-${code}.yaml`), yaml(extra));
    expect(await status(`${s.admin}/readyz`)).toBe(200);
    const connP = be.nextConnection();
    const ws = await connect(`${s.url}/`);
    clients.add(ws);
    const conn = await connP;
    await echoes(ws, 'before');

    const clientClosed = closed(ws);
    const backendClosed = conn.closed;
    const draining = s.nextLog((l) => l.msg === 'draining', 'draining');
    const t0 = Date.now();
    s.child.kill('SIGTERM');
    await draining;
    // Not ready while the drain runs; the listener is closed; the open session still works.
    expect(await status(`${s.admin}/readyz`)).toBe(503);
    expect(await tcpConnect(s.port)).toBe('ECONNREFUSED');
    await echoes(ws, 'during the drain');

    const c = await clientClosed;
    expect(c.code).toBe(code);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect((await backendClosed).code).toBe(code);
    const exit = await s.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(s.lines.some((l) => l.msg === 'drained, exiting')).toBe(true);
    expect(s.lines.filter((l) => (l.level ?? 0) >= 50)).toEqual([]);
  });
});

describe('SIGTERM with a client that never answers the close frame', () => {
  it('the process waits timeouts.close for a silent client that holds its side open, then exits 0', async () => {
    const s = await serve(tmp.file('drain-deaf.yaml'), yaml('timeouts: { drain: 200ms, close: 300ms }'));
    // A client that keeps its side open after the proxy's FIN, and never sends a close frame.
    const sock = net.connect({ port: s.port, host: '127.0.0.1', allowHalfOpen: true });
    sockets.add(sock);
    sock.on('error', () => {});
    let got = Buffer.alloc(0);
    const frames = (): ReturnType<typeof decodeFrames>['frames'] => decodeFrames(got.subarray(headEnd(got))).frames;
    const wake = new EventEmitter();
    sock.on('data', (b: Buffer) => {
      got = Buffer.concat([got, b]);
      wake.emit('data');
    });
    await once(sock, 'connect');
    sock.write(upgradeRequest('/').text);
    while (headEnd(got) < 0) await once(wake, 'data');
    expect(got.toString('latin1')).toMatch(/^HTTP\/1\.1 101 /);

    const t0 = Date.now();
    const sockEnded = once(sock, 'end');
    s.child.kill('SIGTERM');
    while (!frames().some((f) => f.opcode === 0x8)) await once(wake, 'data');
    expect(frames().at(-1)!.payload.readUInt16BE(0)).toBe(1001);
    await sockEnded;
    // The backend answered the 1001, the proxy passed its FIN on; the client holds on to its
    // side in silence. The proxy waits timeouts.close for it, then lets go and exits.
    expect(await s.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(450);
    expect(s.lines.some((l) => l.msg === 'unexpected close')).toBe(false);
  });
});

describe('SIGTERM without open sessions', () => {
  it('exits 0 at once, without waiting for timeouts.drain', async () => {
    const s = await serve(tmp.file('drain-idle.yaml'), yaml('timeouts: { drain: 30s }'));
    const t0 = Date.now();
    s.child.kill('SIGTERM');
    const exit = await s.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('a session that ends by itself during the drain lets the process exit before timeouts.drain', async () => {
    const s = await serve(tmp.file('drain-early.yaml'), yaml('timeouts: { drain: 30s }'));
    const ws = await connect(`${s.url}/`);
    clients.add(ws);
    const draining = s.nextLog((l) => l.msg === 'draining', 'draining');
    s.child.kill('SIGTERM');
    await draining;
    const c = closed(ws);
    ws.close(1000, 'done');
    expect((await c).code).toBe(1000);
    const t0 = Date.now();
    expect(await s.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('SIGINT drains like SIGTERM', async () => {
    const s = await serve(tmp.file('drain-int.yaml'), yaml('timeouts: { drain: 300ms }'));
    const ws = await connect(`${s.url}/`);
    clients.add(ws);
    const c = closed(ws);
    s.child.kill('SIGINT');
    expect((await c).code).toBe(1001);
    expect(await s.exited).toEqual({ code: 0, signal: null });
  });
});
