import { describe, expect, it } from 'vitest';
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
