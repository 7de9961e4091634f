import { describe, expect, it } from 'vitest';
import { LATENCY_BINS, latencyBin, latencyBinValue, latencyQuantiles, newLatencyBins } from '../../../src/telemetry/latency-histogram.js';

describe('latency histogram', () => {
  it('maps values to monotonic bins and clamps the range', () => {
    expect(latencyBin(0)).toBe(0);
    expect(latencyBin(-1)).toBe(0);
    expect(latencyBin(Number.NaN)).toBe(0);
    expect(latencyBin(1e9)).toBe(LATENCY_BINS - 1);
    let last = 0;
    for (let v = 2e-6; v < 1000; v *= 1.07) {
      const b = latencyBin(v);
      expect(b).toBeGreaterThanOrEqual(last);
      last = b;
      // The bin's representative value is within one bin width (≈ 9 %) of the value.
      expect(Math.abs(latencyBinValue(b) / v - 1)).toBeLessThan(0.1);
    }
  });

  it('returns nearest-rank quantiles', () => {
    const bins = newLatencyBins();
    for (let i = 1; i <= 1000; i++) bins[latencyBin(i / 1e5)]!++;
    const [p50, p99] = latencyQuantiles(bins, 1000, [0.5, 0.99]);
    expect(p50! / 0.005).toBeGreaterThan(0.95);
    expect(p50! / 0.005).toBeLessThan(1.05);
    expect(p99! / 0.0099).toBeGreaterThan(0.95);
    expect(p99! / 0.0099).toBeLessThan(1.05);
    expect(latencyQuantiles(bins, 0, [0.5])).toEqual([null]);
  });
});
