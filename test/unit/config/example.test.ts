/** config/wstap.yaml: valid, runnable by `npm start`, and a faithful reference of every key and default. */
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { checkConfigText, loadConfigFile } from '../../../src/config/load.js';
import { configSchema } from '../../../src/config/schema.js';
import { check, MINIMAL } from './config-text.js';

const EXAMPLE = fileURLToPath(new URL('../../../config/wstap.yaml', import.meta.url));
const TEXT = readFileSync(EXAMPLE, 'utf8');

describe('config/wstap.yaml', () => {
  it('is valid', () => {
    expect(checkConfigText(TEXT, { path: EXAMPLE, env: {} }).problems).toEqual([]);
  });

  it('runs the demo topology: proxy on 0.0.0.0:8080, admin on 127.0.0.1:9090, two local echo servers, one route', () => {
    const config = loadConfigFile(EXAMPLE, {});
    expect(config.listen).toEqual({ host: '0.0.0.0', port: 8080 });
    expect(config.admin).toEqual({ enabled: true, host: '127.0.0.1', port: 9090 });
    const servers = Object.values(config.backends).flatMap((p) => p.servers.map((s) => s.url.href));
    expect(servers).toEqual(['ws://127.0.0.1:9001/', 'ws://127.0.0.1:9002/']);
    expect(config.routes.map((r) => r.match)).toEqual([{ path: '/' }]);
    expect(config.monitors).toEqual([]);
    expect(config.telemetry.otlp).toBeUndefined();
  });

  it('shows the default of every section outside listen/backends/routes', () => {
    const example = loadConfigFile(EXAMPLE, {});
    const defaults = check(MINIMAL).config;
    for (const key of ['admin', 'heartbeat', 'timeouts', 'limits', 'shutdown', 'trusted_proxies', 'telemetry', 'alerts', 'log', 'watch', 'monitors'] as const) {
      expect(example[key], key).toEqual(defaults?.[key]);
    }
  });

  it('shows the pool and route defaults', () => {
    const example = loadConfigFile(EXAMPLE, {});
    const pool = example.backends.echo;
    expect(pool?.balance).toBe('round-robin');
    expect(pool?.servers.map((s) => s.weight)).toEqual([1, 1]);
    expect(pool?.tls).toEqual({ insecure: false });
    expect(pool?.health).toEqual({ interval: 10_000, timeout: 3_000, path: '/', rise: 2, fall: 3 });
  });

  it('lets OTEL_SERVICE_NAME name the service', () => {
    expect(loadConfigFile(EXAMPLE, { OTEL_SERVICE_NAME: 'edge' }).telemetry.service_name).toBe('edge');
  });

  it('mentions every key the schema knows', () => {
    const keys = new Set<string>();
    const walk = (node: unknown): void => {
      if (node === null || typeof node !== 'object') return;
      const n = node as Record<string, unknown>;
      if (n.properties !== undefined && typeof n.properties === 'object') {
        for (const [k, v] of Object.entries(n.properties as Record<string, unknown>)) {
          keys.add(k);
          walk(v);
        }
      }
      for (const k of ['items', 'additionalProperties']) walk(n[k]);
      for (const k of ['anyOf', 'oneOf', 'allOf']) if (Array.isArray(n[k])) (n[k] as unknown[]).forEach(walk);
    };
    walk(z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }));
    expect(keys.size).toBeGreaterThan(60);
    const missing = [...keys].filter((k) => !new RegExp(`\\b${k}\\b`).test(TEXT));
    expect(missing).toEqual([]);
  });

  it('has commented-out examples (monitors, otlp) that are valid once uncommented', () => {
    const monitors = uncomment(TEXT, /^# monitors:$/);
    const otlp = uncomment(TEXT, /^ {2}# otlp:$/);
    const text = TEXT.replace(/^monitors: \[\]$/m, monitors).replace(/^ {2}# otlp:$/m, `${otlp}\n  # otlp:`);
    const r = checkConfigText(text, { path: EXAMPLE, env: {} });
    expect(r.problems).toEqual([]);
    expect(r.config?.monitors[0]?.steps.map((s) => s.action)).toEqual(['connect', 'send', 'receive', 'measure_latency', 'ping', 'wait', 'disconnect']);
    expect(r.config?.telemetry.otlp).toEqual({ endpoint: 'http://localhost:4318/v1/metrics', interval: 60_000, headers: {} });
  });

  it('has a commented-out listen.tls whose only fault is the missing certificate files', () => {
    const tls = uncomment(TEXT, /^ {2}# tls: /);
    const r = checkConfigText(TEXT.replace(/^ {2}# tls: .*$/m, tls), { path: EXAMPLE, env: {} });
    expect(r.problems.map((p) => p.slice(0, p.indexOf(':')))).toEqual(['listen.tls.cert', 'listen.tls.key']);
  });
});

/**
 * The block of commented lines that starts at the line matching `start`: that line and the
 * following ones indented deeper under the same `#`, with the `# ` removed.
 */
function uncomment(text: string, start: RegExp): string {
  const lines = text.split('\n');
  const first = lines.findIndex((l) => start.test(l));
  if (first < 0) throw new Error(`no line matches ${String(start)}`);
  const indent = (lines[first] as string).indexOf('#');
  const out = [(lines[first] as string).slice(0, indent) + (lines[first] as string).slice(indent + 2)];
  for (const line of lines.slice(first + 1)) {
    if (line.slice(0, indent + 1) !== `${' '.repeat(indent)}#` || !line.slice(indent + 1).startsWith('   ')) break;
    out.push(' '.repeat(indent) + line.slice(indent + 2));
  }
  return out.join('\n');
}
