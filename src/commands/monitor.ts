/**
 * `wstap monitor --config FILE [--once]`: run the config's `monitors:` and export their metrics
 * (`wstap.monitor.*`) through the config's telemetry. With `--once` each monitor runs once and
 * the exit code says whether all passed; without it they run on their intervals until
 * SIGTERM/SIGINT. Either way the metrics are flushed before the command returns.
 */
import { parseArgs } from 'node:util';
import { loadConfigFile } from '../config/load.js';
import type { MonitorConfig } from '../config/types.js';
import { createLogger } from '../log.js';
import { MonitorService } from '../monitor/index.js';
import { formatMonitorRun } from '../monitor/report.js';
import { runMonitor } from '../monitor/runner.js';
import type { MonitorMetrics } from '../telemetry/monitor-metrics.js';
import { startTelemetry, type TelemetryOptions } from '../telemetry/sdk.js';
import { VERSION } from '../version.js';
import { UsageError, type CommandIO } from './io.js';

export const monitorHelp = `Usage: wstap monitor --config FILE [--once]

Run the config's synthetic monitors (monitors:) and export their metrics (wstap.monitor.*)
through the config's telemetry. Prints one line per run (and the failing step of a failed run).

Options:
  --config FILE   the config file (its monitors:, telemetry: and log: are used)
  --once          run each monitor once, then exit 0 when all passed, 1 when any failed

Without --once the monitors run on their intervals until SIGTERM or SIGINT.`;

/** Test seams: extra metric readers for the telemetry pipeline. */
export interface MonitorCommandDeps {
  readonly extraReaders?: TelemetryOptions['extraReaders'];
}

/**
 * Run `wstap monitor`. Config problems throw ConfigError (exit 1 in the CLI), usage problems
 * UsageError (exit 2). `deps` is for tests: extra readers see the metrics the runs record.
 */
export async function monitorCommand(argv: readonly string[], io: CommandIO, deps: MonitorCommandDeps = {}): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: { config: { type: 'string', short: 'c' }, once: { type: 'boolean', default: false } },
  });
  if (!values.config) throw new UsageError('--config FILE is required');
  const config = loadConfigFile(values.config, io.env);
  if (config.monitors.length === 0) {
    io.stderr.write(`${values.config}: no monitors configured — add a monitors: section (see config/wstap.yaml)\n`);
    return 1;
  }
  const logger = createLogger({ level: config.log.level, format: config.log.format, destination: io.stderr });
  const telemetry = startTelemetry({ config, version: VERSION, logger, ...(deps.extraReaders ? { extraReaders: deps.extraReaders } : {}) });
  const width = Math.max(...config.monitors.map((m) => m.name.length));
  try {
    if (values.once) return await runOnce(config.monitors, telemetry.monitors, io, width);
    const service = new MonitorService(config.monitors, telemetry.monitors, logger, {
      onResult: (r) => io.stdout.write(formatMonitorRun(r, width)),
    });
    service.start();
    logger.info({ monitors: config.monitors.map((m) => m.name) }, 'monitors running until SIGTERM/SIGINT');
    const signal = await untilSignal(io);
    logger.info({ signal }, 'stopping monitors');
    await service.stop();
    return 0;
  } finally {
    // Export what the runs recorded before leaving: a --once in CI is worthless otherwise.
    await telemetry.forceFlush().catch((err: unknown) => logger.warn({ err: String(err) }, 'metrics flush failed'));
    await telemetry.shutdown();
  }
}

/** Each monitor once, concurrently; lines in config order; SIGTERM/SIGINT aborts the runs. */
async function runOnce(monitors: readonly MonitorConfig[], metrics: MonitorMetrics, io: CommandIO, width: number): Promise<number> {
  const abort = new AbortController();
  const offs = [io.onSignal('SIGTERM', () => abort.abort()), io.onSignal('SIGINT', () => abort.abort())];
  try {
    const results = await Promise.all(monitors.map((m) => runMonitor(m, { metrics, signal: abort.signal })));
    for (const r of results) io.stdout.write(formatMonitorRun(r, width));
    const failed = results.filter((r) => !r.passed).length;
    if (failed > 0) io.stderr.write(`${failed} of ${results.length} monitor${results.length === 1 ? '' : 's'} failed\n`);
    return failed === 0 ? 0 : 1;
  } finally {
    offs.forEach((off) => off());
  }
}

function untilSignal(io: CommandIO): Promise<string> {
  return new Promise((resolve) => {
    const stop = (signal: string): void => {
      offs.forEach((off) => off());
      resolve(signal);
    };
    const offs = [io.onSignal('SIGTERM', () => stop('SIGTERM')), io.onSignal('SIGINT', () => stop('SIGINT'))];
  });
}
