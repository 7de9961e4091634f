/** Reading the sticky key from an upgrade request. */
import { describe, expect, it } from 'vitest';
import { affinityKeyOf, type KeySource } from '../../../src/balance/affinity-key.js';
import type { AffinityKey } from '../../../src/config/types.js';

const header = (name: string): AffinityKey => ({ kind: 'header', name });
const cookie = (name: string): AffinityKey => ({ kind: 'cookie', name });
const query = (name: string): AffinityKey => ({ kind: 'query', name });

describe('affinityKeyOf', () => {
  it.each<[string, AffinityKey, KeySource, string | undefined]>([
    ['client-ip', { kind: 'client-ip' }, { headers: {} }, '203.0.113.9'],
    ['a header', header('x-user'), { headers: { 'x-user': 'u-1' } }, 'u-1'],
    ['a repeated header, joined', header('x-user'), { headers: { 'x-user': ['u-1', 'u-2'] } }, 'u-1, u-2'],
    ['a missing header', header('x-user'), { headers: {} }, undefined],
    ['an empty header', header('x-user'), { headers: { 'x-user': '' } }, undefined],
    ['a cookie among others', cookie('sid'), { headers: { cookie: 'theme=dark; sid=abc123; lang=en' } }, 'abc123'],
    ['a quoted cookie', cookie('sid'), { headers: { cookie: 'sid="abc"' } }, 'abc'],
    ['a cookie whose name is a suffix of another', cookie('sid'), { headers: { cookie: 'xsid=1; sid=2' } }, '2'],
    ['the first of two equal cookies', cookie('sid'), { headers: { cookie: 'sid=1; sid=2' } }, '1'],
    ['a cookie value with "="', cookie('t'), { headers: { cookie: 't=a=b' } }, 'a=b'],
    ['a missing cookie', cookie('sid'), { headers: { cookie: 'theme=dark' } }, undefined],
    ['no Cookie header', cookie('sid'), { headers: {} }, undefined],
    ['a query parameter', query('room'), { headers: {}, url: '/ws?x=1&room=lobby%201' }, 'lobby 1'],
    ['a query parameter before a fragment', query('room'), { headers: {}, url: '/ws?room=7#frag' }, '7'],
    ['an empty query parameter', query('room'), { headers: {}, url: '/ws?room=' }, undefined],
    ['no query at all', query('room'), { headers: {}, url: '/ws' }, undefined],
  ])('reads %s', (_what, spec, req, expected) => {
    expect(affinityKeyOf(spec, req, '203.0.113.9')).toBe(expected);
  });

  it('treats an unknown client address as no key', () => {
    expect(affinityKeyOf({ kind: 'client-ip' }, { headers: {} }, '')).toBeUndefined();
  });
});
