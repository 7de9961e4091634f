import { describe, it, expect } from 'vitest';
import { formatDuration, parseDuration } from '../../../src/config/duration.js';

describe('parseDuration', () => {
  it.each([
    [0, 0],
    [1500, 1500],
    [2.5, 2.5],
    ['0', 0],
    ['250', 250],
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
    ['1m30s', 90_000],
    ['1h30m', 5_400_000],
    ['2h45m30s500ms', 9_930_500],
    ['1.5s', 1500],
    ['0.5m', 30_000],
    [' 10s ', 10_000],
    ['0s', 0],
  ] as const)('%j → %d ms', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it.each(['', '   ', 'abc', '10x', 's', '1.s', '-5s', '5 s', '1m 30s', '30S', '1e3s', 'ms', '10s!', '1..5s'])('rejects %j', (input) => {
    expect(() => parseDuration(input)).toThrow(RangeError);
  });

  it('rejects negative and non-finite numbers', () => {
    expect(() => parseDuration(-1)).toThrow(RangeError);
    expect(() => parseDuration(Number.NaN)).toThrow(RangeError);
    expect(() => parseDuration(Number.POSITIVE_INFINITY)).toThrow(RangeError);
  });

  it('rejects durations too large to be exact', () => {
    expect(() => parseDuration('999999999999999d')).toThrow(/too large/);
  });

  it('names the value and the accepted forms in its error', () => {
    expect(() => parseDuration('10x')).toThrow(
      'invalid duration "10x": use a number of milliseconds or a string like 500ms, 30s, 5m, 1h or 1m30s',
    );
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0'],
    [500, '500ms'],
    [1000, '1s'],
    [1500, '1s500ms'],
    [90_000, '1m30s'],
    [3_600_000, '1h'],
    [86_400_000 + 60_000, '1d1m'],
  ])('%d ms → %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('round-trips through parseDuration', () => {
    for (const ms of [1, 999, 1000, 61_001, 3_723_004, 90_061_001]) expect(parseDuration(formatDuration(ms))).toBe(ms);
  });
});
