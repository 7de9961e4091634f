/**
 * Real servers for the monitor tests, all on 127.0.0.1 port 0: `ws` servers with a per-test
 * behaviour, a plain HTTP server that refuses upgrades, a TLS `ws` server, the python3-websockets
 * fixture as a child process, and a leak check over Node's active handles.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { WebSocketServer, type ServerOptions, type WebSocket } from 'ws';
import { afterEach, beforeEach, expect } from 'vitest';

const FIXTURES = fileURLToPath(new URL('../../fixtures/monitor/', import.meta.url));
export const PYTHON = '/usr/bin/python3';

/** A running server and how to stop it (every test stops what it started). */
export interface TestServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** A `ws` server; `onConnection` decides what each connection does (default: echo with hello). */
export async function wsServer(
  onConnection: (ws: WebSocket, req: IncomingMessage, n: number) => void = helloEcho('ws-1'),
  opts: ServerOptions = {},
): Promise<TestServer & { wss: WebSocketServer }> {
  const wss = new WebSocketServer(opts.server !== undefined ? opts : { host: '127.0.0.1', port: 0, ...opts });
  if (opts.server === undefined) await once(wss, 'listening');
  let n = 0;
  wss.on('connection', (ws, req) => {
    ws.on('error', () => {});
    onConnection(ws, req, ++n);
  });
  const port = opts.server !== undefined ? (opts.server.address() as AddressInfo).port : (wss.address() as AddressInfo).port;
  const scheme = opts.server !== undefined ? 'wss' : 'ws';
  return {
    wss,
    port,
    url: `${scheme}://127.0.0.1:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => (opts.server ? opts.server.close(() => resolve()) : resolve()));
      }),
  };
}

/** The demo backends' behaviour: hello first, ping → pong, echo the rest. */
export function helloEcho(id: string): (ws: WebSocket) => void {
  return (ws) => {
    ws.send(JSON.stringify({ type: 'hello', backend: id }));
    ws.on('message', (data, isBinary) => {
      const text = data.toString();
      if (!isBinary && text.includes('"type":"ping"')) ws.send(JSON.stringify({ type: 'pong', backend: id }));
      else ws.send(data, { binary: isBinary });
    });
  };
}

/** A `wss` server with the fixture's self-signed certificate (CN=localhost, IP 127.0.0.1). */
export async function tlsWsServer(): Promise<TestServer & { wss: WebSocketServer }> {
  const server = createHttpsServer({ cert: readFileSync(`${FIXTURES}cert.pem`), key: readFileSync(`${FIXTURES}key.pem`) });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return wsServer(helloEcho('tls-1'), { server });
}

/** An HTTP server that answers every upgrade with `status` (a proxy's 403, 503…). */
export async function refusingServer(status: number, reason: string): Promise<TestServer> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((_req, res) => res.writeHead(status).end());
  server.on('upgrade', (_req, socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `ws://127.0.0.1:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A port nothing listens on (bound, read, released). */
export { deadPort as freePort } from '../../helpers/raw.js';

/** Start `ws_server.py MODE ARGS` under /usr/bin/python3 and wait for its `PORT n` line. */
export async function pythonServer(mode: string, ...args: string[]): Promise<TestServer> {
  const child: ChildProcessWithoutNullStreams = spawn(PYTHON, [`${FIXTURES}ws_server.py`, mode, ...args], { stdio: 'pipe' });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = once(child, 'exit');
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`python server did not start in 10 s: ${stderr}`)), 10_000);
    const fail = (err: Error): void => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(err);
    };
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /PORT (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code) => fail(new Error(`python server exited (${code}): ${stderr}`)));
  });
  return {
    port,
    url: `ws://127.0.0.1:${port}/`,
    close: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}

type HandleCounts = Record<string, number>;
const WATCHED = ['TCPSocketWrap', 'TLSWrap', 'Timeout'];

/** Counts of the handle types a leaked socket or timer shows up as. */
export function handles(): HandleCounts {
  const counts: HandleCounts = Object.fromEntries(WATCHED.map((k) => [k, 0]));
  for (const r of process.getActiveResourcesInfo()) if (r in counts) counts[r] = (counts[r] ?? 0) + 1;
  return counts;
}

/** Wait (up to 2 s) until no watched handle type exceeds `baseline`; fail with the counts if not. */
export async function expectNoLeaks(baseline: HandleCounts): Promise<void> {
  const deadline = Date.now() + 2000;
  let now = handles();
  while (WATCHED.some((k) => (now[k] ?? 0) > (baseline[k] ?? 0)) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    now = handles();
  }
  expect(now, 'sockets or timers left behind').toEqual(
    Object.fromEntries(WATCHED.map((k) => [k, Math.min(now[k] ?? 0, baseline[k] ?? 0)])),
  );
}

/** What `useServers()` hands a test file: `keep` a server (or a promise of one) to close it after the test. */
export interface KeptServers {
  keep<T extends TestServer>(s: T): T;
  keep<T extends TestServer>(s: Promise<T>): Promise<T>;
}

/**
 * Registers the hooks every monitor test file shares: after each test, check that no socket or
 * timer was left behind, then close every server the test kept.
 */
export function useServers(): KeptServers {
  let servers: TestServer[] = [];
  let baseline: HandleCounts;
  beforeEach(() => {
    servers = [];
    baseline = handles();
  });
  afterEach(async () => {
    try {
      await expectNoLeaks(baseline);
    } finally {
      await Promise.all(servers.map((s) => s.close()));
    }
  });
  const push = <T extends TestServer>(s: T): T => {
    servers.push(s);
    return s;
  };
  return {
    keep: ((s: TestServer | Promise<TestServer>) => (s instanceof Promise ? s.then(push) : push(s))) as KeptServers['keep'],
  };
}
