/**
 * `wstap sticky-check` against real servers: a single backend (sticky), servers that announce
 * a different id on alternate connections (not sticky), ids in a 101 header, and every way of
 * "could not tell".
 */
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/commands/io.js';
import { stickyCheckCommand } from '../../../src/commands/sticky-check.js';
import type { StickyResult } from '../../../src/monitor/sticky.js';
import { captureIO } from './captured-io.js';
import { freePort, helloEcho, pythonServer, wsServer, useServers } from './servers.js';

const { keep } = useServers();

/** Announces `a` on odd connections and `b` on even ones: what round-robin over two backends looks like. */
const alternating = (ws: import('ws').WebSocket, _req: unknown, n: number): void => helloEcho(n % 2 === 1 ? 'a' : 'b')(ws);

async function sticky(argv: string[]): Promise<{ code: number; result: StickyResult }> {
  const io = captureIO();
  const code = await stickyCheckCommand([...argv, '--json'], io);
  return { code, result: JSON.parse(io.out()) as StickyResult };
}

describe('wstap sticky-check', () => {
  it('a single backend is sticky: exit 0', async () => {
    const s = await keep(wsServer(helloEcho('only-one')));
    const io = captureIO();
    expect(await stickyCheckCommand([s.url, '--count', '3'], io)).toBe(0);
    expect(io.out()).toBe('sticky: all 3 connections reached backend "only-one"\n');
    // Each probe closed politely and was released before the next.
    expect(s.wss.clients.size).toBe(0);
  });

  it('alternating backends are not sticky: exit 1 with the ids in order', async () => {
    const s = await keep(wsServer(alternating));
    const { code, result } = await sticky([s.url]);
    expect(code).toBe(1);
    expect(result).toEqual({ url: s.url, sticky: false, ids: ['a', 'b', 'a', 'b', 'a'], distinct: ['a', 'b'] });
    const io = captureIO();
    await stickyCheckCommand([s.url, '--count', '4'], io);
    // The server's count goes on: connection 6 is even, so this run starts with b.
    expect(io.out()).toBe('NOT sticky: 4 connections reached 2 backends (b ×2, a ×2)\n  in order: b a b a\n');
  });

  it.each([
    ['echo', 0],
    ['alternate', 1],
  ] as const)('python3-websockets %s server: exit %i', async (mode, exit) => {
    const s = await keep(pythonServer(mode));
    const { code, result } = await sticky([s.url, '--count', '4', '--field', 'backend']);
    expect(code).toBe(exit);
    expect(result.ids).toEqual(mode === 'echo' ? ['py-1', 'py-1', 'py-1', 'py-1'] : ['py-a', 'py-b', 'py-a', 'py-b']);
  });

  it('reads a dotted field path', async () => {
    const s = await keep(wsServer((ws) => ws.send(JSON.stringify({ meta: { node: 7 } }))));
    const { code, result } = await sticky([s.url, '--count', '2', '--field', 'meta.node']);
    expect(code).toBe(0);
    expect(result.ids).toEqual(['7', '7']);
  });

  it('reads the id from a 101 response header', async () => {
    let n = 0;
    const same = await keep(wsServer(() => {}));
    same.wss.on('headers', (headers) => headers.push('X-Wstap-Backend: h1'));
    const alt = await keep(wsServer(() => {}));
    alt.wss.on('headers', (headers) => headers.push(`X-Wstap-Backend: h${(n++ % 2) + 1}`));
    expect((await sticky([same.url, '--header', 'X-Wstap-Backend', '--count', '3'])).code).toBe(0);
    const r = await sticky([alt.url, '--header', 'x-wstap-backend', '--count', '3']);
    expect(r.code).toBe(1);
    expect(r.result.ids).toEqual(['h1', 'h2', 'h1']);
  });

  it('sends the affinity request headers on every connection', async () => {
    const seen: string[] = [];
    const s = await keep(wsServer((ws, req) => (seen.push(String(req.headers.cookie)), helloEcho('c')(ws))));
    expect((await sticky([s.url, '--count', '2', '--request-header', 'Cookie: sid=42'])).code).toBe(0);
    expect(seen).toEqual(['sid=42', 'sid=42']);
  });
});

describe('wstap sticky-check: could not tell (exit 2)', () => {
  it('the field is missing', async () => {
    const s = await keep(wsServer(helloEcho('x')));
    const { code, result } = await sticky([s.url, '--field', 'node']);
    expect(code).toBe(2);
    expect(result.sticky).toBeNull();
    expect(result.error).toBe(`connection 1 of 5: the first message has no field "node": '{"type":"hello","backend":"x"}'`);
  });

  it('the first message is not JSON', async () => {
    const s = await keep(wsServer((ws) => ws.send('welcome!')));
    const { code, result } = await sticky([s.url]);
    expect(code).toBe(2);
    expect(result.error).toBe('connection 1 of 5: the first message is not JSON: "welcome!"');
  });

  it('the header is missing', async () => {
    const s = await keep(wsServer(helloEcho('x')));
    const { code, result } = await sticky([s.url, '--header', 'X-Backend']);
    expect(code).toBe(2);
    expect(result.error).toBe('connection 1 of 5: the 101 response has no X-Backend header');
  });

  it('no first message within the timeout', async () => {
    const s = await keep(wsServer(() => {}));
    const { code, result } = await sticky([s.url, '--timeout', '200']);
    expect(code).toBe(2);
    expect(result.error).toBe('connection 1 of 5: timed out after 200 ms waiting for the first message');
  });

  it('a connection fails midway: the ids so far are kept', async () => {
    const s = await keep(wsServer((ws, _req, n) => (n === 3 ? ws.close(1011) : helloEcho('k')(ws))));
    const { code, result } = await sticky([s.url]);
    expect(code).toBe(2);
    expect(result.ids).toEqual(['k', 'k']);
    expect(result.error).toBe('connection 3 of 5: the server closed the connection with 1011 while waiting for the first message');
  });

  it('connection refused', async () => {
    const port = await freePort();
    const { code, result } = await sticky([`ws://127.0.0.1:${port}/`]);
    expect(code).toBe(2);
    expect(result.error).toBe(`connection 1 of 5: connection refused (ECONNREFUSED 127.0.0.1:${port})`);
  });

  it('usage errors', async () => {
    await expect(stickyCheckCommand(['ws://127.0.0.1:1/', '--field', 'a', '--header', 'B'], captureIO())).rejects.toThrow(/--field or --header, not both/);
    await expect(stickyCheckCommand(['ws://127.0.0.1:1/', '--count', '1'], captureIO())).rejects.toThrow(/--count must be between 2 and 1000, got 1/);
    await expect(stickyCheckCommand(['ws://127.0.0.1:1/', '--header', 'a b'], captureIO())).rejects.toThrow(UsageError);
    await expect(stickyCheckCommand([], captureIO())).rejects.toThrow(/a URL is required/);
  });
});
