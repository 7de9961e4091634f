/**
 * The last N latency samples of a monitor and their percentiles, for `/status`. Monitors run
 * every few seconds at most, so a small ring and a sort per read are cheaper than any sketch.
 */

/** Percentiles of the retained samples, in ms (null when there is none). */
export interface LatencyPercentiles {
  readonly count: number;
  readonly p50_ms: number | null;
  readonly p95_ms: number | null;
  readonly p99_ms: number | null;
}

/** A fixed-size ring of samples. */
export class LatencySamples {
  readonly #values: number[] = [];
  #next = 0;

  constructor(readonly capacity = 100) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a positive integer');
  }

  /** Add a sample; the oldest is dropped once `capacity` are held. Null/NaN are ignored. */
  add(ms: number | null): void {
    if (ms === null || !Number.isFinite(ms)) return;
    if (this.#values.length < this.capacity) this.#values.push(ms);
    else this.#values[this.#next] = ms;
    this.#next = (this.#next + 1) % this.capacity;
  }

  /** Samples currently held. */
  get size(): number {
    return this.#values.length;
  }

  /** p50/p95/p99 by the nearest-rank method (always an observed value, never interpolated). */
  percentiles(): LatencyPercentiles {
    const sorted = [...this.#values].sort((a, b) => a - b);
    return { count: sorted.length, p50_ms: rank(sorted, 0.5), p95_ms: rank(sorted, 0.95), p99_ms: rank(sorted, 0.99) };
  }
}

function rank(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[i] ?? null;
}
