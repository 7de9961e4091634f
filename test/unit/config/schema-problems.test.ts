/** Problems found by the schema: shape, types, enums, ranges, durations, unknown keys. */
import { describe, it, expect } from 'vitest';
import { MINIMAL, check, problemsOf } from './config-text.js';

const pool = (extra: Record<string, unknown>) => ({ app: { servers: [{ url: 'ws://127.0.0.1:9001' }], ...extra } });
const monitor = (steps: unknown[]) => [{ name: 'm', url: 'ws://127.0.0.1:8080', steps }];

describe('unknown keys', () => {
  it('names the key with a did-you-mean hint when one is close', () => {
    expect(problemsOf({ listen: { prot: 8080, port: 8080 } })).toEqual(['listen.prot: unknown key — did you mean "port"?']);
    expect(problemsOf({ timeout: {} })).toEqual(['timeout: unknown key — did you mean "timeouts"?']);
    expect(problemsOf({ limits: { maxConnections: 10 } })).toEqual(['limits.maxConnections: unknown key — did you mean "max_connections"?']);
    expect(problemsOf({ backends: { app: { servers: [{ url: 'ws://127.0.0.1:9001', wieght: 2 }] } } })).toEqual([
      'backends.app.servers[0].wieght: unknown key — did you mean "weight"?',
    ]);
  });

  it('points at the section a key belongs to when it is written one level too high', () => {
    expect(problemsOf({ max_connections: 10 })).toEqual(['max_connections: unknown key — did you mean "limits.max_connections"?']);
    expect(problemsOf({ backends: { app: { servers: [{ url: 'ws://h' }], interval: '5s' } } })).toEqual([
      'backends.app.interval: unknown key — did you mean "health.interval"?',
    ]);
  });

  it('lists the allowed keys when nothing is close', () => {
    expect(problemsOf({ admin: { zzz: 1 } })).toEqual(['admin.zzz: unknown key — allowed here: enabled, host, port']);
  });

  it('reports each unknown key of one object on its own line', () => {
    expect(problemsOf({ heartbeat: { intreval: '5s', timeuot: '1s' } })).toEqual([
      'heartbeat.intreval: unknown key — did you mean "interval"?',
      'heartbeat.timeuot: unknown key — did you mean "timeout"?',
    ]);
  });

  it('checks the keys of each monitor step against its action', () => {
    expect(problemsOf({ monitors: monitor([{ action: 'receive', timeout: 5 }]) })).toEqual([
      'monitors[0].steps[0].timeout: unknown key — did you mean "timeout_ms"?',
    ]);
    expect(problemsOf({ monitors: monitor([{ action: 'connect', message: 'x' }]) })).toEqual([
      'monitors[0].steps[0].message: unknown key — allowed here: action, assert_connected_within_ms',
    ]);
  });
});

describe('required keys', () => {
  it('names each missing top-level section with an example', () => {
    expect(check({}).problems).toEqual([
      'listen: required — add e.g. "listen: { host: 0.0.0.0, port: 8080 }"',
      'backends: required — add at least one pool, e.g. "backends: { app: { servers: [{ url: ws://127.0.0.1:9001 }] } }"',
      'routes: required — add at least one route, e.g. "routes: [{ match: { path: / }, backend: app }]"',
    ]);
  });

  it('wants a port, at least one pool, one server and one route', () => {
    expect(problemsOf({ listen: { host: '0.0.0.0' } })).toEqual(['listen.port: required — add the port to listen on, e.g. "port: 8080"']);
    expect(problemsOf({ backends: {} })).toEqual([
      'backends: needs at least one pool — e.g. backends: { app: { servers: [{ url: ws://127.0.0.1:9001 }] } }',
    ]);
    expect(problemsOf({ backends: { app: { servers: [] } } })).toEqual(['backends.app.servers: needs at least 1 entry']);
    expect(problemsOf({ routes: [] })).toEqual(['routes: needs at least 1 entry']);
    expect(problemsOf({ routes: [{ match: { path: '/' } }] })).toEqual(['routes[0].backend: required — add "backend"']);
  });

  it('treats a key without a value as absent', () => {
    const r = check({ ...MINIMAL, admin: null, telemetry: { otlp: null } });
    expect(r.problems).toEqual([]);
    expect(r.config?.admin.port).toBe(9090);
    expect(r.config?.telemetry.otlp).toBeUndefined();
    expect(problemsOf({ listen: { port: null } })).toEqual(['listen.port: required — add the port to listen on, e.g. "port: 8080"']);
  });
});

describe('types, enums and ranges', () => {
  it('says what was expected and what was found', () => {
    expect(problemsOf({ listen: { port: 'eighty' } })).toEqual(['listen.port: expected a number, got "eighty"']);
    expect(problemsOf({ listen: { port: 80.5 } })).toEqual(['listen.port: expected a whole number, got 80.5']);
    expect(problemsOf({ watch: 'yes' })).toEqual(['watch: expected true or false, got "yes"']);
    expect(problemsOf({ routes: { backend: 'app' } })).toEqual(['routes: expected a list, got a mapping']);
    expect(problemsOf({ listen: 8080 })).toEqual(['listen: expected a mapping (key: value), got 8080']);
  });

  it('checks number ranges', () => {
    expect(problemsOf({ listen: { port: 70000 } })).toEqual(['listen.port: must be at most 65535 (got 70000)']);
    expect(problemsOf({ limits: { max_connections: -1 } })).toEqual(['limits.max_connections: must be at least 0 (got -1)']);
    expect(problemsOf({ limits: { max_header_bytes: 100 } })).toEqual(['limits.max_header_bytes: must be at least 1024 (got 100)']);
    expect(problemsOf({ backends: { app: { servers: [{ url: 'ws://a', weight: 0 }] } } })).toEqual([
      'backends.app.servers[0].weight: must be at least 1 (got 0)',
    ]);
  });

  it('takes workers as a count or "auto"', () => {
    expect(check({ ...MINIMAL, workers: 'auto' }).config?.workers).toBe('auto');
    expect(check({ ...MINIMAL, workers: '3' }).config?.workers).toBe(3);
    expect(problemsOf({ workers: 0 })).toEqual(['workers: must be at least 1 (got 0)']);
    expect(problemsOf({ workers: 'many' })).toEqual(['workers: expected a whole number of processes or "auto", got "many"']);
    expect(problemsOf({ workers: 1.5 })).toEqual(['workers: expected a whole number of processes or "auto", got 1.5']);
  });

  it('checks ratios are in (0, 1]', () => {
    expect(problemsOf({ alerts: { abnormal_close_ratio: 0 } })).toEqual([
      'alerts.abnormal_close_ratio: must be more than 0 and at most 1 — write a share, e.g. 0.05 for 5%',
    ]);
    expect(problemsOf({ alerts: { abnormal_disconnect_ratio: 5 } })).toEqual([
      'alerts.abnormal_disconnect_ratio: must be more than 0 and at most 1 — write a share, e.g. 0.05 for 5%',
    ]);
    expect(problemsOf({ alerts: { abnormal_close_ratio: 1 } })).toEqual([]);
  });

  it('lists the allowed values of an enum, with a did-you-mean', () => {
    expect(problemsOf({ backends: pool({ balance: 'least-conn' }) })).toEqual([
      'backends.app.balance: "least-conn" is not one of round-robin, least-connections, random, hash — did you mean "least-connections"?',
    ]);
    expect(problemsOf({ log: { level: 'verbose' } })).toEqual(['log.level: "verbose" is not one of debug, info, warn, error']);
    expect(problemsOf({ shutdown: { close_code: 1000 } })).toEqual(['shutdown.close_code: 1000 is not one of 1001, 1012']);
    expect(problemsOf({ telemetry: { close_codes: 'group' } })).toEqual([
      'telemetry.close_codes: "group" is not one of exact, grouped — did you mean "grouped"?',
    ]);
  });

  it('checks durations', () => {
    expect(problemsOf({ timeouts: { drain: '30 sec' } })).toEqual([
      'timeouts.drain: invalid duration "30 sec" — use a number of milliseconds or a string like 500ms, 30s, 5m, 1h or 1m30s',
    ]);
    expect(problemsOf({ timeouts: { idle: true } })).toEqual([
      'timeouts.idle: expected a duration, got true — use a number of milliseconds or a string like 500ms, 30s, 5m, 1h or 1m30s',
    ]);
    expect(problemsOf({ timeouts: { handshake: 0 } })).toEqual(['timeouts.handshake: must be more than 0 — e.g. 10s']);
  });
});

describe('affinity keys', () => {
  it.each([
    ['client_ip', 'backends.app.affinity.key: unknown affinity key "client_ip" — did you mean "client-ip"?'],
    ['headers:X-User', 'backends.app.affinity.key: unknown affinity key "headers:X-User" — did you mean "header:X-User"?'],
    ['session', 'backends.app.affinity.key: unknown affinity key "session" — use client-ip, header:NAME, cookie:NAME or query:NAME'],
    ['cookie:', 'backends.app.affinity.key: "cookie:" needs a name — e.g. cookie:session'],
  ])('%s', (key, text) => {
    expect(problemsOf({ backends: pool({ affinity: { key } }) })).toEqual([text]);
  });
});

describe('monitor steps', () => {
  it('names an unknown action with a did-you-mean', () => {
    expect(problemsOf({ monitors: monitor([{ action: 'conect' }]) })).toEqual([
      'monitors[0].steps[0].action: unknown action "conect" — did you mean "connect"?',
    ]);
    expect(problemsOf({ monitors: monitor([{ action: 'dance' }]) })).toEqual([
      'monitors[0].steps[0].action: unknown action "dance" — use one of connect, send, receive, measure_latency, disconnect, wait, ping',
    ]);
    expect(problemsOf({ monitors: monitor([{ message: 'x' }]) })).toEqual([
      'monitors[0].steps[0].action: required — one of connect, send, receive, measure_latency, disconnect, wait, ping',
    ]);
  });

  it('wants the keys an action needs', () => {
    expect(problemsOf({ monitors: monitor([{ action: 'send' }]) })).toEqual([
      'monitors[0].steps[0].message: required — the text to send, e.g. message: \'{"type":"ping"}\'',
    ]);
    expect(problemsOf({ monitors: monitor([{ action: 'receive', assert_json: { equals: 1 } }]) })).toEqual([
      'monitors[0].steps[0].assert_json.path: required — add "path"',
    ]);
    expect(problemsOf({ monitors: monitor([{ action: 'disconnect', expected_close_code: 999 }]) })).toEqual([
      'monitors[0].steps[0].expected_close_code: must be at least 1000 (got 999)',
    ]);
    expect(problemsOf({ monitors: monitor([]) })).toEqual(['monitors[0].steps: needs at least 1 entry']);
  });

  it('checks assertions', () => {
    const m = [{ name: 'm', url: 'ws://a', assertions: [{ type: 'connection_latency', operator: 'lt', value: 5 }] }];
    expect(problemsOf({ monitors: m })).toEqual([
      'monitors[0].assertions[0].operator: "lt" is not one of less_than, greater_than, equals',
    ]);
  });
});
