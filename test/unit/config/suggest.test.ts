import { describe, it, expect } from 'vitest';
import { didYouMean, editDistance } from '../../../src/config/suggest.js';

describe('editDistance', () => {
  it.each([
    ['', '', 0],
    ['port', 'port', 0],
    ['prot', 'port', 1], // transposition counts once
    ['por', 'port', 1],
    ['kitten', 'sitting', 3],
  ] as const)('%s ↔ %s = %d', (a, b, d) => {
    expect(editDistance(a, b)).toBe(d);
  });
});

describe('didYouMean', () => {
  const keys = ['listen', 'admin', 'backends', 'routes', 'heartbeat', 'timeouts', 'limits', 'max_connections', 'max_connections_per_ip'];

  it.each([
    ['lisen', 'listen'], // deletion
    ['backend', 'backends'], // prefix / one edit
    ['rotues', 'routes'], // transposition
    ['heartbaet', 'heartbeat'],
    ['Timeouts', 'timeouts'], // case
    ['maxConnections', 'max_connections'], // camelCase
    ['max-connections-per-ip', 'max_connections_per_ip'], // kebab-case
    ['heart', 'heartbeat'], // prefix of at least 3 characters
  ])('%s → %s', (input, expected) => {
    expect(didYouMean(input, keys)).toBe(expected);
  });

  it.each(['xyz', 'zz', 'telemetry', ''])('no suggestion for %j', (input) => {
    expect(didYouMean(input, keys)).toBeUndefined();
  });

  it('is stricter with short words, where two edits match almost anything', () => {
    expect(didYouMean('hots', ['host', 'port'])).toBe('host');
    expect(didYouMean('pt', ['host', 'port'])).toBeUndefined();
  });
});
