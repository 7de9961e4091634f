import { describe, expect, it } from 'vitest';
import { Router } from '../../../src/routing/router.js';
import type { RouteConfig } from '../../../src/config/types.js';

const r = (name: string, path: string, host?: string): RouteConfig => ({ name, backend: 'b', match: host === undefined ? { path } : { host, path } });

describe('Router', () => {
  const router = new Router([
    r('exact-host', '/ws', 'chat.example.com'),
    r('wildcard', '/ws', '*.example.com'),
    r('api', '/api/'),
    r('ws-any-host', '/ws'),
    r('root', '/'),
  ]);
  const table: [string | undefined, string, string][] = [
    ['chat.example.com', '/ws', 'exact-host'],
    ['CHAT.Example.com:8443', '/ws/room?x=1', 'exact-host'],
    ['eu.example.com', '/ws', 'wildcard'],
    ['a.b.example.com', '/ws', 'wildcard'],
    ['example.com', '/ws', 'ws-any-host'], // *.example.com does not match the apex
    ['other.org', '/ws?token=1', 'ws-any-host'],
    ['other.org', '/wsx', 'root'], // prefixes match on segment boundaries
    ['other.org', '/api/v1', 'api'],
    ['other.org', '/api', 'root'],
    [undefined, '/ws', 'ws-any-host'],
    ['[::1]:8080', '/', 'root'],
  ];
  it.each(table)('host %s path %s → %s', (host, path, want) => {
    expect(router.match(host, path)?.name).toBe(want);
  });

  it('first match wins and no match is undefined (→ 404)', () => {
    const strict = new Router([r('a', '/x'), r('b', '/x'), r('c', '/y', 'h.example')]);
    expect(strict.match('any', '/x/1')?.name).toBe('a');
    expect(strict.match('any', '/y')).toBeUndefined();
    expect(strict.match(undefined, '/z')).toBeUndefined();
  });
});
