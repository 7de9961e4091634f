/**
 * A fixed-size log-bucket histogram for round-trip times, used by the /status window to give
 * p50/p95/p99 with bounded memory whatever the ping rate: 8 bins per doubling from 1 µs to
 * ~18 min (≈ 4.4 % relative error per bin), one `Uint32Array` per leg per time bucket.
 *
 * This is deliberately not the OTel histogram: that one's buckets are coarse (chosen for
 * dashboards) and cumulative since start, while /status needs a sliding window.
 */

const MIN_S = 1e-6;
const BINS_PER_DOUBLING = 8;
const DOUBLINGS = 30;
/** Bin 0 holds values ≤ 1 µs; the last bin holds everything beyond the range. */
export const LATENCY_BINS = DOUBLINGS * BINS_PER_DOUBLING + 2;

/** The bin a value in seconds falls into. */
export function latencyBin(seconds: number): number {
  if (!(seconds > MIN_S)) return 0; // also catches NaN
  const i = 1 + Math.floor(Math.log2(seconds / MIN_S) * BINS_PER_DOUBLING);
  return i >= LATENCY_BINS ? LATENCY_BINS - 1 : i;
}

/** A representative value (seconds) of a bin: its geometric midpoint. */
export function latencyBinValue(bin: number): number {
  if (bin <= 0) return MIN_S;
  return MIN_S * 2 ** ((bin - 0.5) / BINS_PER_DOUBLING);
}

/** A new, empty set of bins. */
export function newLatencyBins(): Uint32Array {
  return new Uint32Array(LATENCY_BINS);
}

/**
 * Quantiles of merged bins, in seconds, by nearest rank; `null` when there is no sample.
 * @param bins summed counts per bin
 * @param total the sum of `bins`
 * @param qs the quantiles wanted, ascending (e.g. `[0.5, 0.95, 0.99]`)
 */
export function latencyQuantiles(bins: Uint32Array, total: number, qs: readonly number[]): (number | null)[] {
  if (total <= 0) return qs.map(() => null);
  const out: (number | null)[] = [];
  let bin = 0;
  let cumulative = bins[0] ?? 0;
  for (const q of qs) {
    const rank = Math.max(1, Math.ceil(q * total));
    while (cumulative < rank && bin < LATENCY_BINS - 1) {
      bin++;
      cumulative += bins[bin] ?? 0;
    }
    out.push(latencyBinValue(bin));
  }
  return out;
}
