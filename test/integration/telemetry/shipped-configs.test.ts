/**
 * The ecosystem files in config/ are checked against a real scrape: every metric the alert
 * rules and the Grafana dashboard query must exist under wstap's own /metrics names and under
 * the names an OpenTelemetry Collector's Prometheus exporter produces. With `promtool` on the
 * PATH, the rules are also syntax-checked and unit-tested against synthetic series.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { accessSync, constants } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { collectorSampleNames, sampleNames, scrapeOnce, selectors } from './scrape.js';

const run = promisify(execFile);
const CONFIG_DIR = fileURLToPath(new URL('../../../config/', import.meta.url));
const RULES_FILE = join(CONFIG_DIR, 'prometheus-alerts.yaml');

interface Rule {
  alert: string;
  expr: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleFile {
  groups: Array<{ name: string; rules: Rule[] }>;
}

let direct: Set<string>;
let viaCollector: Set<string>;
let rules: RuleFile;
beforeAll(async () => {
  const scrape = await scrapeOnce();
  direct = sampleNames(scrape.text);
  viaCollector = collectorSampleNames(scrape.text);
  rules = parseYaml(await readFile(RULES_FILE, 'utf8')) as RuleFile;
});

function expectQueryable(where: string, expr: string): void {
  const used = selectors(expr);
  expect(used.length, `${where} queries a wstap metric`).toBeGreaterThan(0);
  for (const s of used) {
    expect([...direct].some(s.matches), `${where}: ${s.text} on wstap's /metrics`).toBe(true);
    expect([...viaCollector].some(s.matches), `${where}: ${s.text} via the Collector`).toBe(true);
  }
}

describe('config/prometheus-alerts.yaml', () => {
  it('has the two close-code rules over 15m with the configured default thresholds', () => {
    const all = rules.groups.flatMap((g) => g.rules);
    expect(all.map((r) => r.alert).sort()).toEqual(['WstapAbnormalCloseRatio', 'WstapAbnormalDisconnectRatio']);
    const abnormal = all.find((r) => r.alert === 'WstapAbnormalCloseRatio')!.expr;
    expect(abnormal).toContain('wstap_close_code=~"1006|1011|1012|1013"');
    expect(abnormal).toMatch(/> 0\.05\s*$/);
    const disconnect = all.find((r) => r.alert === 'WstapAbnormalDisconnectRatio')!.expr;
    expect(disconnect).toContain('wstap_close_code="1006"');
    expect(disconnect).toMatch(/> 0\.02\s*$/);
    for (const r of all) {
      expect(r.expr.match(/\[(\w+)\]/g)).toEqual(['[15m]', '[15m]']);
      expectQueryable(r.alert, r.expr);
    }
  });
});

describe.skipIf(!onPath('promtool'))(
  'config/prometheus-alerts.yaml under promtool',
  () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'wstap-promtool-'));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('passes promtool check rules', async () => {
      const { stdout } = await run('promtool', ['check', 'rules', RULES_FILE]);
      expect(stdout).toContain('SUCCESS: 2 rules found');
    });

    it('fires exactly when the status window would', async () => {
      // The expressions are what is tested; annotations are templated text, left out here.
      const bare: RuleFile = {
        groups: rules.groups.map((g) => ({ ...g, rules: g.rules.map(({ annotations: _a, ...r }) => r) })),
      };
      await writeFile(join(dir, 'rules.yaml'), toYaml(bare));
      const series = (code: number, perMinute: number, minutes = 30) =>
        ({ series: `wstap_closes_total{job="wstap",wstap_close_code="${code}"}`, values: `0+${perMinute}x${minutes}` });
      const alerts = (...names: string[]) =>
        ['WstapAbnormalCloseRatio', 'WstapAbnormalDisconnectRatio'].map((alertname) => ({
          eval_time: '20m',
          alertname,
          exp_alerts: names.includes(alertname) ? [{ exp_labels: { job: 'wstap', severity: 'warning' } }] : [],
        }));
      const tests = {
        rule_files: ['rules.yaml'],
        evaluation_interval: '1m',
        tests: [
          // one 1006 in three closes: both rules
          { interval: '1m', input_series: [series(1000, 2), series(1006, 1)], alert_rule_test: alerts('WstapAbnormalCloseRatio', 'WstapAbnormalDisconnectRatio') },
          // only normal closes: none
          { interval: '1m', input_series: [series(1000, 5), series(1001, 1)], alert_rule_test: alerts() },
          // 1011 in a third: abnormal only
          { interval: '1m', input_series: [series(1000, 2), series(1011, 1)], alert_rule_test: alerts('WstapAbnormalCloseRatio') },
          // 3 % of 1006: above 2 %, below 5 %
          { interval: '1m', input_series: [series(1000, 97), series(1006, 3)], alert_rule_test: alerts('WstapAbnormalDisconnectRatio') },
          // 1006s that stopped 20 minutes before evaluation are out of the 15m window
          {
            interval: '1m',
            input_series: [series(1000, 10), { series: 'wstap_closes_total{job="wstap",wstap_close_code="1006"}', values: '0+5x2 10x30' }],
            alert_rule_test: alerts().map((t) => ({ ...t, eval_time: '25m' })),
          },
        ],
      };
      await writeFile(join(dir, 'rules.test.yaml'), toYaml(tests));
      const { stdout } = await run('promtool', ['test', 'rules', 'rules.test.yaml'], { cwd: dir });
      expect(stdout).toContain('SUCCESS');
    });
  },
);

describe('config/grafana-dashboard.json', () => {
  it('queries only metrics that exist on both Prometheus paths', async () => {
    const dashboard = JSON.parse(await readFile(join(CONFIG_DIR, 'grafana-dashboard.json'), 'utf8')) as {
      uid: string;
      panels: Array<{ title: string; type: string; targets?: Array<{ expr: string }> }>;
    };
    expect(dashboard.uid).toBe('wstap-overview');
    const titles = dashboard.panels.map((p) => p.title.toLowerCase()).join(' | ');
    for (const topic of ['active sessions', 'message rate', 'closes by code', 'closes by initiator', 'session duration', 'ping round trip', 'backend']) {
      expect(titles).toContain(topic);
    }
    for (const p of dashboard.panels.filter((x) => x.type !== 'row')) {
      expect(p.targets?.length, `panel "${p.title}" has queries`).toBeGreaterThan(0);
      for (const t of p.targets ?? []) expectQueryable(`panel "${p.title}"`, t.expr);
    }
  });
});

describe('config/otel-collector.yaml', () => {
  it('receives OTLP/HTTP on 4318 and exports to Prometheus and debug', async () => {
    const collector = parseYaml(await readFile(join(CONFIG_DIR, 'otel-collector.yaml'), 'utf8')) as {
      receivers: { otlp: { protocols: { http: { endpoint: string } } } };
      exporters: Record<string, unknown>;
      service: { pipelines: { metrics: { receivers: string[]; processors: string[]; exporters: string[] } } };
    };
    expect(collector.receivers.otlp.protocols.http.endpoint).toMatch(/:4318$/);
    expect(Object.keys(collector.exporters).sort()).toEqual(['debug', 'prometheus']);
    expect(collector.service.pipelines.metrics.receivers).toEqual(['otlp']);
    expect([...collector.service.pipelines.metrics.exporters].sort()).toEqual(['debug', 'prometheus']);
  });
});

/** True when `cmd` is an executable on the PATH (promtool ships with the prometheus package). */
function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    if (dir === '') return false;
    try {
      accessSync(join(dir, cmd), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}
