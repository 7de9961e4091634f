/** Loading: defaults, formats, environment, OTel variables, normalisation and freezing. */
import { describe, it, expect } from 'vitest';
import { fileURLToPath } from 'node:url';
import { ConfigError, checkConfigFile, checkConfigText, loadConfigFile, parseConfigText } from '../../../src/config/load.js';
import type { Config } from '../../../src/config/types.js';
import { MINIMAL, check } from './config-text.js';

const FIXTURES = fileURLToPath(new URL('../../fixtures/config/', import.meta.url));

/** Everything a minimal config gets by default (SPEC §3). */
const MINIMAL_CONFIG = {
  listen: { host: '0.0.0.0', port: 8080 },
  admin: { enabled: true, host: '127.0.0.1', port: 9090 },
  backends: {
    app: {
      name: 'app',
      balance: 'round-robin',
      servers: [{ id: '127.0.0.1:9001', url: new URL('ws://127.0.0.1:9001'), weight: 1 }],
      tls: { insecure: false },
    },
  },
  routes: [{ name: 'app', match: { path: '/' }, backend: 'app' }],
  heartbeat: { interval: 30_000, timeout: 10_000 },
  timeouts: { handshake: 10_000, idle: 0, close: 5_000, drain: 30_000, request_head: 10_000 },
  limits: { max_connections: 0, max_connections_per_ip: 0, max_message_bytes: 0, max_header_bytes: 16_384 },
  shutdown: { close_code: 1001 },
  trusted_proxies: [],
  telemetry: { service_name: 'wstap', prometheus: true, close_codes: 'exact' },
  alerts: { window: 900_000, abnormal_close_ratio: 0.05, abnormal_disconnect_ratio: 0.02 },
  log: { level: 'info', format: 'json' },
  watch: false,
  workers: 1,
  monitors: [],
};

describe('a minimal config', () => {
  it('is valid, and everything else has its default', () => {
    const config = loadConfigFile(`${FIXTURES}minimal.yaml`, {});
    expect(config).toEqual(MINIMAL_CONFIG);
    expect(config.backends.app?.servers[0]?.url).toBeInstanceOf(URL);
    expect(config.backends.app?.servers[0]?.url.href).toBe('ws://127.0.0.1:9001/');
  });

  it('gets the SPEC defaults for optional sections once they appear', () => {
    const config = parseConfigText(
      'listen: { port: 1 }\nbackends: { app: { servers: [{ url: "ws://h" }], health: {}, affinity: { key: client-ip } } }\nroutes: [{ backend: app }]\ntelemetry: { otlp: {} }\nmonitors: [{ name: m, url: "ws://h" }]\n',
      { env: {} },
    );
    expect(config.backends.app?.health).toEqual({ interval: 10_000, timeout: 3_000, path: '/', rise: 2, fall: 3 });
    expect(config.backends.app?.affinity).toEqual({ key: { kind: 'client-ip' } });
    expect(config.telemetry.otlp).toEqual({ interval: 60_000, headers: {} });
    expect(config.monitors).toEqual([
      {
        name: 'm',
        url: 'ws://h',
        interval: 60_000,
        timeout: 10_000,
        headers: {},
        subprotocols: [],
        insecure: false,
        steps: [{ action: 'connect' }, { action: 'ping' }, { action: 'disconnect', expected_close_code: 1000 }],
        assertions: [],
      },
    ]);
  });
});

describe('formats', () => {
  it('reads JSON files as JSON', () => {
    expect(loadConfigFile(`${FIXTURES}minimal.json`, {})).toEqual(MINIMAL_CONFIG);
  });

  it('accepts JSON text in a YAML file (YAML is a superset)', () => {
    expect(parseConfigText(JSON.stringify(MINIMAL), { path: 'x.yaml', env: {} })).toEqual(MINIMAL_CONFIG);
  });

  it('reports a JSON syntax error with its line and column', () => {
    expect(checkConfigText('{\n  "listen": { "port": 1 },\n}', { path: 'bad.json', env: {} }).problems).toEqual([
      expect.stringMatching(/^bad\.json:3:1: invalid JSON \(.+\) — fix the JSON syntax$/),
    ]);
  });

  it('reports YAML syntax errors with their line and column', () => {
    expect(checkConfigText('listen:\n  port: 1\n port: 2\n', { path: 'bad.yaml', env: {} }).problems).toEqual([
      'bad.yaml:3:1: All mapping items must start at the same column — fix the YAML syntax',
    ]);
    expect(checkConfigText('listen: { port: 1 }\nlisten: { port: 2 }\n', { path: 'dup.yaml', env: {} }).problems).toEqual([
      'dup.yaml:2:1: Map keys must be unique — fix the YAML syntax',
    ]);
  });

  it('reports an empty file, and a file that is not a mapping', () => {
    expect(checkConfigText('# nothing\n', { path: 'e.yaml', env: {} }).problems).toEqual([
      'e.yaml: the config file is empty — start from config/wstap.yaml (listen, backends and routes are required)',
    ]);
    expect(checkConfigText('- a\n- b\n', { env: {} }).problems).toEqual(['(root): expected a mapping (key: value), got a list']);
  });

  it('reports a file it cannot read', () => {
    expect(checkConfigFile(`${FIXTURES}does-not-exist.yaml`, {}).problems).toEqual([
      `${FIXTURES}does-not-exist.yaml: cannot read the config file (no such file) — check the --config path`,
    ]);
  });
});

describe('ConfigError', () => {
  it('carries every problem and a one-line message', () => {
    let error: unknown;
    try {
      loadConfigFile(`${FIXTURES}invalid.yaml`, {});
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const ce = error as ConfigError;
    expect(ce.problems).toHaveLength(2);
    expect(ce.file).toBe(`${FIXTURES}invalid.yaml`);
    expect(ce.message).toBe(
      `invalid config ${FIXTURES}invalid.yaml: backends.b.servers[0].url: "http://127.0.0.1:9002" is not a WebSocket URL — use ws:// instead of http:// (and 1 more problem)`,
    );
    expect(ce.message).not.toContain('\n');
  });

  it('is thrown by parseConfigText too', () => {
    expect(() => parseConfigText('listen: {}', { env: {} })).toThrow(ConfigError);
  });
});

describe('${ENV} substitution', () => {
  const doc = {
    listen: { host: '${HOST:-127.0.0.1}', port: '${PORT}' },
    backends: { app: { servers: [{ url: 'ws://${BACKEND_HOST}:9001/${PREFIX:-ws}' }] } },
    routes: [{ backend: 'app', match: { path: '/$${literal}' } }],
    telemetry: { prometheus: '${PROM:-false}' },
  };

  it('substitutes string values, numbers and booleans included', () => {
    const r = check(doc, { PORT: '8081', BACKEND_HOST: 'chat-1' });
    expect(r.problems).toEqual([]);
    expect(r.config?.listen).toEqual({ host: '127.0.0.1', port: 8081 });
    expect(r.config?.backends.app?.servers[0]?.url.href).toBe('ws://chat-1:9001/ws');
    expect(r.config?.routes[0]?.match.path).toBe('/${literal}');
    expect(r.config?.telemetry.prometheus).toBe(false);
  });

  it('uses the default for an empty variable, and the value otherwise', () => {
    const r = check(doc, { PORT: '1', BACKEND_HOST: 'b', HOST: '', PREFIX: 'x' });
    expect(r.config?.listen.host).toBe('127.0.0.1');
    expect(r.config?.backends.app?.servers[0]?.url.pathname).toBe('/x');
  });

  it('names the path of an unset variable, once', () => {
    expect(check(doc, { BACKEND_HOST: 'b' }).problems).toEqual([
      'listen.port: environment variable PORT is not set — set it, or give a default: ${PORT:-value}',
    ]);
  });

  it('refuses malformed references', () => {
    expect(check({ ...MINIMAL, telemetry: { service_name: 'a${ X }b' } }).problems).toEqual([
      'telemetry.service_name: "${ X }" is not a variable reference — write ${NAME} or ${NAME:-default}, or "$${" for a literal "${"',
    ]);
    expect(check({ ...MINIMAL, telemetry: { service_name: 'a${X' } }).problems).toEqual([
      'telemetry.service_name: unterminated "${" in "a${X" — close it with "}", or write "$${" for a literal "${"',
    ]);
  });

  it('never substitutes keys', () => {
    // Had the key been substituted it would be the valid header name X-H.
    expect(check({ ...MINIMAL, telemetry: { otlp: { headers: { '${H}': 'v' } } } }, { H: 'X-H' }).problems).toEqual([
      'telemetry.otlp.headers["${H}"]: is not a valid header name — use letters, digits and dashes, e.g. Authorization',
    ]);
  });
});

describe('OpenTelemetry environment', () => {
  const otlpOf = (env: NodeJS.ProcessEnv, doc: Record<string, unknown> = MINIMAL): Config['telemetry']['otlp'] => check(doc, env).config?.telemetry.otlp;

  it('leaves OTLP off without variables', () => {
    expect(otlpOf({})).toBeUndefined();
  });

  it('turns OTLP on, without an endpoint, when an endpoint variable is set', () => {
    expect(otlpOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toEqual({ interval: 60_000, headers: {} });
    expect(otlpOf({ OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://collector:4318/v1/metrics' })).toEqual({ interval: 60_000, headers: {} });
    expect(otlpOf({ OTEL_METRICS_EXPORTER: 'otlp' })).toEqual({ interval: 60_000, headers: {} });
  });

  it('takes the interval from OTEL_METRIC_EXPORT_INTERVAL', () => {
    expect(otlpOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_METRIC_EXPORT_INTERVAL: '15000' })).toEqual({ interval: 15_000, headers: {} });
  });

  it('refuses a malformed OTEL_METRIC_EXPORT_INTERVAL', () => {
    expect(check(MINIMAL, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_METRIC_EXPORT_INTERVAL: '15s' }).problems).toEqual([
      'OTEL_METRIC_EXPORT_INTERVAL: "15s" is not a positive number of milliseconds — set it to e.g. 60000, unset it, or set telemetry.otlp.interval',
    ]);
  });

  it('stays off when the SDK is disabled or another exporter is chosen', () => {
    expect(otlpOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' })).toBeUndefined();
    expect(otlpOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_METRICS_EXPORTER: 'prometheus' })).toBeUndefined();
    expect(otlpOf({ OTEL_EXPORTER_OTLP_ENDPOINT: '' })).toBeUndefined();
  });

  it('prefers the file: its otlp block, its interval, its endpoint', () => {
    const doc = { ...MINIMAL, telemetry: { otlp: { endpoint: 'http://file:4318/v1/metrics', interval: '10s', headers: { Authorization: 'Bearer t' } } } };
    expect(otlpOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://env:4318', OTEL_METRIC_EXPORT_INTERVAL: '5000' }, doc)).toEqual({
      endpoint: 'http://file:4318/v1/metrics',
      interval: 10_000,
      headers: { Authorization: 'Bearer t' },
    });
    const noInterval = { ...MINIMAL, telemetry: { otlp: {} } };
    expect(otlpOf({ OTEL_METRIC_EXPORT_INTERVAL: '5000' }, noInterval)).toEqual({ interval: 5_000, headers: {} });
  });

  it('takes service_name from the file, else OTEL_SERVICE_NAME, else OTEL_RESOURCE_ATTRIBUTES, else wstap', () => {
    const name = (env: NodeJS.ProcessEnv, doc: Record<string, unknown> = MINIMAL) => check(doc, env).config?.telemetry.service_name;
    const inFile = { ...MINIMAL, telemetry: { service_name: 'from-file' } };
    expect(name({ OTEL_SERVICE_NAME: 'from-env' }, inFile)).toBe('from-file');
    expect(name({ OTEL_SERVICE_NAME: 'from-env', OTEL_RESOURCE_ATTRIBUTES: 'service.name=from-attrs' })).toBe('from-env');
    expect(name({ OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod,service.name=from%20attrs' })).toBe('from attrs');
    expect(name({})).toBe('wstap');
  });
});

describe('normalisation', () => {
  it('parses affinity keys (header names lower-cased)', () => {
    const key = (k: string) => check({ ...MINIMAL, backends: { app: { servers: [{ url: 'ws://h' }], affinity: { key: k } } } }).config?.backends.app?.affinity?.key;
    expect(key('client-ip')).toEqual({ kind: 'client-ip' });
    expect(key('header:X-User-Id')).toEqual({ kind: 'header', name: 'x-user-id' });
    expect(key('cookie:SessionId')).toEqual({ kind: 'cookie', name: 'SessionId' });
    expect(key('query:room')).toEqual({ kind: 'query', name: 'room' });
  });

  it('resolves TLS paths from the config file folder', () => {
    const config = loadConfigFile(`${FIXTURES}tls.yaml`, {});
    expect(config.listen.tls).toEqual({ cert: `${FIXTURES}tls/cert.pem`, key: `${FIXTURES}tls/key.pem` });
    expect(config.backends.app?.tls).toEqual({ ca: `${FIXTURES}tls/cert.pem`, insecure: false });
  });

  it('lower-cases route hosts and keeps the file order of pools and routes', () => {
    const config = check({
      listen: { port: 1 },
      backends: { z: { servers: [{ url: 'ws://h:1' }] }, a: { servers: [{ url: 'ws://h:2' }] } },
      routes: [{ name: 'r2', backend: 'z', match: { host: 'Chat.Example.com', path: '/chat' } }, { name: 'r1', backend: 'a' }],
    }).config;
    expect(Object.keys(config?.backends ?? {})).toEqual(['z', 'a']);
    expect(config?.routes.map((r) => r.name)).toEqual(['r2', 'r1']);
    expect(config?.routes[0]?.match).toEqual({ host: 'chat.example.com', path: '/chat' });
  });

  it('normalises every monitor step', () => {
    const config = loadConfigFile(`${FIXTURES}monitors.yaml`, {});
    const [full, defaults] = config.monitors;
    expect(full?.headers).toEqual({ Authorization: 'Bearer t0ken', 'X-Version': '2' });
    expect(full?.subprotocols).toEqual(['chat.v1']);
    expect(full?.insecure).toBe(true);
    expect(full?.interval).toBe(30_000);
    expect(full?.steps).toEqual([
      { action: 'connect', assert_connected_within_ms: 1000 },
      { action: 'send', message: '{"type":"ping"}' },
      { action: 'send', message: '{"type":"ping","id":7}' },
      {
        action: 'receive',
        timeout_ms: 3000,
        assert_message_contains: '"type":"pong"',
        assert_message_equals: '{"type":"pong"}',
        assert_message_matches: '^\\{"type":"pong"',
        assert_json: { path: 'type', equals: 'pong' },
      },
      { action: 'receive', assert_json: { path: 'data.value', equals: null } },
      { action: 'measure_latency' },
      { action: 'ping', timeout_ms: 2000 },
      { action: 'wait', ms: 250 },
      { action: 'wait', ms: 90_000 },
      { action: 'disconnect', expected_close_code: 4001 },
      { action: 'disconnect', expected_close_code: 1000 },
    ]);
    expect(full?.assertions).toEqual([
      { type: 'connection_latency', operator: 'less_than', value: 500 },
      { type: 'message_latency', operator: 'greater_than', value: 0 },
    ]);
    expect(defaults?.steps.map((s) => s.action)).toEqual(['connect', 'ping', 'disconnect']);
  });
});

describe('the Config is frozen', () => {
  const config = loadConfigFile(`${FIXTURES}monitors.yaml`, {});

  it('deeply', () => {
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.listen)).toBe(true);
    expect(Object.isFrozen(config.backends)).toBe(true);
    expect(Object.isFrozen(config.backends.app?.servers)).toBe(true);
    expect(Object.isFrozen(config.backends.app?.servers[0])).toBe(true);
    expect(Object.isFrozen(config.routes[0]?.match)).toBe(true);
    expect(Object.isFrozen(config.monitors[0]?.steps[3])).toBe(true);
    expect(Object.isFrozen(config.monitors[0]?.headers)).toBe(true);
  });

  it('so writes throw', () => {
    const loose = config as unknown as { listen: { port: number }; routes: unknown[] };
    expect(() => {
      loose.listen.port = 1;
    }).toThrow(TypeError);
    expect(() => loose.routes.push({})).toThrow(TypeError);
  });

  it('URLs included: setters throw and searchParams is a copy', () => {
    const url = config.backends.app?.servers[0]?.url as URL;
    expect(() => {
      url.pathname = '/other';
    }).toThrow('config URLs are read-only: copy with new URL(url) before setting pathname');
    url.searchParams.set('a', '1');
    expect(url.href).toBe('ws://127.0.0.1:9001/');
    const copy = new URL(url);
    copy.pathname = '/x';
    expect(copy.href).toBe('ws://127.0.0.1:9001/x');
    expect(url.host).toBe('127.0.0.1:9001');
    expect(String(url)).toBe('ws://127.0.0.1:9001/');
  });

  it('and each load is independent', () => {
    const a = loadConfigFile(`${FIXTURES}minimal.yaml`, {});
    const b = loadConfigFile(`${FIXTURES}minimal.yaml`, {});
    expect(a).not.toBe(b);
    expect(a.trusted_proxies).not.toBe(b.trusted_proxies);
    expect(a).toEqual(b);
  });
});
