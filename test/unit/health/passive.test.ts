/**
 * Passive health: what counts as a failure, the window, the cooldown; and the Health manager
 * combining passive cooldowns with active verdicts into `backend.available`, published once per
 * change. Fake timers (performance.now included) make the windows exact.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Backend } from '../../../src/balance/backend.js';
import { Pool } from '../../../src/balance/pool.js';
import { EventHub } from '../../../src/events.js';
import { Health } from '../../../src/health/health.js';
import { PASSIVE_DEFAULTS, PassiveHealth } from '../../../src/health/passive.js';
import { silentLogger } from '../../../src/log.js';
import type { BackendPoolConfig } from '../../../src/config/types.js';

const server = (id = 'a'): Backend => new Backend('p', { id, url: new URL(`ws://${id}.test`), weight: 1 });

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
});
afterEach(() => {
  vi.useRealTimers();
});

function tracker(opts = {}) {
  const changes: [string, boolean, string][] = [];
  const p = new PassiveHealth(opts, (b, cooling, reason) => changes.push([b.id, cooling, reason]));
  return { p, changes };
}

describe('PassiveHealth', () => {
  it('documents its defaults: 3 failures within 10 s → out for 10 s; closes count within 5 s', () => {
    expect(PASSIVE_DEFAULTS).toEqual({ maxFails: 3, windowMs: 10_000, cooldownMs: 10_000, earlyCloseMs: 5_000 });
  });

  it('takes a server out on the third failure within the window and back after the cooldown', () => {
    const { p, changes } = tracker();
    const b = server();
    p.dialFailed(b, 'backend_refused');
    p.dialFailed(b, 'backend_timeout');
    expect(p.isCooling(b)).toBe(false);
    p.refused(b, 503);
    expect(p.isCooling(b)).toBe(true);
    expect(changes).toEqual([['a', true, expect.stringContaining('3 failures') as string]]);
    vi.advanceTimersByTime(9_999);
    expect(p.isCooling(b)).toBe(true);
    vi.advanceTimersByTime(1);
    expect(p.isCooling(b)).toBe(false);
    expect(changes[1]).toEqual(['a', false, expect.stringContaining('cooldown') as string]);
  });

  it('forgets failures older than the window', () => {
    const { p } = tracker();
    const b = server();
    p.dialFailed(b, 'backend_refused');
    p.dialFailed(b, 'backend_refused');
    vi.advanceTimersByTime(10_001);
    p.dialFailed(b, 'backend_refused');
    p.dialFailed(b, 'backend_refused');
    expect(p.isCooling(b)).toBe(false);
    p.dialFailed(b, 'backend_refused');
    expect(p.isCooling(b)).toBe(true);
  });

  it.each([
    ['a 4xx answer', (p: PassiveHealth, b: Backend) => p.refused(b, 403)],
    ['an invalid 101 (a protocol mismatch, not an outage)', (p: PassiveHealth, b: Backend) => p.dialFailed(b, 'backend_invalid_response')],
    ['a client that went away', (p: PassiveHealth, b: Backend) => p.dialFailed(b, 'client_closed')],
    ['a normal backend close 1000', (p: PassiveHealth, b: Backend) => p.sessionEnded(b, 1000, 'backend', 0.01)],
    ['a backend going away 1001', (p: PassiveHealth, b: Backend) => p.sessionEnded(b, 1001, 'backend', 0.01)],
    ['a 1011 sent by the client', (p: PassiveHealth, b: Backend) => p.sessionEnded(b, 1011, 'client', 0.01)],
    ['a client dropping (1006, client)', (p: PassiveHealth, b: Backend) => p.sessionEnded(b, 1006, 'client', 0.01)],
    ['a 1011 after a long session', (p: PassiveHealth, b: Backend) => p.sessionEnded(b, 1011, 'backend', 5.001)],
    ['an application close code', (p: PassiveHealth, b: Backend) => p.sessionEnded(b, 4000, 'backend', 0.01)],
  ])('never counts %s', (_what, fail) => {
    const { p } = tracker();
    const b = server();
    for (let i = 0; i < 10; i++) fail(p, b);
    expect(p.isCooling(b)).toBe(false);
  });

  it.each([1006, 1011, 1013, 1014])('counts a backend close %i soon after the open', (code) => {
    const { p } = tracker();
    const b = server();
    for (let i = 0; i < 3; i++) p.sessionEnded(b, code, 'backend', 0.2);
    expect(p.isCooling(b)).toBe(true);
  });

  it('ignores failures during the cooldown (sessions opened before it)', () => {
    const { p, changes } = tracker({ maxFails: 1, cooldownMs: 100 });
    const b = server();
    p.dialFailed(b, 'backend_error');
    p.dialFailed(b, 'backend_error');
    vi.advanceTimersByTime(100);
    expect(changes.map((c) => c[1])).toEqual([true, false]);
  });

  it('drops servers that left the config and clears their timers', () => {
    const { p, changes } = tracker({ maxFails: 1 });
    const [a, b] = [server('a'), server('b')];
    p.dialFailed(a, 'backend_error');
    p.dialFailed(b, 'backend_error');
    p.retain(new Set([a]));
    expect(vi.getTimerCount()).toBe(1);
    p.stop();
    expect(vi.getTimerCount()).toBe(0);
    expect(changes.filter((c) => !c[1])).toEqual([]);
  });
});

function poolConfig(health = false): BackendPoolConfig {
  return {
    name: 'p',
    balance: 'round-robin',
    servers: [{ id: 'a', url: new URL('ws://a.test'), weight: 1 }],
    tls: { insecure: false },
    ...(health ? { health: { interval: 60_000, timeout: 1_000, path: '/', rise: 1, fall: 1 } } : {}),
  };
}

describe('Health', () => {
  it('flips backend.available and publishes one backendState per change', () => {
    const hub = new EventHub();
    const states: [string, string, boolean][] = [];
    hub.subscribe({ backendState: (pool, id, up) => void states.push([pool, id, up]) });
    const health = new Health({ hub, logger: silentLogger(), passive: { maxFails: 2, cooldownMs: 50 } });
    const pool = new Pool(poolConfig());
    health.update([pool]);
    const b = pool.backends[0]!;
    health.dialFailed(b, 'backend_refused');
    expect(b.available).toBe(true);
    health.dialFailed(b, 'backend_refused');
    expect(b.available).toBe(false);
    expect(pool.healthy).toBe(false);
    vi.advanceTimersByTime(50);
    expect(b.available).toBe(true);
    expect(states).toEqual([
      ['p', 'a', false],
      ['p', 'a', true],
    ]);
    health.stop();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('starts no timer before start() and none after stop(), across reloads', () => {
    const health = new Health({ hub: new EventHub(), logger: silentLogger() });
    const first = new Pool(poolConfig(true));
    health.update([first]);
    expect(vi.getTimerCount()).toBe(0);
    health.stop();
    health.start();
    health.update([new Pool(poolConfig(true), first)]);
    expect(vi.getTimerCount()).toBe(0);
    expect(health.openProbes).toBe(0);
  });

  it('ignores passive events once stopped', () => {
    const health = new Health({ hub: new EventHub(), logger: silentLogger(), passive: { maxFails: 1 } });
    const pool = new Pool(poolConfig());
    health.update([pool]);
    health.stop();
    health.dialFailed(pool.backends[0]!, 'backend_refused');
    expect(pool.backends[0]!.available).toBe(true);
  });
});
