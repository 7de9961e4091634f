import { describe, expect, it, vi } from 'vitest';
import { TimerWheel, type Wakeable } from '../../../src/heartbeat/wheel.js';

function item(log: string[], name: string): Wakeable {
  return { wheelSlot: 0, wake: () => log.push(name) };
}

describe('TimerWheel', () => {
  it('wakes items in time order, once each, and forgets cancelled ones', async () => {
    const w = new TimerWheel(5);
    const log: string[] = [];
    const a = item(log, 'a');
    const b = item(log, 'b');
    const c = item(log, 'c');
    const now = performance.now();
    w.schedule(c, now + 60);
    w.schedule(a, now + 10);
    w.schedule(b, now + 30);
    expect(w.size).toBe(3);
    w.cancel(b);
    expect(w.size).toBe(2);
    await new Promise<void>((resolve) => {
      const d = { wheelSlot: 0, wake: () => resolve() };
      w.schedule(d, now + 80);
    });
    expect(log).toEqual(['a', 'c']);
    expect(w.size).toBe(0);
  });

  it('an item rescheduled for later while it wakes does not hold back items due sooner', () => {
    vi.useFakeTimers();
    vi.setSystemTime(1_000_000); // on a slot boundary: wake-up times below are exact
    try {
      const w = new TimerWheel(10, () => Date.now());
      const t0 = Date.now();
      const woke: [string, number][] = [];
      // `a` is a session whose ping just went out: it comes back at its pong deadline, 500 ms on.
      const a: Wakeable = {
        wheelSlot: 0,
        wake: (now) => {
          woke.push(['a', now - t0]);
          if (woke.length === 1) w.schedule(a, now + 500);
        },
      };
      const b: Wakeable = { wheelSlot: 0, wake: (now) => void woke.push(['b', now - t0]) };
      w.schedule(a, t0 + 20);
      w.schedule(b, t0 + 60);
      vi.advanceTimersByTime(100);
      expect(woke).toEqual([
        ['a', 20],
        ['b', 60],
      ]);
      vi.advanceTimersByTime(500);
      expect(woke.map(([name]) => name)).toEqual(['a', 'b', 'a']);
      expect(w.size).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('rescheduling moves an item instead of adding a second entry', async () => {
    const w = new TimerWheel(5);
    let wakes = 0;
    const x: Wakeable = { wheelSlot: 0, wake: () => void wakes++ };
    const now = performance.now();
    w.schedule(x, now + 1000);
    w.schedule(x, now + 10);
    expect(w.size).toBe(1);
    await new Promise<void>((resolve) => w.schedule({ wheelSlot: 0, wake: () => resolve() }, now + 40));
    expect(wakes).toBe(1);
    w.clear();
  });
});
