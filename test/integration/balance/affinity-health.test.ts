/**
 * Sticky keys and backend health through a real ProxyServer: a key stays on its server, moves
 * within the fall threshold when that server stops (other keys stay put), and returns when it
 * comes back on the same port; client-IP hashing believes X-Forwarded-For only from trusted
 * proxies; passive health takes out a server whose sessions die with 1011 right after opening,
 * or whose port refuses, and never one that closes normally.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { echoBackend, refusedStatus, testConfig, until, type Backend } from '../../helpers/proxy.js';
import { backends, closeAll, isUp, open, poolConfig, startBalanced, teardown, visit, type BalancedProxy } from './fixtures.js';

let p: BalancedProxy | undefined;
let servers: Backend[] = [];

afterEach(async () => {
  await teardown(p, servers);
  p = undefined;
  servers = [];
});

const HEALTH = { interval: 50, timeout: 40, path: '/health', rise: 1, fall: 2 };
const user = (name: string): Record<string, string> => ({ 'X-User': name });

describe('affinity', () => {
  it('a header key always reaches the same server, and keys spread over all servers', async () => {
    servers = await backends(3);
    p = await startBalanced(poolConfig(servers, { affinity: { key: 'header:X-User' } }));
    const home = await visit(p.url, user('alice'));
    for (let i = 0; i < 9; i++) expect(await visit(p.url, user('alice'))).toBe(home);
    expect(p.selections.map((s) => s.affinity)).toEqual(['new', ...Array(9).fill('hit')]);
    const homes = new Set<string>();
    for (let i = 0; i < 30; i++) homes.add((await visit(p.url, user(`user-${i}`)))!);
    expect(homes).toEqual(new Set(['b1', 'b2', 'b3']));
    // A request without the key falls back to round-robin, reported as `none`.
    await visit(p.url);
    expect(p.selections.at(-1)!.affinity).toBe('none');
  });

  it('moves a key within the fall threshold when its server stops, and brings it back', async () => {
    servers = await backends(3);
    p = await startBalanced(poolConfig(servers, { affinity: { key: 'header:X-User' }, health: HEALTH }));
    const names = Array.from({ length: 30 }, (_, i) => `user-${i}`);
    const before = new Map<string, string>();
    for (const n of ['alice', ...names]) before.set(n, (await visit(p.url, user(n)))!);
    const home = before.get('alice')!;
    const index = Number(home.slice(1)) - 1;
    const port = servers[index]!.port;

    await servers[index]!.close();
    const stoppedAt = performance.now();
    await until(() => !isUp(p!, home), 2000, `${home} to be marked down`);
    // fall 2 at a 50 ms interval: two failed rounds, well under half a second.
    expect(performance.now() - stoppedAt).toBeLessThan(500);
    expect(p.states).toEqual([{ backend: home, up: false, reason: expect.stringContaining('active: 2 checks failed') as string }]);
    expect(p.proxy.snapshot().routes).toEqual([{ name: 'all', pool: 'main', healthy: true }]);

    const marker = p.selections.length;
    const moved = await visit(p.url, user('alice'));
    expect(moved).not.toBe(home);
    expect(p.selections[marker]!.affinity).toBe('moved');
    expect(await visit(p.url, user('alice'))).toBe(moved);
    expect(p.selections[marker + 1]!.affinity).toBe('hit');
    for (const n of names) {
      const now = await visit(p.url, user(n));
      if (before.get(n) === home) expect(now, n).not.toBe(home);
      else expect(now, n).toBe(before.get(n));
    }

    servers[index] = await echoBackend({ port });
    await until(() => isUp(p!, home), 2000, `${home} to be marked up again`);
    expect(p.states.map((s) => `${s.backend}:${s.up}`)).toEqual([`${home}:false`, `${home}:true`]);
    const back = p.selections.length;
    expect(await visit(p.url, user('alice'))).toBe(home);
    expect(await visit(p.url, user('alice'))).toBe(home);
    expect(p.selections.slice(back).map((s) => s.affinity)).toEqual(['moved', 'hit']);
    for (const n of names) expect(await visit(p.url, user(n)), n).toBe(before.get(n));
  });

  it('answers 503 and reports the route unhealthy when its only server is down', async () => {
    servers = await backends(1);
    p = await startBalanced(poolConfig(servers, { health: HEALTH }));
    expect(await visit(p.url)).toBe('b1');
    const port = servers[0]!.port;
    await servers[0]!.close();
    await until(() => !isUp(p!, 'b1'), 2000, 'b1 to be marked down');
    expect(p.proxy.snapshot().routes[0]!.healthy).toBe(false);
    expect((await refusedStatus(p.url)).status).toBe(503);
    servers[0] = await echoBackend({ port });
    await until(() => isUp(p!, 'b1'), 2000, 'b1 to be marked up');
    expect(p.proxy.snapshot().routes[0]!.healthy).toBe(true);
    expect(await visit(p.url)).toBe('b1');
  });

  it('hashes the client IP, believing X-Forwarded-For only from trusted proxies', async () => {
    servers = await backends(3);
    const addresses = Array.from({ length: 24 }, (_, i) => `198.51.100.${i + 1}`);

    p = await startBalanced(poolConfig(servers, { balance: 'hash' }));
    const untrusted = new Set<string>();
    for (const a of addresses) untrusted.add((await visit(p.url, { 'X-Forwarded-For': a }))!);
    expect(untrusted.size).toBe(1); // every request is 127.0.0.1
    await p.close();

    p = await startBalanced(poolConfig(servers, { balance: 'hash' }, { trusted_proxies: ['127.0.0.1/32'] }));
    const trusted = new Map<string, string>();
    for (const a of addresses) trusted.set(a, (await visit(p.url, { 'X-Forwarded-For': a }))!);
    expect(new Set(trusted.values()).size).toBe(3);
    for (const a of addresses) expect(await visit(p.url, { 'X-Forwarded-For': a })).toBe(trusted.get(a));
  });

  it('reads cookie and query keys', async () => {
    servers = await backends(3);
    p = await startBalanced(poolConfig(servers, { affinity: { key: 'cookie:sid' } }));
    const home = await visit(p.url, { Cookie: 'theme=dark; sid=s-123' });
    for (let i = 0; i < 5; i++) expect(await visit(p.url, { Cookie: `sid=s-123; n=${i}` })).toBe(home);
    await p.close();

    p = await startBalanced(poolConfig(servers, { affinity: { key: 'query:room' } }));
    const room = await visit(`${p.url}/ws?room=lobby`);
    for (let i = 0; i < 5; i++) expect(await visit(`${p.url}/ws?x=${i}&room=lobby`)).toBe(room);
    expect(p.selections.map((s) => s.affinity)).toEqual(['new', 'hit', 'hit', 'hit', 'hit', 'hit']);
  });
});

describe('passive health', () => {
  function twoPools(flaky: Backend, polite: Backend) {
    return testConfig({
      backends: {
        flaky: { servers: [{ id: 'f1', url: flaky.url }] },
        polite: { servers: [{ id: 'p1', url: polite.url }] },
      },
      routes: [
        { name: 'flaky', match: { path: '/flaky' }, backend: 'flaky' },
        { name: 'polite', match: { path: '/polite' }, backend: 'polite' },
      ],
    });
  }

  it('takes out a server whose sessions end with 1011 right after opening, never one closing with 1000', async () => {
    const flaky = await echoBackend({}, (ws) => ws.close(1011, 'boom'));
    const polite = await echoBackend({}, (ws) => ws.close(1000, 'bye'));
    servers = [flaky, polite];
    p = await startBalanced(twoPools(flaky, polite), { maxFails: 3, cooldownMs: 300 });
    for (let i = 0; i < 6; i++) await closeAll([(await open(`${p.url}/polite`)).ws]);
    await p.rec.closes(6);
    expect(isUp(p, 'p1')).toBe(true);

    for (let i = 0; i < 3; i++) await open(`${p.url}/flaky`);
    await p.rec.closes(9);
    expect(p.rec.closed.slice(6).map((c) => `${c.e.code}/${c.e.initiator}`)).toEqual(['1011/backend', '1011/backend', '1011/backend']);
    expect(isUp(p, 'f1')).toBe(false);
    expect(p.states).toEqual([{ backend: 'f1', up: false, reason: expect.stringContaining('passive: 3 failures') as string }]);
    expect((await refusedStatus(`${p.url}/flaky`)).status).toBe(503);
    expect(isUp(p, 'p1')).toBe(true);

    await until(() => isUp(p!, 'f1'), 2000, 'the cooldown to end');
    expect(p.states.map((s) => s.up)).toEqual([false, true]);
  });

  it('takes out a server whose port refuses the upgrade', async () => {
    const gone = await echoBackend();
    const live = await echoBackend();
    servers = [live];
    await gone.close();
    p = await startBalanced(poolConfig([gone, live]), { maxFails: 2, cooldownMs: 60_000 });
    const answers: (number | string)[] = [];
    for (let i = 0; i < 6; i++) {
      answers.push(await visit(p.url).then((id) => id!, async () => 502));
    }
    // b1 refuses twice (502), then only b2 is chosen.
    expect(answers).toEqual([502, 'b2', 502, 'b2', 'b2', 'b2']);
    expect(isUp(p, 'b1')).toBe(false);
  });
});
