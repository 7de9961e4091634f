/**
 * Pool selection: sticky keys with their affinity outcomes (none / new / hit / moved), the
 * balance fallback for requests without a key, the bounded memory, and reload reuse.
 */
import { describe, expect, it } from 'vitest';
import { Pool } from '../../../src/balance/pool.js';
import { AffinityMemory } from '../../../src/balance/affinity.js';
import { rank } from '../../../src/balance/rendezvous.js';
import type { BackendPoolConfig, BalanceKind } from '../../../src/config/types.js';

function poolConfig(balance: BalanceKind, servers: string[], affinity = true): BackendPoolConfig {
  return {
    name: 'chat',
    balance,
    ...(affinity ? { affinity: { key: { kind: 'header', name: 'x-user' } } } : {}),
    servers: servers.map((spec) => {
      const [id, weight, host] = spec.split(':') as [string, string | undefined, string | undefined];
      return { id, url: new URL(`ws://${host ?? id}.test:9000`), weight: Number(weight ?? 1) };
    }),
    tls: { insecure: false },
  };
}

describe('Pool.select', () => {
  it('reports new, hit, moved while the first choice is down, hit, moved back, hit', () => {
    const pool = new Pool(poolConfig('round-robin', ['a', 'b', 'c']));
    const first = rank('alice', pool.backends)[0]!;
    const second = rank('alice', pool.backends)[1]!;
    const outcomes: string[] = [];
    const at: string[] = [];
    const step = (): void => {
      const s = pool.select({ key: 'alice' })!;
      outcomes.push(s.affinity);
      at.push(s.backend.id);
    };
    step();
    step();
    first.available = false;
    step();
    step();
    first.available = true;
    step();
    step();
    expect(outcomes).toEqual(['new', 'hit', 'moved', 'hit', 'moved', 'hit']);
    expect(at).toEqual([first.id, first.id, second.id, second.id, first.id, first.id]);
  });

  it('a key seen for the first time while its first choice is down is moved, not new', () => {
    const pool = new Pool(poolConfig('round-robin', ['a', 'b', 'c']));
    rank('bob', pool.backends)[0]!.available = false;
    expect(pool.select({ key: 'bob' })!.affinity).toBe('moved');
    expect(pool.select({ key: 'bob' })!.affinity).toBe('hit');
  });

  it('without a key, falls back to the balance policy with affinity none', () => {
    const pool = new Pool(poolConfig('round-robin', ['a', 'b', 'c']));
    const picks = Array.from({ length: 6 }, () => pool.select({ clientIp: '10.0.0.1' })!);
    expect(picks.map((s) => s.affinity)).toEqual(Array(6).fill('none'));
    expect(picks.map((s) => s.backend.id)).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
  });

  it('hash without an affinity key hashes the client IP (sticky, with outcomes)', () => {
    const pool = new Pool(poolConfig('hash', ['a', 'b', 'c'], false));
    const one = pool.select({ clientIp: '192.0.2.7' })!;
    expect(one.affinity).toBe('new');
    for (let i = 0; i < 5; i++) expect(pool.select({ clientIp: '192.0.2.7' })).toEqual({ backend: one.backend, affinity: 'hit' });
    expect(one.backend).toBe(rank('192.0.2.7', pool.backends)[0]);
  });

  it('hash with nothing to hash spreads in turn', () => {
    const pool = new Pool(poolConfig('hash', ['a', 'b'], false));
    expect([pool.pick(), pool.pick(), pool.pick()].map((b) => b!.id)).toEqual(['a', 'b', 'a']);
  });

  it('returns undefined when no server is available, keyed or not', () => {
    const pool = new Pool(poolConfig('least-connections', ['a', 'b']));
    for (const b of pool.backends) b.available = false;
    expect(pool.select({ key: 'k' })).toBeUndefined();
    expect(pool.select({})).toBeUndefined();
    expect(pool.healthy).toBe(false);
  });

  it('keyed selection ignores the balance policy (same server for the same key under every policy)', () => {
    for (const balance of ['round-robin', 'least-connections', 'random', 'hash'] as const) {
      const pool = new Pool(poolConfig(balance, ['a', 'b', 'c']));
      expect(pool.select({ key: 'carol' })!.backend.id, balance).toBe(rank('carol', pool.backends)[0]!.id);
    }
  });
});

describe('Pool reload', () => {
  it('keeps Backend objects of servers with the same id and URL, applying a new weight in place', () => {
    const old = new Pool(poolConfig('round-robin', ['a', 'b', 'c']));
    old.backends[0]!.active = 3;
    old.backends[1]!.available = false;
    const next = new Pool(poolConfig('round-robin', ['a:5', 'b', 'c:1:elsewhere', 'd']), old);
    expect(next.backends[0]).toBe(old.backends[0]);
    expect(next.backends[0]!.weight).toBe(5);
    expect(next.backends[0]!.active).toBe(3);
    expect(next.backends[1]).toBe(old.backends[1]);
    expect(next.backends[1]!.available).toBe(false);
    expect(next.backends[2]).not.toBe(old.backends[2]); // same id, new URL: another server
    expect(next.backends[3]!.id).toBe('d');
  });

  it('keeps the affinity memory, so a reload does not turn hits into new', () => {
    const old = new Pool(poolConfig('round-robin', ['a', 'b', 'c']));
    expect(old.select({ key: 'dave' })!.affinity).toBe('new');
    const next = new Pool(poolConfig('round-robin', ['a', 'b', 'c']), old);
    expect(next.select({ key: 'dave' })!.affinity).toBe('hit');
  });
});

describe('AffinityMemory', () => {
  it('forgets the least recently used key beyond its limit', () => {
    const m = new AffinityMemory(3);
    m.swap('k1', 'a');
    m.swap('k2', 'a');
    m.swap('k3', 'a');
    expect(m.swap('k1', 'b')).toBe('a'); // k1 is now the most recent
    m.swap('k4', 'a'); // evicts k2
    expect(m.size).toBe(3);
    expect(m.swap('k2', 'a')).toBeUndefined();
    expect(m.swap('k1', 'b')).toBe('b');
  });

  it('stays bounded under 50k distinct keys', () => {
    const m = new AffinityMemory();
    for (let i = 0; i < 50_000; i++) m.swap(`key-${i}`, 'a');
    expect(m.size).toBe(10_000);
  });
});
