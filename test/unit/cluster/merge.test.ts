import { describe, expect, it } from 'vitest';
import { mergeSnapshots } from '../../../src/cluster/merge.js';
import type { CoreSnapshot } from '../../../src/snapshot.js';

function snap(o: Partial<CoreSnapshot> = {}): CoreSnapshot {
  return {
    uptimeS: 5,
    listening: true,
    draining: false,
    activeSessions: 0,
    pendingHandshakes: 0,
    backends: [],
    routes: [],
    ...o,
  };
}

describe('mergeSnapshots', () => {
  it('adds sessions and per-backend active counts up', () => {
    const a = snap({
      activeSessions: 3,
      pendingHandshakes: 1,
      backends: [
        { pool: 'p', id: 'a', url: 'ws://a', up: true, active: 2 },
        { pool: 'p', id: 'b', url: 'ws://b', up: true, active: 1 },
      ],
    });
    const b = snap({ activeSessions: 4, backends: [{ pool: 'p', id: 'a', url: 'ws://a', up: true, active: 4 }] });
    const m = mergeSnapshots([a, b], 42, false);
    expect(m.uptimeS).toBe(42);
    expect(m.activeSessions).toBe(7);
    expect(m.pendingHandshakes).toBe(1);
    expect(m.backends).toEqual([
      { pool: 'p', id: 'a', url: 'ws://a', up: true, active: 6 },
      { pool: 'p', id: 'b', url: 'ws://b', up: true, active: 1 },
    ]);
  });

  it('shows a backend down, or a route unhealthy, when any worker sees it so', () => {
    const a = snap({ backends: [{ pool: 'p', id: 'a', url: 'ws://a', up: true, active: 0 }], routes: [{ name: 'r', pool: 'p', healthy: true }] });
    const b = snap({ backends: [{ pool: 'p', id: 'a', url: 'ws://a', up: false, active: 0 }], routes: [{ name: 'r', pool: 'p', healthy: false }] });
    const m = mergeSnapshots([a, b], 1, false);
    expect(m.backends[0]?.up).toBe(false);
    expect(m.routes).toEqual([{ name: 'r', pool: 'p', healthy: false }]);
    // The inputs are left alone.
    expect(a.backends[0]?.up).toBe(true);
  });

  it('is draining when the primary or any worker is, and not listening with no worker', () => {
    expect(mergeSnapshots([snap(), snap()], 1, false).draining).toBe(false);
    expect(mergeSnapshots([snap(), snap({ draining: true })], 1, false).draining).toBe(true);
    expect(mergeSnapshots([snap()], 1, true).draining).toBe(true);
    expect(mergeSnapshots([], 1, false).listening).toBe(false);
    expect(mergeSnapshots([snap({ listening: false }), snap()], 1, false).listening).toBe(true);
  });
});
