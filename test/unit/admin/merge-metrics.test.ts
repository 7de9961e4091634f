import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { mergePrometheusText } from '../../../src/admin/merge-metrics.js';
import { createInstruments } from '../../../src/telemetry/instruments.js';
import { METER_NAME } from '../../../src/telemetry/names.js';
import { createPrometheusReader } from '../../../src/telemetry/prometheus.js';

const PROMTOOL = '/usr/bin/promtool';
const TRICKY = 'q"uote \\back\\slash\nnew} line, worker="9" x=';

/** What one worker's /metrics says: the real instruments and exporter, one provider per "process". */
async function exposition(worker: 0 | 1): Promise<string> {
  const reader = createPrometheusReader();
  const provider = new MeterProvider({
    readers: [reader],
    resource: resourceFromAttributes({
      'service.name': 'wstap',
      'service.instance.id': `instance-${worker}`,
      // A resource attribute named like our label: must not end up as a duplicate label.
      ...(worker === 0 ? { worker: 'pod-a' } : {}),
    }),
  });
  const meter = provider.getMeter(METER_NAME, '0.1.0');
  const i = createInstruments(meter);
  // Overlapping families, with different and identical label sets.
  // (Session counts are observable instruments: the recorder reports running totals.)
  i.connections.addCallback((r) => r.observe(worker + 2, { 'wstap.route': 'chat', 'wstap.backend': `chat-${worker}` }));
  i.closes.addCallback((r) => r.observe(1, { 'websocket.close.code': 1000, 'wstap.close.initiator': 'client', 'wstap.route': 'chat' }));
  i.sessionDuration.record(0.25 * (worker + 1), { 'wstap.route': 'chat' });
  i.connectionsActive.addCallback((r) => r.observe(worker, { 'wstap.route': 'chat' }));
  meter.createCounter('test.tricky', { description: 'label values with "escapes"\\ and a\nnewline' }).add(1, { v: TRICKY });
  // Families only one worker has.
  if (worker === 0) {
    i.upgrades.addCallback((r) => r.observe(1, { 'http.response.status_code': 101, 'wstap.route': 'chat' }));
  } else {
    i.errors.add(3, { 'error.type': 'backend_unreachable' });
    i.pingDuration.record(0.004, { 'wstap.leg': 'backend' });
  }
  const { resourceMetrics } = await reader.collect();
  await provider.shutdown();
  return new PrometheusSerializer().serialize(resourceMetrics);
}

const lines = (text: string) => text.split('\n').filter((l) => l !== '');
const samples = (text: string) => lines(text).filter((l) => !l.startsWith('#'));
const typeNames = (text: string) => lines(text).flatMap((l) => /^# TYPE (\S+) /.exec(l)?.[1] ?? []);

/** The inverse of the merge for one line: the worker and the line as the worker wrote it. */
function unlabel(line: string): { worker: string; line: string } {
  const m = /^([^{ ]+)\{worker="(\d+)"(,|\})(.*)$/.exec(line);
  if (m === null) throw new Error(`no leading worker label: ${line}`);
  const [, name, worker, sep, rest] = m as unknown as [string, string, string, string, string];
  return { worker, line: sep === ',' ? `${name}{${rest}` : `${name}${rest}` };
}

/** The family a line belongs to, by the exporter's conventions (for checking, not merging). */
function familyOf(line: string, types: readonly string[]): string {
  const comment = /^# (?:HELP|TYPE|UNIT) (\S+)/.exec(line);
  if (comment) return comment[1]!;
  const name = /^[^{ ]+/.exec(line)![0];
  const family = types.find((t) => name === t || ['_bucket', '_sum', '_count'].some((s) => name === t + s));
  if (family === undefined) throw new Error(`no family for ${line}`);
  return family;
}

function promtool(text: string): { status: number | null; output: string } {
  const r = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('mergePrometheusText on real exporter output', () => {
  it('checks its own assumptions about the exporter: HELP/UNIT/TYPE, then the family samples', async () => {
    const text = await exposition(1);
    expect(text).toContain('# TYPE wstap_connections_total counter\nwstap_connections_total{');
    expect(text).toMatch(/# UNIT wstap_session_duration s\n# TYPE wstap_session_duration histogram\nwstap_session_duration_count\{/);
    expect(text).toContain('_bucket{');
    expect(text).toContain('v="q\\"uote \\\\back\\\\slash\\nnew} line, worker=\\"9\\" x="');
  });

  it('lists each family once, keeps it contiguous, and labels every sample of both workers', async () => {
    const [a, b] = await Promise.all([exposition(0), exposition(1)]);
    const merged = mergePrometheusText([
      { worker: '0', text: a },
      { worker: '1', text: b },
    ]);

    // (a) every TYPE line once; the union of both workers' families.
    const types = typeNames(merged);
    expect(new Set(types).size).toBe(types.length);
    expect(new Set(types)).toEqual(new Set([...typeNames(a), ...typeNames(b)]));
    expect(types).toContain('wstap_upgrades_total'); // worker 0 only
    expect(types).toContain('wstap_errors_total'); // worker 1 only
    // First-seen order: worker 0's families in its order, then worker 1's new ones.
    const expectedOrder = [...new Set([...typeNames(a), ...typeNames(b)])];
    expect(types).toEqual(expectedOrder);
    for (const kind of ['HELP', 'UNIT']) {
      const names = lines(merged).flatMap((l) => (l.startsWith(`# ${kind} `) ? [l.split(' ')[2]] : []));
      expect(new Set(names).size).toBe(names.length);
    }

    // (b) every sample of both, and nothing else, each with its worker as the first label.
    const got = samples(merged).map(unlabel);
    const want = [...samples(a).map((line) => ({ worker: '0', line })), ...samples(b).map((line) => ({ worker: '1', line }))];
    const key = (s: { worker: string; line: string }) => `${s.worker} ${s.line.replace('exported_worker="pod-a"', 'worker="pod-a"')}`;
    expect(got.map(key).sort()).toEqual(want.map(key).sort());
    // The clashing resource attribute is kept under Prometheus's name for a clash.
    expect(merged).toMatch(/^target_info\{worker="0",.*,exported_worker="pod-a"\} 1$/m);
    expect(merged).not.toContain(',worker="pod-a"');
    // The tricky label value went through untouched (its `worker="9"` is not a label).
    expect(merged).toContain('test_tricky_total{worker="1",v="q\\"uote \\\\back\\\\slash\\nnew} line, worker=\\"9\\" x="');

    // (c) families contiguous, comments before samples.
    const order = lines(merged).map((l) => familyOf(l, types));
    const closed = new Set<string>();
    order.forEach((f, n) => {
      if (n > 0 && order[n - 1] !== f) closed.add(order[n - 1]!);
      expect(closed.has(f), `family ${f} resumes at line ${n + 1}`).toBe(false);
    });
    for (const t of types) {
      const ls = lines(merged).filter((l) => familyOf(l, types) === t);
      const firstSample = ls.findIndex((l) => !l.startsWith('#'));
      expect(ls.slice(firstSample).every((l) => !l.startsWith('#')), t).toBe(true);
      expect(ls.slice(0, firstSample)).toContain(`# TYPE ${t} ${/^# TYPE \S+ (\S+)/m.exec(ls.join('\n'))![1]}`);
    }
    expect(merged.endsWith('\n')).toBe(true);
  });

  it.runIf(existsSync(PROMTOOL))('passes promtool, where plain concatenation does not', async () => {
    const [a, b] = await Promise.all([exposition(0), exposition(1)]);
    const naive = promtool(`${a}${b}`);
    expect(naive.status).toBe(1);
    expect(naive.output).toMatch(/second (HELP|TYPE) line/);

    const merged = mergePrometheusText([
      { worker: '0', text: a },
      { worker: '1', text: b },
    ]);
    const r = promtool(merged);
    expect(r.output).not.toMatch(/error|duplicate|second/i);
    // 0, or 3 for naming lint only (the exporter's `# UNIT` names, not our doing).
    expect([0, 3], r.output).toContain(r.status);
    const alone = promtool(a);
    expect(r.status).toBe(alone.status);
  });
});

describe('mergePrometheusText line handling', () => {
  it('inserts the worker as the first label in every sample form', () => {
    const text = [
      '# TYPE a_total counter',
      'a_total{x="1"} 5',
      'a_total 6',
      'a_total{} 7 1700000000000',
      '# TYPE b gauge',
      'b{y="}",z="\\"worker=\\"1\\""} 1.5e+21',
      '',
    ].join('\n');
    expect(mergePrometheusText([{ worker: '12', text }])).toBe(
      [
        '# TYPE a_total counter',
        'a_total{worker="12",x="1"} 5',
        'a_total{worker="12"} 6',
        'a_total{worker="12"} 7 1700000000000',
        '# TYPE b gauge',
        'b{worker="12",y="}",z="\\"worker=\\"1\\""} 1.5e+21',
        '',
      ].join('\n'),
    );
  });

  it('renames a real worker label wherever it is, leaving look-alikes in values alone', () => {
    const text = 'm{a="worker=\\"x\\"",worker="w\\\\",b="c"} 1\nn{worker="w"} 2\n';
    expect(mergePrometheusText([{ worker: '3', text }])).toBe(
      'm{worker="3",a="worker=\\"x\\"",exported_worker="w\\\\",b="c"} 1\nn{worker="3",exported_worker="w"} 2\n',
    );
  });

  it('merges families in first-seen order, comments from the first part that has them', () => {
    const w0 = '# HELP a_total A\n# TYPE a_total counter\na_total 1\n# HELP h H\n# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_sum 2\nh_count 1\n';
    const w1 = '# HELP c C\n# TYPE c gauge\nc 9\n# HELP a_total other text\n# UNIT a_total By\n# TYPE a_total counter\na_total 2\n';
    expect(
      mergePrometheusText([
        { worker: '0', text: w0 },
        { worker: '1', text: w1 },
      ]),
    ).toBe(
      [
        '# HELP a_total A',
        '# TYPE a_total counter',
        '# UNIT a_total By',
        'a_total{worker="0"} 1',
        'a_total{worker="1"} 2',
        '# HELP h H',
        '# TYPE h histogram',
        'h_bucket{worker="0",le="+Inf"} 1',
        'h_sum{worker="0"} 2',
        'h_count{worker="0"} 1',
        '# HELP c C',
        '# TYPE c gauge',
        'c{worker="1"} 9',
        '',
      ].join('\n'),
    );
  });

  it('keeps untyped samples as families of their own, and drops blank lines and free comments', () => {
    const w0 = '# just a comment\n\nfoo 1\r\n# TYPE g gauge\ng 2\nbar{x="y"} 3\n';
    const w1 = 'bar{x="z"} 4\nfoo 5\n';
    expect(
      mergePrometheusText([
        { worker: '0', text: w0 },
        { worker: '1', text: w1 },
      ]),
    ).toBe(['foo{worker="0"} 1', 'foo{worker="1"} 5', '# TYPE g gauge', 'g{worker="0"} 2', 'bar{worker="0",x="y"} 3', 'bar{worker="1",x="z"} 4', ''].join('\n'));
  });

  it('gives an empty text for no parts or empty parts', () => {
    expect(mergePrometheusText([])).toBe('');
    expect(mergePrometheusText([{ worker: '0', text: '' }])).toBe('');
  });

  it.each(['', 'a', '1a', '-1', ' 1', '1 ', '1"', '１'])('rejects worker id %j', (worker) => {
    expect(() => mergePrometheusText([{ worker, text: 'x 1\n' }])).toThrow(/not decimal digits/);
  });

  it('rejects a worker id given twice, and a sample line without a metric name', () => {
    expect(() =>
      mergePrometheusText([
        { worker: '1', text: 'x 1\n' },
        { worker: '1', text: 'x 2\n' },
      ]),
    ).toThrow(/appears twice/);
    expect(() => mergePrometheusText([{ worker: '1', text: 'x 1\n{a="b"} 2\n' }])).toThrow(/worker 1, line 2/);
  });
});
