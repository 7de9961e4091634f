import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import {
  AggregationTemporality,
  InstrumentType,
  type PushMetricExporter,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { LoggingExporter } from '../../../src/telemetry/export-guard.js';

type Result = Parameters<Parameters<PushMetricExporter['export']>[1]>[0];

/** A pino logger whose lines the test can read. */
function captureLogger() {
  const lines: Array<{ level: number; msg: string; [k: string]: unknown }> = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger, lines };
}

/** An upstream exporter that answers from a script (the real one is exercised in integration). */
class ScriptedExporter implements PushMetricExporter {
  calls = 0;
  constructor(private readonly script: Array<'ok' | 'fail' | 'throw'>) {}
  export(_m: ResourceMetrics, cb: (r: Result) => void): void {
    const step = this.script[this.calls++] ?? 'ok';
    if (step === 'throw') throw new Error('boom');
    cb(step === 'ok' ? { code: 0 } : { code: 1, error: new Error('connect ECONNREFUSED') });
  }
  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
  selectAggregationTemporality(): AggregationTemporality {
    return AggregationTemporality.DELTA;
  }
}

const metrics: ResourceMetrics = { resource: resourceFromAttributes({}), scopeMetrics: [] };

function run(exporter: LoggingExporter): Promise<Result> {
  return new Promise((resolve) => exporter.export(metrics, resolve));
}

describe('LoggingExporter', () => {
  it('logs the first failure once, stays quiet while failing, and logs the recovery once', async () => {
    const { logger, lines } = captureLogger();
    const inner = new ScriptedExporter(['ok', 'fail', 'fail', 'throw', 'fail', 'ok', 'ok', 'fail']);
    const exporter = new LoggingExporter(inner, logger, 'http://collector:4318/v1/metrics');
    const codes: number[] = [];
    for (let i = 0; i < 8; i++) codes.push((await run(exporter)).code);

    expect(codes).toEqual([0, 1, 1, 1, 1, 0, 0, 1]);
    const messages = lines.map((l) => `${l.level}:${l.msg}`);
    expect(messages).toEqual([
      '40:metrics export failed; further failures are not logged until an export succeeds',
      '30:metrics export recovered',
      '40:metrics export failed; further failures are not logged until an export succeeds',
    ]);
    expect(lines[0]).toMatchObject({ target: 'http://collector:4318/v1/metrics', err: 'connect ECONNREFUSED' });
    expect(lines[1]).toMatchObject({ failedExports: 4 });
    expect(exporter.failing).toBe(true);
  });

  it('keeps the upstream temporality preference', () => {
    const { logger } = captureLogger();
    const exporter = new LoggingExporter(new ScriptedExporter([]), logger, 'x');
    expect(exporter.selectAggregationTemporality(InstrumentType.COUNTER)).toBe(AggregationTemporality.DELTA);
    expect(exporter.selectAggregation(InstrumentType.HISTOGRAM)).toEqual({ type: 0 });
  });
});
