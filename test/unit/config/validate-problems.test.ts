/** Problems found by the cross-field checks (validate.ts), one exact line each. */
import { describe, it, expect } from 'vitest';
import { fileURLToPath } from 'node:url';
import { checkConfigFile, checkConfigText } from '../../../src/config/load.js';
import { problemsOf } from './config-text.js';

const FIXTURES = fileURLToPath(new URL('../../fixtures/config/', import.meta.url));
const servers = (...urls: string[]) => urls.map((url) => ({ url }));

describe('routes', () => {
  it('names an unknown backend and lists the known ones', () => {
    const backends = { a: { servers: servers('ws://h:1') }, b: { servers: servers('ws://h:2') } };
    expect(problemsOf({ backends, routes: [{ backend: 'a' }, { name: 'chat', backend: 'chat' }] })).toEqual([
      'routes[1].backend: unknown backend "chat" (known: a, b)',
    ]);
    expect(problemsOf({ backends, routes: [{ backend: 'aa' }] })).toEqual(['routes[0].backend: unknown backend "aa" (known: a, b) — did you mean "a"?']);
  });

  it('wants unique route names', () => {
    expect(problemsOf({ routes: [{ name: 'r', backend: 'app' }, { name: 'r', backend: 'app', match: { path: '/x' } }] })).toEqual([
      'routes[1].name: duplicate route name "r" (also routes[0].name) — give each route a unique name',
    ]);
    expect(problemsOf({ routes: [{ backend: 'app' }, { backend: 'app', match: { path: '/x' } }] })).toEqual([
      'routes[1]: duplicate route name "app" (also routes[0]) — an unnamed route takes its backend\'s name: give this route a unique "name"',
    ]);
  });

  it('wants match.path to start with /', () => {
    expect(problemsOf({ routes: [{ backend: 'app', match: { path: 'ws' } }] })).toEqual(['routes[0].match.path: "ws" must start with "/" — write "/ws"']);
  });

  it.each([
    ['chat.example.com', undefined],
    ['*.example.com', undefined],
    ['localhost', undefined],
    ['10.0.0.1', undefined],
    ['[::1]', undefined],
    ['chat.example.com:8080', '"chat.example.com:8080" has a port — routes match the host name without its port: write "chat.example.com"'],
    ['a.*.com', '"a.*.com" is not a valid host pattern — a wildcard may only be a leading "*.", e.g. "*.example.com"'],
    ['*', '"*" matches every host — remove "host" to match any host'],
    ['https://chat.example.com/ws', '"https://chat.example.com/ws" is a URL, not a host — write only the host, e.g. "chat.example.com"'],
    ['bad host', '"bad host" is not a valid host name — write an exact host like chat.example.com or a pattern like *.example.com'],
  ])('match.host %j', (host, text) => {
    const problems = problemsOf({ routes: [{ backend: 'app', match: { host } }] });
    expect(problems).toEqual(text === undefined ? [] : [`routes[0].match.host: ${text}`]);
  });

  it.each([
    ['https://app.example.com', undefined],
    ['http://localhost:3000', undefined],
    ['app.example.com', '"app.example.com" is not a full origin — write scheme://host[:port], e.g. "https://app.example.com"'],
    ['https://app.example.com/', '"https://app.example.com/" is not an origin as browsers send it — write "https://app.example.com"'],
    ['https://app.example.com/chat', '"https://app.example.com/chat" is not an origin as browsers send it — write "https://app.example.com"'],
    ['https://App.Example.com', '"https://App.Example.com" is not an origin as browsers send it — write "https://app.example.com"'],
    ['https://app.example.com:443', '"https://app.example.com:443" is not an origin as browsers send it — write "https://app.example.com"'],
  ])('origins %j', (origin, text) => {
    const problems = problemsOf({ routes: [{ backend: 'app', origins: [origin] }] });
    expect(problems).toEqual(text === undefined ? [] : [`routes[0].origins[0]: ${text}`]);
  });

  it('refuses an empty origins list', () => {
    expect(problemsOf({ routes: [{ backend: 'app', origins: [] }] })).toEqual([
      'routes[0].origins: an empty list refuses every browser — list the allowed origins, or remove "origins" to allow any',
    ]);
  });
});

describe('backends', () => {
  it.each([
    ['http://10.0.0.11:9000', '"http://10.0.0.11:9000" is not a WebSocket URL — use ws:// instead of http://'],
    ['https://10.0.0.11:9000', '"https://10.0.0.11:9000" is not a WebSocket URL — use wss:// instead of https://'],
    ['10.0.0.11:9000', '"10.0.0.11:9000" is not a ws:// or wss:// URL — write "ws://10.0.0.11:9000"'],
    ['ftp://x', 'scheme "ftp:" is not a WebSocket scheme — use ws:// or wss://'],
    ['ws://', '"ws://" is not a valid URL — write it as ws://host:port/path'],
    ['ws://x/#a', '"ws://x/#a" has a fragment — remove "#a" (fragments are never sent)'],
  ])('server url %j', (url, text) => {
    expect(problemsOf({ backends: { chat: { servers: [{ url }] } }, routes: [{ backend: 'chat' }] })).toEqual([
      `backends.chat.servers[0].url: ${text}`,
    ]);
  });

  it('wants server ids unique within and across pools (they are metric attributes)', () => {
    const backends = {
      a: { servers: [{ id: 's1', url: 'ws://h:1' }, { id: 's1', url: 'ws://h:2' }] },
      b: { servers: [{ id: 's1', url: 'ws://h:3' }] },
    };
    expect(problemsOf({ backends, routes: [{ backend: 'a' }] })).toEqual([
      'backends.a.servers[1].id: duplicate server id "s1" (also backends.a.servers[0].id) — server ids are metric attributes: give each server a unique id',
      'backends.b.servers[0].id: duplicate server id "s1" (also backends.a.servers[0].id) — server ids are metric attributes: give each server a unique id',
    ]);
  });

  it('explains a clash of default ids (host:port)', () => {
    const backends = { a: { servers: servers('ws://h:1') }, b: { servers: servers('ws://h:1/other') } };
    expect(problemsOf({ backends, routes: [{ backend: 'a' }] })).toEqual([
      'backends.b.servers[0]: duplicate server id "h:1" (also backends.a.servers[0].url) — the id defaults to the URL\'s host:port; give this server an explicit unique "id"',
    ]);
  });

  it('checks health timings and path', () => {
    expect(problemsOf({ backends: { app: { servers: servers('ws://h:1'), health: { interval: '2s', timeout: '3s', path: 'health' } } } })).toEqual([
      'backends.app.health.timeout: 3s must be shorter than backends.app.health.interval (2s) — lower the timeout or raise the interval',
      'backends.app.health.path: "health" must start with "/" — write "/health"',
    ]);
  });

  it('checks id_header is a header name', () => {
    expect(problemsOf({ backends: { app: { servers: servers('ws://h:1'), id_header: 'X Backend' } } })).toEqual([
      'backends.app.id_header: "X Backend" is not a valid header name — use letters, digits and dashes, e.g. X-Backend-Id',
    ]);
  });

  it('checks tls.ca is readable', () => {
    const r = checkConfigText('listen: { port: 1 }\nbackends: { app: { servers: [{ url: "wss://h" }], tls: { ca: missing-ca.pem } } }\nroutes: [{ backend: app }]\n', {
      path: `${FIXTURES}inline.yaml`,
      env: {},
    });
    expect(r.problems).toEqual([
      `backends.app.tls.ca: cannot read "${FIXTURES}missing-ca.pem" (no such file) — check the path; relative paths start from ${FIXTURES.replace(/\/$/, '')}`,
    ]);
  });
});

describe('trusted_proxies', () => {
  it('accepts IPv4/IPv6 addresses and CIDR ranges', () => {
    expect(problemsOf({ trusted_proxies: ['10.0.0.0/8', '192.168.1.10', '::1', 'fd00::/8', '0.0.0.0/0', '::/0'] })).toEqual([]);
  });

  it('names each bad entry', () => {
    expect(problemsOf({ trusted_proxies: ['10.0.0.0/33', 'fd00::/129', 'proxy.local', '10.0.0.0/8/8', '10.0.0.0/x'] })).toEqual([
      'trusted_proxies[0]: "10.0.0.0/33" is not a valid CIDR range — an IPv4 prefix length is 0–32',
      'trusted_proxies[1]: "fd00::/129" is not a valid CIDR range — an IPv6 prefix length is 0–128',
      'trusted_proxies[2]: "proxy.local" is not an IP address or CIDR range — write e.g. 10.0.0.0/8, 192.168.1.10 or fd00::/8',
      'trusted_proxies[3]: "10.0.0.0/8/8" is not an IP address or CIDR range — write e.g. 10.0.0.0/8, 192.168.1.10 or fd00::/8',
      'trusted_proxies[4]: "10.0.0.0/x" is not a valid CIDR range — an IPv4 prefix length is 0–32',
    ]);
  });
});

describe('heartbeat', () => {
  it('accepts a timeout longer than the interval (one ping outstanding per leg at most)', () => {
    expect(problemsOf({ heartbeat: { interval: '5s', timeout: '10s' } })).toEqual([]);
  });

  it('wants a timeout while heartbeats are on, and nothing when they are off', () => {
    expect(problemsOf({ heartbeat: { timeout: 0 } })).toEqual([
      'heartbeat.timeout: must be more than 0 while heartbeats are on — e.g. 10s, or set heartbeat.interval: 0 to turn heartbeats off',
    ]);
    expect(problemsOf({ heartbeat: { interval: 0, timeout: '1h' } })).toEqual([]);
  });
});

describe('listen and admin', () => {
  it('checks the TLS files exist, relative to the config file', () => {
    const r = checkConfigText('listen: { port: 1, tls: { cert: nope/cert.pem, key: tls/key.pem } }\nbackends: { app: { servers: [{ url: "ws://h" }] } }\nroutes: [{ backend: app }]\n', {
      path: `${FIXTURES}inline.yaml`,
      env: {},
    });
    expect(r.problems).toEqual([
      `listen.tls.cert: cannot read "${FIXTURES}nope/cert.pem" (no such file) — check the path; relative paths start from ${FIXTURES.replace(/\/$/, '')}`,
    ]);
  });

  it('checks the certificate and key belong together', () => {
    const r = checkConfigText('listen: { port: 1, tls: { cert: tls/cert.pem, key: tls/other-key.pem } }\nbackends: { app: { servers: [{ url: "ws://h" }] } }\nroutes: [{ backend: app }]\n', {
      path: `${FIXTURES}inline.yaml`,
      env: {},
    });
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]).toMatch(/^listen\.tls: the certificate and key do not load together \(.+\) — check that key belongs to cert and both are PEM files$/);
  });

  it('accepts a matching pair', () => {
    expect(checkConfigFile(`${FIXTURES}tls.yaml`, {}).problems).toEqual([]);
  });

  it('refuses an admin port equal to the listen port on an overlapping address', () => {
    expect(problemsOf({ admin: { port: 8080 } })).toEqual([
      'admin.port: 8080 is also listen.port — pick another port for the admin server (or set admin.enabled: false)',
    ]);
    expect(problemsOf({ admin: { port: 8080, enabled: false } })).toEqual([]);
    expect(problemsOf({ listen: { host: '10.0.0.1', port: 8080 }, admin: { host: '127.0.0.1', port: 8080 } })).toEqual([]);
  });

  it('refuses a URL as a listen host', () => {
    expect(problemsOf({ listen: { host: 'http://0.0.0.0', port: 8080 } })).toEqual([
      'listen.host: "http://0.0.0.0" is not a host name or IP address — write e.g. 0.0.0.0, 127.0.0.1 or ::',
    ]);
  });
});

describe('telemetry', () => {
  it('wants an http(s) OTLP endpoint and valid header names', () => {
    expect(problemsOf({ telemetry: { otlp: { endpoint: 'grpc://c:4317', headers: { 'Bad Header': 'x' } } } })).toEqual([
      'telemetry.otlp.endpoint: scheme "grpc:" is not supported — OTLP/HTTP needs an http:// or https:// URL',
      'telemetry.otlp.headers["Bad Header"]: is not a valid header name — use letters, digits and dashes, e.g. Authorization',
    ]);
  });
});

describe('monitors', () => {
  const m = (extra: Record<string, unknown>) => [{ name: 'm', url: 'ws://127.0.0.1:8080', ...extra }];

  it('wants ws/wss urls', () => {
    expect(problemsOf({ monitors: m({ url: 'https://chat.example.com/health' }) })).toEqual([
      'monitors[0].url: "https://chat.example.com/health" is not a WebSocket URL — use wss:// instead of https://',
    ]);
  });

  it('wants unique names (they are metric attributes)', () => {
    expect(problemsOf({ monitors: [...m({}), ...m({})] })).toEqual([
      'monitors[1].name: duplicate monitor name "m" (also monitors[0].name) — give each monitor a unique name',
    ]);
  });

  it('refuses a timeout longer than the interval', () => {
    expect(problemsOf({ monitors: m({ interval: '5s', timeout: '10s' }) })).toEqual([
      'monitors[0].timeout: 10s is longer than monitors[0].interval (5s) — runs would overlap: lower the timeout or raise the interval',
    ]);
  });

  it('compiles assert_message_matches', () => {
    expect(problemsOf({ monitors: m({ steps: [{ action: 'receive', assert_message_matches: '(' }] }) })).toEqual([
      'monitors[0].steps[0].assert_message_matches: invalid regular expression: /(/: Unterminated group — write a JavaScript regular expression without the surrounding slashes',
    ]);
  });

  it('wants exactly one of ms and duration on wait', () => {
    expect(problemsOf({ monitors: m({ steps: [{ action: 'wait' }, { action: 'wait', ms: 1, duration: '1s' }] }) })).toEqual([
      'monitors[0].steps[0]: wait needs "ms" or "duration" — e.g. { action: wait, duration: 2s }',
      'monitors[0].steps[1]: wait takes "ms" or "duration", not both — e.g. { action: wait, duration: 2s }',
    ]);
  });

  it('checks header names and subprotocols', () => {
    expect(problemsOf({ monitors: m({ headers: { 'X Y': '1' }, subprotocols: ['chat v1'] }) })).toEqual([
      'monitors[0].headers["X Y"]: is not a valid header name — use letters, digits and dashes, e.g. Authorization',
      'monitors[0].subprotocols[0]: "chat v1" is not a valid subprotocol name — use a token without spaces or commas, e.g. chat.v1',
    ]);
  });
});

describe('a file with several problems', () => {
  it('lists them all, one line each', () => {
    expect(checkConfigFile(`${FIXTURES}invalid.yaml`, {}).problems).toEqual([
      'backends.b.servers[0].url: "http://127.0.0.1:9002" is not a WebSocket URL — use ws:// instead of http://',
      'routes[1].backend: unknown backend "chat" (known: a, b)',
    ]);
  });
});
