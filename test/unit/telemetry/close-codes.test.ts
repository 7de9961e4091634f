import { describe, expect, it } from 'vitest';
import { BoundedLabel, isAbnormalCloseCode, normalizeCloseCode } from '../../../src/telemetry/close-codes.js';

describe('normalizeCloseCode', () => {
  it('keeps every registered code 1000–1015 in both modes', () => {
    for (let c = 1000; c <= 1015; c++) {
      expect(normalizeCloseCode(c, 'exact')).toBe(c);
      expect(normalizeCloseCode(c, 'grouped')).toBe(c);
    }
  });

  it('keeps or groups application codes', () => {
    expect(normalizeCloseCode(3000, 'exact')).toBe(3000);
    expect(normalizeCloseCode(3500, 'exact')).toBe(3500);
    expect(normalizeCloseCode(3500, 'grouped')).toBe(3000);
    expect(normalizeCloseCode(4000, 'grouped')).toBe(4000);
    expect(normalizeCloseCode(4999, 'grouped')).toBe(4000);
  });

  it('folds forbidden and unassigned codes into 0', () => {
    for (const c of [0, 1, 999, 1016, 2000, 2999, 5000, 65535, 1000.5, Number.NaN]) {
      expect(normalizeCloseCode(c, 'exact')).toBe(0);
      expect(normalizeCloseCode(c, 'grouped')).toBe(0);
    }
  });

  it('knows the abnormal codes', () => {
    expect([1000, 1001, 1005, 1006, 1011, 1012, 1013, 1014].filter(isAbnormalCloseCode)).toEqual([1006, 1011, 1012, 1013]);
  });
});

describe('BoundedLabel', () => {
  it('passes documented values and folds odd or excess ones into _OTHER', () => {
    const label = new BoundedLabel(3);
    expect(label.of('no_route')).toBe('no_route');
    expect(label.of('connect ECONNREFUSED 10.0.0.1:80')).toBe('_OTHER');
    expect(label.of('ECONNRESET')).toBe('ECONNRESET');
    expect(label.of('backend_timeout')).toBe('backend_timeout');
    expect(label.of('fourth_value')).toBe('_OTHER');
    expect(label.of('no_route')).toBe('no_route');
  });
});
