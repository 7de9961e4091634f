/**
 * Client resets at random phases, 1000 times (research §6 #1; the expA crash of http-proxy):
 * mid-request-head, after the head while the backend is slow to answer, right after the 101,
 * mid-frame, and mid-close-handshake, by TCP RST (or, one in four, an abrupt FIN). Seeded (`CHURN_SEED`) and sized
 * (`CHURN_COUNT`) from the environment so a failing run can be replayed; 50 in flight at a time.
 *
 * The process must survive (crashGuard fails the test on any uncaught exception or unhandled
 * rejection), the upstream request or socket of a reset client must be destroyed promptly (not
 * merely FIN'd and left), every session that opened is reported once (1006 for the client leg
 * of a reset, the client's own code when its close frame passed), and at the end there are no
 * sessions, no pending handshakes, no backend connections and no TCP socket in the process.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { assertNoLeaks, simpleConfig, startProxy, type RunningProxy } from '../../helpers/proxy.js';
import { crashGuard, noOpenSockets, trackedBackend, type TrackedBackend } from '../../helpers/backends.js';
import { useLeakCheck } from '../../helpers/proxy-fixture.js';
import { FIXED_MASK, Prng, RawClient, closeFrameOf, frame, upgradeRequest } from '../../helpers/raw.js';
import { pool, ticks } from '../../helpers/faults.js';

crashGuard();

let p: RunningProxy | undefined;
let backend: TrackedBackend | undefined;
const { rawClients: clients } = useLeakCheck(async () => {
  await p?.close();
  await backend?.close();
  p = backend = undefined;
});

const PHASES = ['mid-head', 'slow-backend', 'after-101', 'mid-frame', 'mid-close'] as const;
type Phase = (typeof PHASES)[number];

/** How long the backend holds the 101 for the 'slow-backend' phase. */
const SLOW_101_MS = 400;

describe('1000 client resets (RST or abrupt FIN) at random phases', () => {
  it('no crash; upstream sockets destroyed at once; zero sessions, pending handshakes and backend connections at the end', async () => {
    const seed = Number(process.env.CHURN_SEED ?? 20260608);
    const count = Number(process.env.CHURN_COUNT ?? 1000);
    const rng = new Prng(seed);
    const plan = Array.from({ length: count }, (_, i) => ({
      i,
      phase: PHASES[rng.int(0, PHASES.length - 1)]!,
      cut: rng.next(),
      ticks: rng.int(0, 4),
      // Mostly a TCP RST; one in four an abrupt close (FIN, then gone).
      rst: rng.int(0, 3) !== 0,
    }));

    // The backend holds the 101 of 'slow-backend' requests; it notes when each upstream socket
    // closes, to tell how fast the proxy dropped it after the client's reset.
    const upstreamClosedAt = new Map<number, number>();
    backend = await trackedBackend({
      delay101: (req) => (new URL(req.url ?? '/', 'http://x').searchParams.get('phase') === 'slow-backend' ? SLOW_101_MS : 0),
    });
    const seen = new Map<number, Promise<void>>();
    const seenWaiters = new Map<number, () => void>();
    backend.events.on('request', (req: IncomingMessage, socket: Socket) => {
      const i = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('i'));
      seenWaiters.get(i)?.();
      socket.once('close', () => upstreamClosedAt.set(i, performance.now()));
    });
    const requestSeen = (i: number): Promise<void> => {
      let p = seen.get(i);
      if (p === undefined) {
        p = new Promise((r) => seenWaiters.set(i, r));
        seen.set(i, p);
      }
      return p;
    };

    p = await startProxy(simpleConfig([backend.url], { timeouts: { close: 1000, handshake: 5000 } }));
    const port = p.port;
    const counts: Record<Phase, number> = { 'mid-head': 0, 'slow-backend': 0, 'after-101': 0, 'mid-frame': 0, 'mid-close': 0 };
    const resetAt = new Map<number, number>();
    let got101 = 0;
    let sentClose = 0;

    async function one(step: (typeof plan)[number]): Promise<void> {
      counts[step.phase]++;
      const c = await RawClient.connect(port);
      clients.add(c);
      const reset = (): void => {
        resetAt.set(step.i, performance.now());
        if (step.rst) c.reset();
        else c.socket.destroy();
      };
      try {
        const head = Buffer.from(upgradeRequest(`/churn?phase=${step.phase}&i=${step.i}`).text);
        if (step.phase === 'mid-head') {
          c.write(head.subarray(0, Math.max(1, Math.floor(head.length * step.cut))));
          await ticks(step.ticks);
          return reset();
        }
        if (step.phase === 'slow-backend') {
          const atBackend = requestSeen(step.i);
          c.write(head);
          // The backend has the request and sits on it: now the client resets.
          await atBackend;
          return reset();
        }
        c.write(head);
        const h = await c.head();
        expect(h.status).toBe(101);
        got101++;
        if (step.phase === 'after-101') return reset();
        if (step.phase === 'mid-frame') {
          const f = frame(0x2, Buffer.alloc(8000, 7), { mask: FIXED_MASK });
          c.write(f.subarray(0, 8 + Math.floor(step.cut * 7000)));
          await ticks(step.ticks);
          return reset();
        }
        // mid-close: the close frame goes out, the answer may or may not be back yet.
        c.write(closeFrameOf(1000, 'bye', FIXED_MASK));
        sentClose++;
        await ticks(step.ticks);
        return reset();
      } finally {
        await c.closed;
        clients.delete(c);
      }
    }

    const t0 = performance.now();
    await pool(plan, 50, one);
    const loopMs = performance.now() - t0;

    await assertNoLeaks(p);
    await backend.drained();
    await noOpenSockets();
    expect(p.proxy.activeSessions).toBe(0);
    expect(p.proxy.pendingHandshakes).toBe(0);
    for (const ph of PHASES) expect(counts[ph], `phase ${ph} (seed ${seed})`).toBeGreaterThan(count / 10);

    // A reset while the backend sat on the request: the upstream socket went at once, long
    // before the backend would have answered.
    const drops: number[] = [];
    for (const step of plan) {
      if (step.phase !== 'slow-backend') continue;
      const closed = upstreamClosedAt.get(step.i);
      expect(closed, `upstream of request ${step.i} closed (seed ${seed})`).toBeDefined();
      drops.push(closed! - resetAt.get(step.i)!);
    }
    drops.sort((a, b) => a - b);
    const p99 = drops[Math.floor(drops.length * 0.99)] ?? 0;
    expect(p99, `p99 upstream drop after a reset, ms (seed ${seed})`).toBeLessThan(SLOW_101_MS / 2);
    // None of them became a session: the proxy answered 499 and opened nothing.
    const slow = p.rec.upgrades.filter((u) => u.status === 499).length;
    expect(slow).toBeGreaterThanOrEqual(counts['slow-backend']);

    // Every 101 became a session that was reported exactly once.
    expect(p.rec.opened.length).toBe(got101);
    expect(p.rec.closed.length).toBe(got101);
    expect(new Set(p.rec.closed.map((c) => c.info.id)).size).toBe(got101);
    // A reset records 1006 for the client leg; a close frame that passed records its code.
    const codes = p.rec.closed.map((c) => `${c.e.code}/${c.e.initiator}`);
    for (const code of new Set(codes)) expect(['1006/client', '1000/client'], `code ${code} (seed ${seed})`).toContain(code);
    expect(codes.filter((c) => c === '1000/client').length).toBeLessThanOrEqual(sentClose);
    expect(codes.filter((c) => c === '1006/client').length).toBeGreaterThanOrEqual(got101 - sentClose);

    // The proxy still serves after the storm.
    const c = await RawClient.connect(port);
    clients.add(c);
    c.write(upgradeRequest('/after').text);
    expect((await c.head()).status).toBe(101);
    c.write(frame(0x1, 'still here', { mask: FIXED_MASK }));
    await c.waitFor((b) => b.includes('still here'), 'the echo');
    c.write(closeFrameOf(1000, '', FIXED_MASK));
    await c.closed;
    await assertNoLeaks(p);
    await backend.drained();
    console.info(`churn: ${count} resets (seed ${seed}) in ${Math.round(loopMs)} ms; upstream drop after reset p50 ${drops[drops.length >> 1]?.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${drops.at(-1)?.toFixed(1)} ms`);
  }, 30_000);
});
