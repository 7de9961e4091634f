/**
 * Active health checks of one pool: every `health.interval`, one probe per server (a WebSocket
 * handshake, see probe.ts). `rise` consecutive passes bring a down server up, `fall`
 * consecutive failures take an up server down. One timer per pool, not per server; a server
 * whose previous probe is still running is skipped for that round.
 */
import type { HealthConfig } from '../config/types.js';
import type { Backend } from '../balance/backend.js';
import { probe, type Probe, type ProbeTls } from './probe.js';

/** Called when the checker decides a server is up or down (only on a change of its verdict). */
export type ActiveVerdict = (backend: Backend, up: boolean, reason: string) => void;

/** What the checker needs of its pool. */
export interface ActiveCheckerOptions {
  readonly pool: string;
  readonly backends: readonly Backend[];
  readonly health: HealthConfig;
  readonly tls?: ProbeTls;
  /** Whether the checker currently holds `backend` up (the verdict it starts from). */
  readonly isUp: (backend: Backend) => boolean;
  readonly onVerdict: ActiveVerdict;
}

interface Streak {
  passes: number;
  fails: number;
  up: boolean;
  probe: Probe | undefined;
}

/** Runs the active checks of one pool until {@link ActiveChecker.stop}. */
export class ActiveChecker {
  readonly pool: string;
  readonly #o: ActiveCheckerOptions;
  readonly #streaks = new Map<Backend, Streak>();
  /** Every probe socket not yet closed, including ones closing after their result. */
  readonly #open = new Set<Probe>();
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(o: ActiveCheckerOptions) {
    this.pool = o.pool;
    this.#o = o;
    for (const b of o.backends) this.#streaks.set(b, { passes: 0, fails: 0, up: o.isUp(b), probe: undefined });
  }

  /** Probe every server now, then every `interval`. */
  start(): void {
    if (this.#stopped || this.#timer !== undefined) return;
    this.#round();
  }

  /** Clear the timer and destroy every probe socket. Idempotent. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const p of this.#open) p.abort();
    this.#open.clear();
  }

  /** The next round is scheduled (false after stop()). */
  get scheduled(): boolean {
    return this.#timer !== undefined;
  }

  /** Probe sockets still open (tests assert this returns to 0). */
  get openProbes(): number {
    return this.#open.size;
  }

  readonly #round = (): void => {
    if (this.#stopped) return;
    for (const [backend, streak] of this.#streaks) {
      if (streak.probe === undefined) this.#probe(backend, streak);
    }
    this.#timer = setTimeout(this.#round, this.#o.health.interval);
    // Health checks alone must not keep a process alive (the listener does that).
    this.#timer.unref();
  };

  #probe(backend: Backend, streak: Streak): void {
    const p = probe(backend.url, this.#o.health, this.#o.tls);
    streak.probe = p;
    this.#open.add(p);
    void p.closed.then(() => this.#open.delete(p));
    void p.result.then((r) => {
      streak.probe = undefined;
      if (this.#stopped) return;
      if (r.ok) {
        streak.fails = 0;
        streak.passes++;
        if (!streak.up && streak.passes >= this.#o.health.rise) {
          streak.up = true;
          this.#o.onVerdict(backend, true, `active: ${streak.passes} checks passed`);
        }
      } else {
        streak.passes = 0;
        streak.fails++;
        if (streak.up && streak.fails >= this.#o.health.fall) {
          streak.up = false;
          this.#o.onVerdict(backend, false, `active: ${streak.fails} checks failed (last: ${r.detail})`);
        }
      }
    });
  }
}
