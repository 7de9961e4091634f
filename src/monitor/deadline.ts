/**
 * Time limits of the synthetic checks. Every wait of a probe (handshake, pong, message, close
 * handshake) is bounded by a {@link Deadline}; a step's own limit and the run's overall
 * `timeout` are both deadlines and the earlier one wins, so a message can name the limit that
 * actually fired ("timed out after 500 ms" vs "after 10000 ms (the monitor's timeout)").
 */
import { performance } from 'node:perf_hooks';

/** A point in time (on {@link now}'s clock) by which a wait must end. */
export interface Deadline {
  /** `performance.now()` value at which the wait fails. */
  readonly at: number;
  /** The configured limit, for messages. */
  readonly timeoutMs: number;
  /** Which limit this is, when it is not obvious (`the monitor's timeout`). */
  readonly label?: string;
}

/** An expected failure of a probe: its message is the user-facing `error`. */
export class ProbeError extends Error {
  override readonly name = 'ProbeError';
}

/** Monotonic milliseconds: wall-clock jumps must not fake a latency or a timeout. */
export function now(): number {
  return performance.now();
}

/** A deadline `timeoutMs` from now. */
export function deadlineIn(timeoutMs: number, label?: string): Deadline {
  return { at: now() + timeoutMs, timeoutMs, ...(label !== undefined ? { label } : {}) };
}

/** The deadline that fires first. */
export function earliest(a: Deadline, b: Deadline | undefined): Deadline {
  return b === undefined || a.at <= b.at ? a : b;
}

/** Milliseconds left before `d` (never negative). */
export function remaining(d: Deadline): number {
  return Math.max(0, d.at - now());
}

/** `timed out after 500 ms waiting for a pong` (with the limit's label when it has one). */
export function timeoutMessage(d: Deadline, what: string): string {
  return `timed out after ${d.timeoutMs} ms${d.label !== undefined ? ` (${d.label})` : ''} waiting for ${what}`;
}

/** Round a duration for reports: whole milliseconds below 10 ms keep one decimal. */
export function roundMs(ms: number): number {
  return ms < 10 ? Math.round(ms * 10) / 10 : Math.round(ms);
}

/**
 * A sleep that ends early when `signal` aborts. Resolves `true` after the full time, `false`
 * when aborted; the timer never outlives the call.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (full: boolean): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(full);
    };
    const onAbort = (): void => done(false);
    const timer = setTimeout(() => done(true), Math.max(0, ms));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Quote a user string for a message: `"x"` normally, `'{"type":"pong"}'` when it holds double
 * quotes (JSON escapes would make a JSON needle unreadable). Long strings are cut.
 */
export function quote(s: string, max = 120): string {
  const cut = s.length > max ? `${s.slice(0, max)}…` : s;
  if (cut.includes('"') && !cut.includes("'") && !/[\n\r]/.test(cut)) return `'${cut}'`;
  return JSON.stringify(cut);
}
