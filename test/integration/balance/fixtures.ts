/**
 * Fixtures for the balance suites: three named ws echo backends behind a real ProxyServer, a
 * client that reads which server it reached from the 101's id header, and a leak check that
 * also covers the health checkers' timers and probe sockets.
 */
import { WebSocket } from 'ws';
import { expect } from 'vitest';
import type { Config } from '../../../src/config/types.js';
import type { Affinity } from '../../../src/events.js';
import type { PassiveOptions } from '../../../src/health/passive.js';
import { ProxyServer } from '../../../src/proxy/server.js';
import { silentLogger } from '../../../src/log.js';
import { EventHub } from '../../../src/events.js';
import { Recorder, assertNoLeaks, echoBackend, testConfig, until, type Backend, type RunningProxy } from '../../helpers/proxy.js';

/** The header that names the chosen server in every config built here. */
export const ID_HEADER = 'X-Backend-Id';

/** A running proxy plus what it reported about selections and health. */
export interface BalancedProxy extends RunningProxy {
  readonly selections: { backend: string; affinity: Affinity }[];
  readonly states: { backend: string; up: boolean; reason: string }[];
}

/** Like the harness's startProxy, with passive-health thresholds and selection/state capture. */
export async function startBalanced(config: Config, passiveHealth?: Partial<PassiveOptions>): Promise<BalancedProxy> {
  const hub = new EventHub();
  const rec = new Recorder();
  hub.subscribe(rec);
  const selections: BalancedProxy['selections'] = [];
  const states: BalancedProxy['states'] = [];
  hub.subscribe({
    selection: (_route, backend, affinity) => void selections.push({ backend, affinity }),
    backendState: (_pool, backend, up, reason) => void states.push({ backend, up, reason }),
  });
  const proxy = new ProxyServer({ config, hub, logger: silentLogger(), ...(passiveHealth ? { passiveHealth } : {}) });
  const addr = await proxy.listen();
  return { proxy, hub, rec, selections, states, port: addr.port, url: `ws://127.0.0.1:${addr.port}`, close: () => proxy.close() };
}

/** `n` echo backends. */
export function backends(n: number): Promise<Backend[]> {
  return Promise.all(Array.from({ length: n }, () => echoBackend()));
}

/** One pool `main` of servers b1…bn with the id header, a catch-all route, and `pool` extras. */
export function poolConfig(servers: readonly Backend[], pool: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Config {
  return testConfig({
    backends: { main: { servers: servers.map((b, i) => ({ id: `b${i + 1}`, url: b.url })), id_header: ID_HEADER, ...pool } },
    routes: [{ name: 'all', match: { path: '/' }, backend: 'main' }],
    ...extra,
  });
}

/** An open client session and the server id the proxy's 101 named. */
export interface Reached {
  readonly ws: WebSocket;
  readonly backend: string | undefined;
}

/** Connect through the proxy and read the id header from the 101 (ws's 'upgrade' event). */
export async function open(url: string, headers: Record<string, string> = {}): Promise<Reached> {
  const ws = new WebSocket(url, { headers });
  let backend: string | undefined;
  ws.once('upgrade', (res) => {
    const v = res.headers[ID_HEADER.toLowerCase()];
    backend = Array.isArray(v) ? v[0] : v;
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`unexpected response ${res.statusCode}`)));
  });
  ws.on('error', () => {});
  return { ws, backend };
}

/** Open, note the server, close cleanly; resolves with the server id. */
export async function visit(url: string, headers: Record<string, string> = {}): Promise<string | undefined> {
  const { ws, backend } = await open(url, headers);
  await closeAll([ws]);
  return backend;
}

/** Close clients with 1000 and wait until each has seen its close. */
export async function closeAll(clients: readonly WebSocket[]): Promise<void> {
  await Promise.all(
    clients.map((ws) =>
      ws.readyState === WebSocket.CLOSED ? undefined : new Promise<void>((resolve) => {
        ws.once('close', () => resolve());
        ws.close(1000);
      }),
    ),
  );
}

/** Active sessions per server id, from the snapshot. */
export function activeBy(p: RunningProxy): Record<string, number> {
  return Object.fromEntries(p.proxy.snapshot().backends.map((b) => [b.id, b.active]));
}

/** Whether the snapshot reports server `id` up. */
export function isUp(p: RunningProxy, id: string): boolean {
  return p.proxy.snapshot().backends.find((b) => b.id === id)?.up ?? false;
}

/** Close the proxy, check nothing is left (sessions, backend connections, health timers and probes), close the backends. */
export async function teardown(p: RunningProxy | undefined, servers: readonly Backend[]): Promise<void> {
  if (p !== undefined) {
    await p.close();
    await assertNoLeaks(p, servers);
    await until(() => p.proxy.health.openProbes === 0, 2000, 'probe sockets to close');
    expect(p.proxy.health.timers).toBe(0);
  }
  await Promise.all(servers.map((b) => b.close()));
}
