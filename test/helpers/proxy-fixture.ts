/**
 * Client tracking shared by the proxy tests: every WebSocket, raw client, socket and interval a
 * test adds is ended after it, before the file's own teardown closes its proxy and backends.
 * `useTracked` is the hardening tests' version, `useLeakCheck` the fault tests' (a socket leak
 * check first, before anything is torn down).
 */
import type { Socket } from 'node:net';
import { afterEach, expect } from 'vitest';
import type { ClientOptions, WebSocket } from 'ws';
import { socketLeak } from './backends.js';
import { closed, connect, nextMessage } from './proxy.js';
import { rawWebSocket, type RawClient } from './raw.js';

export interface Tracked {
  readonly clients: Set<WebSocket>;
  readonly raws: Set<RawClient>;
  readonly timers: Set<NodeJS.Timeout>;
  /** Connects a `ws` client to `url` and tracks it. */
  open(url: string, opts?: ClientOptions): Promise<WebSocket>;
}

/**
 * Registers an `afterEach` that clears the timers, terminates the clients and destroys the raw
 * sockets, then runs `teardown` (which closes the file's proxy and backend).
 */
export function useTracked(teardown: () => Promise<void>): Tracked {
  const clients = new Set<WebSocket>();
  const raws = new Set<RawClient>();
  const timers = new Set<NodeJS.Timeout>();
  afterEach(async () => {
    for (const t of timers) clearInterval(t);
    for (const ws of clients) ws.terminate();
    for (const r of raws) r.socket.destroy();
    timers.clear();
    clients.clear();
    raws.clear();
    await teardown();
  });
  async function open(url: string, opts: ClientOptions = {}): Promise<WebSocket> {
    const ws = await connect(url, undefined, opts);
    clients.add(ws);
    return ws;
  }
  return { clients, raws, timers, open };
}

/** Sends `text` and expects it back. */
export async function echoes(ws: WebSocket, text = 'ping'): Promise<void> {
  const m = nextMessage(ws);
  ws.send(text);
  expect((await m).data.toString()).toBe(text);
}

/** Closes `ws` with 1000 and waits for the close. */
export async function end(ws: WebSocket): Promise<void> {
  const c = closed(ws);
  ws.close(1000);
  await c;
}

export interface LeakChecked {
  readonly rawClients: Set<RawClient>;
  readonly wsClients: Set<WebSocket>;
  readonly sockets: Set<Socket>;
  /** Opens a raw WebSocket to `port` and tracks its client. */
  rawWs(port: number, path?: string): Promise<RawClient>;
}

/**
 * Registers an `afterEach` that checks for leaked TCP sockets first, then destroys the raw
 * clients, terminates the `ws` clients, destroys the sockets, runs `teardown`, and only then
 * throws the leak, if there was one.
 */
export function useLeakCheck(teardown: () => Promise<void>): LeakChecked {
  const rawClients = new Set<RawClient>();
  const wsClients = new Set<WebSocket>();
  const sockets = new Set<Socket>();
  afterEach(async () => {
    // The leak check first, before anything is torn down: every TCP socket of the test (proxy,
    // backends, clients) must be closed by now.
    const leak = await socketLeak();
    for (const c of rawClients) c.socket.destroy();
    rawClients.clear();
    for (const ws of wsClients) ws.terminate();
    wsClients.clear();
    for (const s of sockets) s.destroy();
    sockets.clear();
    await teardown();
    if (leak) throw leak;
  });
  async function rawWs(port: number, path = '/'): Promise<RawClient> {
    const { client } = await rawWebSocket(port, path);
    rawClients.add(client);
    return client;
  }
  return { rawClients, wsClients, sockets, rawWs };
}
