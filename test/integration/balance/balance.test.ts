/**
 * Balancing through a real ProxyServer to three real ws backends: round-robin spread, exact
 * active counts in the snapshot, least-connections, the id header in the 101, selections on
 * the hub and in `wstap.backend.selections`, and reloads that keep sessions to removed servers.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { nextMessage, until, type Backend } from '../../helpers/proxy.js';
import { TestMetricReader, dataPoints, sumValues } from '../../helpers/metrics.js';
import { startTelemetry } from '../../../src/telemetry/sdk.js';
import { silentLogger } from '../../../src/log.js';
import { activeBy, backends, closeAll, open, poolConfig, startBalanced, teardown, visit, type BalancedProxy, type Reached } from './fixtures.js';

let p: BalancedProxy | undefined;
let servers: Backend[] = [];

afterEach(async () => {
  await teardown(p, servers);
  p = undefined;
  servers = [];
});

describe('balancing through the proxy', () => {
  it('round-robin spreads 30 sessions 10/10/10, and the snapshot counts them exactly', async () => {
    servers = await backends(3);
    p = await startBalanced(poolConfig(servers));
    const sessions: Reached[] = [];
    for (let i = 0; i < 30; i++) sessions.push(await open(p.url));
    const reached: Record<string, number> = {};
    for (const s of sessions) reached[s.backend!] = (reached[s.backend!] ?? 0) + 1;
    expect(reached).toEqual({ b1: 10, b2: 10, b3: 10 });
    expect(activeBy(p)).toEqual({ b1: 10, b2: 10, b3: 10 });
    expect(servers.map((b) => b.wss.clients.size)).toEqual([10, 10, 10]);
    expect(p.selections.every((s) => s.affinity === 'none')).toBe(true);
    expect(p.selections).toHaveLength(30);

    await closeAll(sessions.filter((s) => s.backend === 'b2').slice(0, 4).map((s) => s.ws));
    await until(() => activeBy(p!).b2 === 6, 2000, 'b2 to count 6');
    expect(activeBy(p)).toEqual({ b1: 10, b2: 6, b3: 10 });
    await closeAll(sessions.map((s) => s.ws));
    await until(() => p!.proxy.activeSessions === 0);
    expect(activeBy(p)).toEqual({ b1: 0, b2: 0, b3: 0 });
  });

  it('weights 1/2/3 give 5/10/15 of 30 sessions', async () => {
    servers = await backends(3);
    const cfg = poolConfig(servers, {
      servers: servers.map((b, i) => ({ id: `b${i + 1}`, url: b.url, weight: i + 1 })),
    });
    p = await startBalanced(cfg);
    const reached: Record<string, number> = {};
    for (let i = 0; i < 30; i++) {
      const id = (await visit(p.url))!;
      reached[id] = (reached[id] ?? 0) + 1;
    }
    expect(reached).toEqual({ b1: 5, b2: 10, b3: 15 });
  });

  it('least-connections sends a new session to the least-loaded server', async () => {
    servers = await backends(3);
    p = await startBalanced(poolConfig(servers, { balance: 'least-connections' }));
    const sessions: Reached[] = [];
    for (let i = 0; i < 6; i++) sessions.push(await open(p.url));
    expect(activeBy(p)).toEqual({ b1: 2, b2: 2, b3: 2 });
    const on = (id: string): WebSocket[] => sessions.filter((s) => s.backend === id).map((s) => s.ws);
    await closeAll([...on('b3'), on('b1')[0]!]);
    await until(() => p!.proxy.activeSessions === 3);
    expect(activeBy(p)).toEqual({ b1: 1, b2: 2, b3: 0 });
    const next = await open(p.url);
    expect(next.backend).toBe('b3');
    const after = await open(p.url);
    expect(['b1', 'b3']).toContain(after.backend);
    expect(activeBy(p).b2).toBe(2);
    await closeAll([...sessions.map((s) => s.ws), next.ws, after.ws]);
  });

  it('names the chosen server in the 101 only where id_header is set', async () => {
    servers = await backends(1);
    p = await startBalanced(poolConfig(servers));
    const s = await open(p.url);
    expect(s.backend).toBe('b1');
    s.ws.send('still a tunnel');
    expect(String((await nextMessage(s.ws)).data)).toBe('still a tunnel');
    await closeAll([s.ws]);
    await p.close();

    const { id_header: _dropped, ...pool } = poolConfig(servers).backends.main!;
    p = await startBalanced({ ...poolConfig(servers), backends: { main: pool } });
    expect(await visit(p.url)).toBeUndefined();
  });

  it('records wstap.backend.selections with route, backend and affinity', async () => {
    servers = await backends(2);
    p = await startBalanced(poolConfig(servers, { affinity: { key: 'header:X-User' } }));
    const reader = new TestMetricReader();
    const config = poolConfig(servers);
    const telemetry = startTelemetry({ config: { ...config, telemetry: { ...config.telemetry, prometheus: false } }, version: 'test', logger: silentLogger(), extraReaders: [reader] });
    const off = telemetry.attach(p.hub);
    try {
      await visit(p.url); // no key: none
      const home = await visit(p.url, { 'X-User': 'alice' }); // new
      await visit(p.url, { 'X-User': 'alice' }); // hit
      const rm = await reader.read();
      const name = 'wstap.backend.selections';
      expect(sumValues(rm, name, { 'wstap.route': 'all', 'wstap.affinity': 'none' })).toBe(1);
      expect(sumValues(rm, name, { 'wstap.route': 'all', 'wstap.backend': home!, 'wstap.affinity': 'new' })).toBe(1);
      expect(sumValues(rm, name, { 'wstap.route': 'all', 'wstap.backend': home!, 'wstap.affinity': 'hit' })).toBe(1);
      expect(dataPoints(rm, name).every((d) => Object.keys(d.attributes).sort().join() === 'wstap.affinity,wstap.backend,wstap.route')).toBe(true);
    } finally {
      off();
      await telemetry.shutdown(1000);
    }
  });
});

describe('reload', () => {
  it('keeps sessions to a removed server to their end and stops sending it new ones', async () => {
    servers = await backends(3);
    const health = { interval: 50, timeout: 40, rise: 1, fall: 2 };
    p = await startBalanced(poolConfig(servers, { health }));
    const sessions: Reached[] = [];
    for (let i = 0; i < 3; i++) sessions.push(await open(p.url));
    const onB3 = sessions.find((s) => s.backend === 'b3')!;
    // Reload a few times: each rebuilds the checkers; none may leak a timer or a probe.
    for (let i = 0; i < 5; i++) p.proxy.reload(poolConfig(servers.slice(0, 2), { health }));
    expect(p.proxy.health.timers).toBe(1);
    expect(p.proxy.snapshot().backends.map((b) => b.id)).toEqual(['b1', 'b2']);
    onB3.ws.send('after the reload');
    expect(String((await nextMessage(onB3.ws)).data)).toBe('after the reload');
    for (let i = 0; i < 6; i++) expect(['b1', 'b2']).toContain(await visit(p.url));
    // Sessions to the servers that stayed are still counted on the same objects.
    expect(activeBy(p)).toEqual({ b1: 1, b2: 1 });
    await closeAll(sessions.map((s) => s.ws));
    await until(() => p!.proxy.activeSessions === 0);
    expect(activeBy(p)).toEqual({ b1: 0, b2: 0 });
    await until(() => servers[2]!.wss.clients.size === 0, 2000, 'b3 to have no connection');
  });
});
