/**
 * Passive health: failures seen on real traffic count against a server, and
 * {@link PASSIVE_DEFAULTS}.maxFails of them within `windowMs` take it out of rotation for
 * `cooldownMs` (Caddy's `max_fails` / `fail_duration`, with a fixed cooldown). What counts:
 * - an upgrade the server refused at TCP level, did not answer in time, or whose connection
 *   failed (`backend_refused`, `backend_timeout`, `backend_error`);
 * - a 5xx answer to the upgrade;
 * - a session the server ended abnormally soon after it opened: close 1011 (internal error),
 *   1013 (try again later) or 1014 (bad gateway) sent by the backend, or the backend's leg
 *   dropping without a close frame (1006). Late abnormal closes are left to the alerts: after
 *   minutes of service they say little about whether new sessions will work.
 * A normal close (1000, 1001) never counts, nor does anything the client or the proxy started.
 */
import type { Backend } from '../balance/backend.js';
import type { Initiator } from '../events.js';

/** Thresholds of passive health. Fixed for now (not in the config file); tests shorten them. */
export interface PassiveOptions {
  /** Failures within `windowMs` that take a server out. */
  readonly maxFails: number;
  /** How long a failure is remembered. */
  readonly windowMs: number;
  /** How long a server stays out once taken out. */
  readonly cooldownMs: number;
  /** An abnormal backend close counts only this soon after the session opened. */
  readonly earlyCloseMs: number;
}

/** 3 failures within 10 s → out for 10 s; abnormal closes count within 5 s of the open. */
export const PASSIVE_DEFAULTS: PassiveOptions = Object.freeze({
  maxFails: 3,
  windowMs: 10_000,
  cooldownMs: 10_000,
  earlyCloseMs: 5_000,
});

/** Dial failures (`error.type`) that say the server is not taking sessions. */
const DIAL_FAILURES = new Set(['backend_refused', 'backend_timeout', 'backend_error']);
/** Close codes a backend sends (or 1006 for its dropped leg) when it cannot serve the session. */
const ABNORMAL_BACKEND_CLOSES = new Set([1006, 1011, 1013, 1014]);

/** Called when a server enters (`cooling` true) or leaves its cooldown. */
export type CooldownChange = (backend: Backend, cooling: boolean, reason: string) => void;

/** Counts failures per server and runs the cooldowns. */
export class PassiveHealth {
  readonly options: PassiveOptions;
  readonly #onChange: CooldownChange;
  /** Times (ms, monotonic) of the failures still inside the window, per server. */
  readonly #fails = new Map<Backend, number[]>();
  readonly #cooling = new Map<Backend, NodeJS.Timeout>();

  constructor(options: Partial<PassiveOptions>, onChange: CooldownChange) {
    this.options = { ...PASSIVE_DEFAULTS, ...options };
    this.#onChange = onChange;
  }

  /** Servers in cooldown, each with its timer running. */
  get cooling(): number {
    return this.#cooling.size;
  }

  isCooling(backend: Backend): boolean {
    return this.#cooling.has(backend);
  }

  /** The upgrade to `backend` failed with `errorType`. */
  dialFailed(backend: Backend, errorType: string): void {
    if (DIAL_FAILURES.has(errorType)) this.#fail(backend, errorType);
  }

  /** `backend` answered the upgrade with `status` instead of 101. */
  refused(backend: Backend, status: number): void {
    if (status >= 500) this.#fail(backend, `status ${status}`);
  }

  /** A session to `backend` ended with `code` sent (or dropped) by `initiator` after `durationS`. */
  sessionEnded(backend: Backend, code: number, initiator: Initiator, durationS: number): void {
    if (initiator !== 'backend' || !ABNORMAL_BACKEND_CLOSES.has(code)) return;
    if (durationS * 1000 > this.options.earlyCloseMs) return;
    this.#fail(backend, `close ${code} after ${Math.round(durationS * 1000)} ms`);
  }

  /** Drop the state of servers no longer in any pool (after a reload). */
  retain(live: ReadonlySet<Backend>): void {
    for (const b of this.#fails.keys()) if (!live.has(b)) this.#fails.delete(b);
    for (const [b, t] of this.#cooling) {
      if (live.has(b)) continue;
      clearTimeout(t);
      this.#cooling.delete(b);
    }
  }

  /** Clear every cooldown timer (state is dropped: a stopped checker decides nothing). */
  stop(): void {
    for (const t of this.#cooling.values()) clearTimeout(t);
    this.#cooling.clear();
    this.#fails.clear();
  }

  #fail(backend: Backend, why: string): void {
    // Sessions opened before the cooldown may still fail during it: it is already out.
    if (this.#cooling.has(backend)) return;
    const now = performance.now();
    const { maxFails, windowMs, cooldownMs } = this.options;
    const fails = (this.#fails.get(backend) ?? []).filter((t) => now - t < windowMs);
    fails.push(now);
    if (fails.length < maxFails) {
      this.#fails.set(backend, fails);
      return;
    }
    this.#fails.delete(backend);
    const timer = setTimeout(() => {
      this.#cooling.delete(backend);
      this.#onChange(backend, false, `passive: cooldown of ${cooldownMs} ms over`);
    }, cooldownMs);
    timer.unref();
    this.#cooling.set(backend, timer);
    this.#onChange(backend, true, `passive: ${fails.length} failures within ${windowMs} ms (last: ${why})`);
  }
}
