/**
 * Table-driven picker tests (undici's style): each row is a script of picks with servers
 * failing and returning. Tokens: `A` the next pick must be A; `!` the next pick finds nothing;
 * `-A` / `+A` take A out / bring it back; `~A` one session of A ends. Every pick opens a
 * session (active + 1), which only least-connections looks at.
 */
import { describe, expect, it } from 'vitest';
import { createPicker, type Picker } from '../../../src/balance/picker.js';
import type { BalanceKind } from '../../../src/config/types.js';
import { seeded, servers } from './servers.js';

interface Row {
  readonly name: string;
  readonly balance: BalanceKind;
  readonly servers: readonly string[];
  readonly script: string;
}

const ROWS: readonly Row[] = [
  { name: 'round-robin, equal weights', balance: 'round-robin', servers: ['A', 'B', 'C'], script: 'A B C A B C A B C' },
  { name: 'round-robin, weights 1/2 interleave', balance: 'round-robin', servers: ['A:1', 'B:2'], script: 'B A B B A B B A B' },
  { name: 'round-robin skips a failed server and takes it back', balance: 'round-robin', servers: ['A', 'B', 'C'], script: 'A B C -B A C A C +B A B C A B C' },
  { name: 'round-robin, all down then one back', balance: 'round-robin', servers: ['A', 'B'], script: 'A B -A -B ! ! +B B B +A A B' },
  { name: 'least-connections spreads an idle pool in turn', balance: 'least-connections', servers: ['A', 'B', 'C'], script: 'A B C A B C' },
  { name: 'least-connections refills the server whose session ended', balance: 'least-connections', servers: ['A', 'B', 'C'], script: 'A B C ~B B ~A ~C C A' },
  { name: 'least-connections, weights 1/2: active/weight', balance: 'least-connections', servers: ['A:1', 'B:2'], script: 'A B B A B B' },
  { name: 'least-connections skips failed servers whatever their load', balance: 'least-connections', servers: ['A', 'B', 'C'], script: 'A B C ~A ~A -A B C B C +A A A' },
  { name: 'least-connections with nothing available', balance: 'least-connections', servers: ['A'], script: '-A ! +A A' },
  { name: 'random with one server left', balance: 'random', servers: ['A', 'B', 'C'], script: '-A -C B B B -B ! +C C C' },
];

function run(picker: Picker, ids: readonly string[], script: string): void {
  const pool = servers(...ids);
  const byId = new Map(pool.map((b) => [b.id, b]));
  const get = (id: string) => byId.get(id) ?? expect.unreachable(`no server ${id}`);
  script
    .split(' ')
    .filter(Boolean)
    .forEach((tok, i) => {
      if (tok.startsWith('-')) get(tok.slice(1)).available = false;
      else if (tok.startsWith('+')) get(tok.slice(1)).available = true;
      else if (tok.startsWith('~')) get(tok.slice(1)).active--;
      else {
        const b = picker.pick(pool, {});
        expect(b?.id ?? '!', `token ${i} of "${script}"`).toBe(tok);
        if (b !== undefined) b.active++;
      }
    });
}

describe('pickers', () => {
  it.each(ROWS)('$name', (row) => {
    run(createPicker(row.balance, seeded(7)), row.servers, row.script);
  });

  it('round-robin gives each server its weight in every full cycle', () => {
    const pool = servers('A:1', 'B:2', 'C:3');
    const picker = createPicker('round-robin');
    for (let cycle = 0; cycle < 50; cycle++) {
      const counts: Record<string, number> = { A: 0, B: 0, C: 0 };
      for (let i = 0; i < 6; i++) counts[picker.pick(pool, {})!.id]!++;
      expect(counts).toEqual({ A: 1, B: 2, C: 3 });
    }
  });

  it('round-robin never sends two in a row to one server when weights are equal, across a failure', () => {
    const pool = servers('A', 'B', 'C', 'D');
    const picker = createPicker('round-robin');
    const seen: string[] = [];
    for (let i = 0; i < 40; i++) {
      if (i === 10) pool[1]!.available = false;
      if (i === 25) pool[1]!.available = true;
      seen.push(picker.pick(pool, {})!.id);
    }
    expect(seen.slice(10, 25)).not.toContain('B');
    // After its return B is back in the rotation within one cycle, at the same share.
    expect(seen.slice(25, 29).sort()).toEqual(['A', 'B', 'C', 'D']);
    expect(seen.slice(29).filter((id) => id === 'B').length).toBeGreaterThanOrEqual(2);
  });

  it('random follows the weights (seeded, 30k picks)', () => {
    const pool = servers('A:1', 'B:2', 'C:3');
    const picker = createPicker('random', seeded(42));
    const counts: Record<string, number> = { A: 0, B: 0, C: 0 };
    const n = 30_000;
    for (let i = 0; i < n; i++) counts[picker.pick(pool, {})!.id]!++;
    expect(Math.abs(counts.A! / n - 1 / 6)).toBeLessThan(0.015);
    expect(Math.abs(counts.B! / n - 2 / 6)).toBeLessThan(0.015);
    expect(Math.abs(counts.C! / n - 3 / 6)).toBeLessThan(0.015);
  });

  it('random survives a generator that returns values just below 1', () => {
    const pool = servers('A', 'B');
    expect(createPicker('random', () => 0.9999999999999999).pick(pool, {})?.id).toBe('B');
    expect(createPicker('random', () => 0).pick(pool, {})?.id).toBe('A');
  });

  it('least-connections compares load per unit of weight, not raw counts', () => {
    const pool = servers('A:1', 'B:4');
    pool[0]!.active = 2; // 2 per unit
    pool[1]!.active = 6; // 1.5 per unit
    expect(createPicker('least-connections').pick(pool, {})?.id).toBe('B');
  });

  it('hash sends a key to one server and to its second choice while the first is down', () => {
    const pool = servers('A', 'B', 'C');
    const picker = createPicker('hash');
    const first = picker.pick(pool, { key: 'user-42' })!;
    for (let i = 0; i < 5; i++) expect(picker.pick(pool, { key: 'user-42' })).toBe(first);
    first.available = false;
    const second = picker.pick(pool, { key: 'user-42' })!;
    expect(second).not.toBe(first);
    for (let i = 0; i < 5; i++) expect(picker.pick(pool, { key: 'user-42' })).toBe(second);
    first.available = true;
    expect(picker.pick(pool, { key: 'user-42' })).toBe(first);
  });

  it('every picker returns undefined for an empty pool', () => {
    for (const kind of ['round-robin', 'least-connections', 'random', 'hash'] as const) {
      expect(createPicker(kind).pick([], { key: 'k' })).toBeUndefined();
    }
  });
});
