/**
 * Backend health: the active checkers of every pool that has `health:` and the passive failure
 * counter, combined into the one thing the rest of wstap sees, `backend.available`:
 * available = the active checks hold it up (or there are none) AND no passive cooldown runs.
 *
 * Each change is applied once: the flag is flipped, a `backendState` event is published and
 * one log line is written. Pickers never see this code; they only read the flag.
 */
import { readFileSync } from 'node:fs';
import type { Backend } from '../balance/backend.js';
import type { Pool } from '../balance/pool.js';
import type { EventHub, Initiator } from '../events.js';
import type { Logger } from '../log.js';
import { ActiveChecker } from './active.js';
import { PassiveHealth, type PassiveOptions } from './passive.js';

export interface HealthOptions {
  readonly hub: EventHub;
  readonly logger: Logger;
  /** Passive thresholds (default {@link PASSIVE_DEFAULTS}). */
  readonly passive?: Partial<PassiveOptions>;
}

/** Runs active and passive health for the proxy's pools; rebuilt pool by pool on reload. */
export class Health {
  readonly #hub: EventHub;
  readonly #logger: Logger;
  readonly #passive: PassiveHealth;
  /** Servers the active checks hold down. Keyed by object: reused Backends keep their verdict. */
  readonly #activeDown = new WeakSet<Backend>();
  #checkers: ActiveChecker[] = [];
  #started = false;
  #stopped = false;

  constructor(o: HealthOptions) {
    this.#hub = o.hub;
    this.#logger = o.logger;
    this.#passive = new PassiveHealth(o.passive ?? {}, (b, _cooling, reason) => this.#apply(b, reason));
  }

  /**
   * Apply the pools of a (re)loaded config: stop every checker of the previous config, build one
   * per pool with `health:` (probing at once if {@link start} was called), and release servers whose pool no longer checks them. Servers that
   * left the config keep whatever state they had; only their open sessions still use them.
   */
  update(pools: Iterable<Pool>): void {
    for (const c of this.#checkers) c.stop();
    this.#checkers = [];
    if (this.#stopped) return;
    const live = new Set<Backend>();
    for (const pool of pools) {
      for (const b of pool.backends) live.add(b);
      const h = pool.config.health;
      if (h === undefined) {
        for (const b of pool.backends) {
          if (this.#activeDown.delete(b)) this.#apply(b, 'active: health checks removed from the config');
        }
        continue;
      }
      const checker = new ActiveChecker({
        pool: pool.name,
        backends: pool.backends,
        health: h,
        tls: { insecure: pool.config.tls.insecure, ...(pool.config.tls.ca ? { ca: readCa(pool.config.tls.ca, this.#logger) } : {}) },
        isUp: (b) => !this.#activeDown.has(b),
        onVerdict: (b, up, reason) => {
          if (up) this.#activeDown.delete(b);
          else this.#activeDown.add(b);
          this.#apply(b, reason);
        },
      });
      this.#checkers.push(checker);
      if (this.#started) checker.start();
    }
    this.#passive.retain(live);
  }

  /** Start probing (the proxy calls this once its listener is bound). After stop(), a no-op. */
  start(): void {
    if (this.#stopped || this.#started) return;
    this.#started = true;
    for (const c of this.#checkers) c.start();
  }

  /** The upgrade to `backend` failed (passive health). */
  dialFailed(backend: Backend, errorType: string): void {
    if (!this.#stopped) this.#passive.dialFailed(backend, errorType);
  }

  /** `backend` answered the upgrade with a non-101 `status` (passive health). */
  refused(backend: Backend, status: number): void {
    if (!this.#stopped) this.#passive.refused(backend, status);
  }

  /** A session to `backend` ended (passive health counts early abnormal backend closes). */
  sessionEnded(backend: Backend, code: number, initiator: Initiator, durationS: number): void {
    if (!this.#stopped) this.#passive.sessionEnded(backend, code, initiator, durationS);
  }

  /** Probe sockets still open across all checkers. */
  get openProbes(): number {
    return this.#checkers.reduce((n, c) => n + c.openProbes, 0);
  }

  /** Timers held: one per running checker, one per cooldown (both 0 after stop()). */
  get timers(): number {
    return this.#checkers.filter((c) => c.scheduled).length + this.#passive.cooling;
  }

  /** Stop every checker and cooldown timer and close every probe socket. Idempotent. */
  stop(): void {
    this.#stopped = true;
    for (const c of this.#checkers) c.stop();
    this.#checkers = [];
    this.#passive.stop();
  }

  #apply(b: Backend, reason: string): void {
    const available = !this.#activeDown.has(b) && !this.#passive.isCooling(b);
    if (available === b.available) return;
    b.available = available;
    try {
      this.#hub.backendState(b.pool, b.id, available, reason);
    } catch (err) {
      // Called from probe and cooldown timers: a throwing observer must not crash the process.
      this.#logger.error({ err: (err as Error).message }, 'backendState observer failed');
    }
    const fields = { pool: b.pool, backend: b.id, active: b.active, reason };
    if (available) this.#logger.info(fields, 'backend up');
    else this.#logger.warn(fields, 'backend down');
  }
}

// Read once per reload, not per probe. validate.ts already checked the file is readable; if it
// vanished since, probes fall back to the system store and fail loudly on a private CA.
function readCa(file: string, logger: Logger): Buffer | undefined {
  try {
    return readFileSync(file);
  } catch (err) {
    logger.warn({ file, err: (err as Error).message }, 'cannot read backend CA for health checks');
    return undefined;
  }
}
