/**
 * Property tests of weighted rendezvous hashing on 10k seeded keys: the properties replicas
 * and operators rely on (same answer everywhere, minimal movement, shares follow weights).
 */
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../../src/balance/backend.js';
import { pairHash, place, rank } from '../../../src/balance/rendezvous.js';
import { keys, servers } from './servers.js';

const KEYS = keys(10_000);

function assign(pool: readonly Backend[], ks: readonly string[] = KEYS): Map<string, string> {
  return new Map(ks.map((k) => [k, place(k, pool).chosen!.id]));
}

function shares(assignment: Map<string, string>): Map<string, number> {
  const out = new Map<string, number>();
  for (const id of assignment.values()) out.set(id, (out.get(id) ?? 0) + 1 / assignment.size);
  return out;
}

describe('rendezvous hashing', () => {
  it('spreads keys evenly over equal servers', () => {
    const s = shares(assign(servers('a', 'b', 'c', 'd', 'e')));
    for (const id of ['a', 'b', 'c', 'd', 'e']) expect(Math.abs(s.get(id)! - 0.2), id).toBeLessThan(0.02);
  });

  it.each([3, 4, 9])('adding one server to %i moves about 1/(N+1) of the keys, all to the new server', (n) => {
    const ids = Array.from({ length: n }, (_, i) => `srv-${i + 1}`);
    const before = assign(servers(...ids));
    const after = assign(servers(...ids, 'srv-new'));
    const moved = KEYS.filter((k) => before.get(k) !== after.get(k));
    expect(Math.abs(moved.length / KEYS.length - 1 / (n + 1))).toBeLessThan(0.02);
    for (const k of moved) expect(after.get(k)).toBe('srv-new');
  });

  it('removing one server moves only its keys, spread over the others', () => {
    const before = assign(servers('a', 'b', 'c', 'd'));
    const after = assign(servers('a', 'b', 'd'));
    const moved = KEYS.filter((k) => before.get(k) !== after.get(k));
    for (const k of moved) expect(before.get(k)).toBe('c');
    expect(moved.length).toBe([...before.values()].filter((id) => id === 'c').length);
    const destinations = shares(new Map(moved.map((k) => [k, after.get(k)!])));
    for (const id of ['a', 'b', 'd']) expect(Math.abs(destinations.get(id)! - 1 / 3), id).toBeLessThan(0.03);
  });

  it('an unavailable server moves only its keys, and they come back when it does', () => {
    const pool = servers('a', 'b', 'c', 'd');
    const before = assign(pool);
    pool[2]!.available = false;
    const during = assign(pool);
    for (const k of KEYS) {
      if (before.get(k) === 'c') expect(during.get(k)).not.toBe('c');
      else expect(during.get(k)).toBe(before.get(k));
    }
    pool[2]!.available = true;
    expect(assign(pool)).toEqual(before);
  });

  it('two independently built pools (other objects, other order) map every key identically', () => {
    const one = assign(servers('a', 'b:2', 'c', 'd'));
    const two = assign(servers('d', 'c', 'b:2', 'a'));
    expect(two).toEqual(one);
  });

  it('weights skew shares proportionally', () => {
    const s = shares(assign(servers('a:1', 'b:2', 'c:3', 'd:4')));
    expect(Math.abs(s.get('a')! - 0.1)).toBeLessThan(0.015);
    expect(Math.abs(s.get('b')! - 0.2)).toBeLessThan(0.015);
    expect(Math.abs(s.get('c')! - 0.3)).toBeLessThan(0.015);
    expect(Math.abs(s.get('d')! - 0.4)).toBeLessThan(0.015);
  });

  it('raising one weight moves keys only to that server', () => {
    const before = assign(servers('a', 'b', 'c'));
    const after = assign(servers('a', 'b:3', 'c'));
    const moved = KEYS.filter((k) => before.get(k) !== after.get(k));
    for (const k of moved) expect(after.get(k)).toBe('b');
    // b's share goes from 1/3 to 3/5: 4/15 of the keys move.
    expect(Math.abs(moved.length / KEYS.length - 4 / 15)).toBeLessThan(0.02);
  });

  it('a key whose first choice is down goes to its second choice, in rank order', () => {
    const pool = servers('a', 'b', 'c', 'd');
    for (const k of KEYS.slice(0, 200)) {
      const order = rank(k, pool);
      expect(place(k, pool)).toEqual({ chosen: order[0], first: order[0] });
      order[0]!.available = false;
      expect(place(k, pool)).toEqual({ chosen: order[1], first: order[0] });
      order[1]!.available = false;
      expect(place(k, pool).chosen).toBe(order[2]);
      order[0]!.available = true;
      order[1]!.available = true;
    }
  });

  it('finds nothing when every server is down, but still knows the first choice', () => {
    const pool = servers('a', 'b');
    for (const b of pool) b.available = false;
    const p = place('k', pool);
    expect(p.chosen).toBeUndefined();
    expect(p.first).toBe(rank('k', pool)[0]);
  });

  it('keeps its hash stable across releases (changing it re-shuffles every deployment)', () => {
    expect([pairHash('chat-1', 'user-42'), pairHash('chat-2', 'user-42'), pairHash('chat-1', ''), pairHash('é', '日本')]).toMatchInlineSnapshot(`
      [
        1932049037,
        4169616008,
        4114713345,
        3679177462,
      ]
    `);
  });

  it('separates id and key ("ab"+"c" is not "a"+"bc")', () => {
    expect(pairHash('ab', 'c')).not.toBe(pairHash('a', 'bc'));
  });
});
