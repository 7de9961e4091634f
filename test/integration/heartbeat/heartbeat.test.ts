import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { once } from 'node:events';
import * as wsModule from 'ws';
import { WebSocket, WebSocketServer } from 'ws';
import type { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';

/** ws's frame-level classes: exported by the package, not declared by @types/ws. */
const { Receiver, Sender } = wsModule as unknown as {
  Receiver: new (o: { isServer: boolean }) => Writable & { on(e: string, f: (...a: never[]) => void): unknown };
  Sender: (new (s: net.Socket) => { pong(d: Buffer, mask: boolean, cb: () => void): void }) & {
    frame(d: Buffer, o: { fin: boolean; opcode: number; mask: boolean; readOnly: boolean; rsv1: boolean }): Buffer[];
  };
};
import { assertNoLeaks, closed, connect, echoBackend, simpleConfig, startProxy, type Backend, type RunningProxy } from '../../helpers/proxy.js';

let backend: Backend | undefined;
let p: RunningProxy | undefined;
let child: ChildProcess | undefined;
const extra: (() => unknown)[] = [];

afterEach(async () => {
  for (const f of extra.splice(0)) await f();
  await p?.close();
  await backend?.close();
  if (child && child.exitCode === null) {
    child.kill('SIGCONT');
    child.kill('SIGKILL');
    await once(child, 'exit');
  }
  p = backend = child = undefined;
});

function pings(p: RunningProxy): { client: number[]; backend: number[]; timeouts: string[] } {
  const r = { client: [] as number[], backend: [] as number[], timeouts: [] as string[] };
  p.hub.subscribe({ ping: (_s, leg, rtt) => r[leg].push(rtt), pingTimeout: (_s, leg) => r.timeouts.push(leg) });
  return r;
}

describe('heartbeats', () => {
  it('measure both legs; the client sees pings but no pong it did not ask for; the backend sees no pong', async () => {
    let backendPongs = 0;
    let backendPings = 0;
    backend = await echoBackend({}, (ws) => {
      ws.on('pong', () => backendPongs++);
      ws.on('ping', () => backendPings++);
      ws.on('message', (d, b) => ws.send(d, { binary: b }));
    });
    p = await startProxy(simpleConfig([backend.url], { heartbeat: { interval: 20, timeout: 1000 } }));
    const rtt = pings(p);
    const ws = await connect(p.url);
    let clientPings = 0;
    const clientPongs: Buffer[] = [];
    ws.on('ping', () => clientPings++);
    ws.on('pong', (d) => clientPongs.push(d));
    // An empty application ping still gets its pong, in both directions.
    const pong = new Promise((r) => ws.once('pong', r));
    ws.ping();
    await pong;
    await new Promise<void>((resolve) => {
      const check = (): void => (rtt.client.length >= 3 && rtt.backend.length >= 3 ? resolve() : void setTimeout(check, 10));
      check();
    });
    expect(clientPings).toBeGreaterThanOrEqual(3);
    expect(backendPings).toBeGreaterThanOrEqual(3);
    expect(clientPongs.map((b) => b.length)).toEqual([0]);
    expect(backendPongs).toBe(0);
    for (const v of [...rtt.client, ...rtt.backend]) expect(v).toBeGreaterThan(0);
    ws.close(1000);
    await closed(ws);
    await assertNoLeaks(p, [backend]);
  });

  it('ten application pings yield ten pongs with heartbeats every few ms', async () => {
    backend = await echoBackend();
    p = await startProxy(simpleConfig([backend.url], { heartbeat: { interval: 5, timeout: 1000 } }));
    const ws = await connect(p.url);
    const got: string[] = [];
    const all = new Promise<void>((resolve) => ws.on('pong', (d) => (got.push(d.toString()), got.length === 10 && resolve())));
    for (let i = 0; i < 10; i++) ws.ping(`app-${i}`);
    await all;
    expect(got).toEqual(Array.from({ length: 10 }, (_, i) => `app-${i}`));
    ws.close();
    await closed(ws);
    await assertNoLeaks(p, [backend]);
  });

  it('a backend that answers only the latest ping loses no application pong', async () => {
    // A raw backend built on ws's Receiver/Sender that coalesces pongs (RFC 6455 §5.5.3 allows it).
    let sentPongs = 0;
    const wss = new WebSocketServer({ noServer: true });
    const server = net.createServer();
    server.on('connection', (sock) => {
      sock.on('error', () => {});
      sock.once('data', (head) => {
        const key = /sec-websocket-key: (.*)\r\n/i.exec(head.toString())![1]!;
        const accept = (wss as unknown as { options: unknown }) && require_accept(key);
        sock.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
        const rx = new Receiver({ isServer: true });
        const tx = new Sender(sock);
        let latest: Buffer | null = null;
        let timer: NodeJS.Timeout | undefined;
        rx.on('ping', (d: Buffer): void => {
          latest = Buffer.from(d);
          clearTimeout(timer);
          timer = setTimeout(() => {
            sentPongs++;
            tx.pong(latest!, false, () => {});
          }, 30);
        });
        rx.on('conclude', () => sock.end());
        sock.on('close', () => clearTimeout(timer));
        sock.pipe(rx);
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    extra.push(() => new Promise((r) => server.close(r)));
    const port = (server.address() as net.AddressInfo).port;
    p = await startProxy(simpleConfig([`ws://127.0.0.1:${port}`], { heartbeat: { interval: 5, timeout: 2000 } }));
    const ws = await connect(p.url);
    const received: string[] = [];
    ws.on('pong', (d) => received.push(d.toString()));
    for (let i = 0; i < 5; i++) ws.ping(`app-${i}`);
    await new Promise<void>((resolve) => {
      const check = (): void => (received.includes('app-4') ? resolve() : void setTimeout(check, 10));
      check();
    });
    expect(received.length).toBe(sentPongs);
    expect(received.every((r) => r.startsWith('app-'))).toBe(true);
    ws.terminate();
    await p.rec.closes(1);
    await assertNoLeaks(p);
  });

  it('a frozen backend (SIGSTOP): the client gets 1014 within interval + timeout, the timeout is counted', async () => {
    child = spawn(process.execPath, [fileURLToPath(new URL('../../fixtures/node/echo-server.mjs', import.meta.url))], { stdio: ['ignore', 'pipe', 'inherit'] });
    const [line] = (await once(child.stdout!, 'data')) as [Buffer];
    const port = Number(line.toString().trim());
    p = await startProxy(simpleConfig([`ws://127.0.0.1:${port}`], { heartbeat: { interval: 100, timeout: 200 } }));
    const rtt = pings(p);
    const ws = await connect(p.url);
    const t0 = performance.now();
    child.kill('SIGSTOP');
    const c = await closed(ws);
    const took = performance.now() - t0;
    expect(c.code).toBe(1014);
    expect(took).toBeLessThan(100 + 200 + 400);
    expect(rtt.timeouts).toEqual(['backend']);
    await p.rec.closes(1);
    expect(p.rec.closed[0]!.e).toMatchObject({ code: 1006, initiator: 'backend' });
    expect(p.rec.errors).toContain('heartbeat_timeout');
    await assertNoLeaks(p);
  });

  it('a client that never reads nor answers: the backend gets 1001', async () => {
    let backendClose!: Promise<number>;
    backend = await echoBackend({}, (ws) => (backendClose = new Promise((r) => ws.once('close', (code) => r(code)))));
    p = await startProxy(simpleConfig([backend.url], { heartbeat: { interval: 50, timeout: 100 } }));
    const rtt = pings(p);
    const sock = net.connect(p.port, '127.0.0.1');
    sock.on('error', () => {});
    await once(sock, 'connect');
    sock.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
    await once(sock, 'data');
    sock.pause(); // never reads again, never answers a ping
    expect(await backendClose).toBe(1001);
    expect(rtt.timeouts).toContain('client');
    sock.destroy();
    await assertNoLeaks(p, [backend]);
  });

  it('a 50 MB frame streaming slowly delays a ping instead of being corrupted by it', async () => {
    let received: Buffer | undefined;
    let pingsAfterMessage = 0;
    const done = new Promise<void>((resolve) => {
      void echoBackend({ maxPayload: 64 * 1024 * 1024 }, (ws) => {
        ws.on('message', (d) => (received = d as Buffer));
        // The ping deferred behind the big frame arrives right after it.
        ws.on('ping', () => {
          if (received === undefined) return;
          if (++pingsAfterMessage === 1) {
            ws.close(1000);
            resolve();
          }
        });
      }).then((b) => (backend = b));
    });
    await until(() => backend !== undefined);
    p = await startProxy(simpleConfig([backend!.url], { heartbeat: { interval: 5, timeout: 2000 } }));
    // A raw client writes one 50 MB masked frame in 1 MB pieces, yielding between them.
    const size = 50 * 1024 * 1024;
    const payload = Buffer.alloc(size);
    for (let i = 0; i < size; i += 4096) payload[i] = i & 0xff;
    // readOnly: true makes Sender mask a copy, leaving `payload` intact for the comparison.
    const frames = Sender.frame(payload, { fin: true, opcode: 2, mask: true, readOnly: true, rsv1: false });
    const sock = net.connect(p.port, '127.0.0.1');
    sock.on('error', () => {});
    await once(sock, 'connect');
    sock.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
    await once(sock, 'data');
    // The client never answers the proxy's pings (it cannot: it is inside its own frame), but
    // it keeps sending bytes, which is proof enough that its leg is alive.
    const all = Buffer.concat(frames);
    for (let off = 0; off < all.length; off += 1 << 20) {
      if (!sock.write(all.subarray(off, Math.min(all.length, off + (1 << 20))))) await once(sock, 'drain');
      await new Promise((r) => setTimeout(r, 2));
    }
    await done;
    expect(received!.length).toBe(payload.length);
    let diff = -1;
    for (let i = 0; i < size; i++) if (received![i] !== payload[i]) { diff = i; break; }
    expect(diff).toBe(-1);
    expect(pingsAfterMessage).toBe(1);
    sock.destroy();
    await p.rec.closes(1);
    await assertNoLeaks(p, [backend!]);
  });
});

import { createHash } from 'node:crypto';
function require_accept(key: string): string {
  return createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
}
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 5));
}

describe('idle timeout', () => {
  it('no frames either way for timeouts.idle ends the session with 1001 to both legs', async () => {
    let backendClose!: Promise<number>;
    backend = await echoBackend({}, (ws) => (backendClose = new Promise((r) => ws.once('close', (code) => r(code)))));
    p = await startProxy(simpleConfig([backend.url], { timeouts: { idle: 150 } }));
    const ws = await connect(p.url);
    const t0 = performance.now();
    const c = await closed(ws);
    expect(c.code).toBe(1001);
    expect(await backendClose).toBe(1001);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(100);
    await p.rec.closes(1);
    expect(p.rec.closed[0]!.e).toMatchObject({ code: 1001, initiator: 'proxy' });
    expect(p.rec.errors).toContain('idle_timeout');
    await assertNoLeaks(p, [backend]);
  });

  it('bytes stuck in a full buffer are not activity: a stalled session still times out', async () => {
    // The backend floods a client that never reads: once the buffers are full wstap stops
    // reading the backend, and nothing moves any more.
    backend = await echoBackend({}, (ws) => {
      const chunk = Buffer.alloc(64 * 1024, 1);
      const pump = (): void => {
        while (ws.readyState === WebSocket.OPEN && ws.bufferedAmount < 8 * 1024 * 1024) ws.send(chunk);
        if (ws.readyState === WebSocket.OPEN) setTimeout(pump, 5);
      };
      pump();
    });
    p = await startProxy(simpleConfig([backend.url], { timeouts: { idle: 300, close: 300 } }));
    const sock = net.connect(p.port, '127.0.0.1');
    sock.on('error', () => {});
    await once(sock, 'connect');
    sock.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
    await once(sock, 'data');
    sock.pause(); // never reads again
    await p.rec.closes(1);
    expect(p.rec.errors).toContain('idle_timeout');
    sock.destroy();
    await assertNoLeaks(p, [backend]);
  });

  it('traffic keeps a session alive past timeouts.idle', async () => {
    backend = await echoBackend();
    p = await startProxy(simpleConfig([backend.url], { timeouts: { idle: 150 } }));
    const ws = await connect(p.url);
    for (let i = 0; i < 6; i++) {
      const m = new Promise((r) => ws.once('message', r));
      ws.send('keepalive');
      await m;
      await new Promise((r) => setTimeout(r, 60));
    }
    expect(ws.readyState).toBe(WebSocket.OPEN);
    ws.close(1000);
    await closed(ws);
    await assertNoLeaks(p, [backend]);
  });
});
