/**
 * Synthetic monitoring, shared by the CLI (`check`, `monitor`, `sticky-check`) and `serve`.
 * {@link MonitorService} is what a long-running process holds: the scheduler of the config's
 * `monitors:`, a log line per result, and the per-monitor state `/status` shows.
 */
import type { MonitorConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import type { MonitorMetrics } from '../telemetry/monitor-metrics.js';
import type { MonitorResult } from './runner.js';
import { MonitorScheduler, type MonitorStatus } from './scheduler.js';

export { runCheck, DEFAULT_CHECK_TIMEOUT_MS, type CheckOptions, type CheckResult } from './check.js';
export { runMonitor, type MonitorResult, type MonitorStepResult, type RunMonitorOptions } from './runner.js';
export { MonitorScheduler, type MonitorStatus, type SchedulerOptions } from './scheduler.js';
export { runStickyCheck, DEFAULT_STICKY_COUNT, type StickyOptions, type StickyResult } from './sticky.js';
export type { LatencyPercentiles } from './latency-samples.js';

/** Options of {@link MonitorService}. */
export interface MonitorServiceOptions {
  /** Called after every finished run (`wstap monitor` prints a line per run). */
  readonly onResult?: (result: MonitorResult) => void;
}

/**
 * The config's monitors, running on their intervals until {@link MonitorService.stop}.
 * Every run is recorded in `metrics` and logged: failures at `warn` (with the precise error),
 * a recovery at `info`, passing runs at `debug`.
 */
export class MonitorService {
  readonly #onResult: ((r: MonitorResult) => void) | undefined;
  #scheduler: MonitorScheduler;
  #monitors: readonly MonitorConfig[];
  #running = false;

  constructor(
    monitors: readonly MonitorConfig[],
    private readonly metrics: MonitorMetrics,
    private readonly logger: Logger,
    options: MonitorServiceOptions = {},
  ) {
    this.#onResult = options.onResult;
    this.#monitors = monitors;
    this.#scheduler = this.#create(monitors);
  }

  /** Start the schedule (first run of each monitor at once). No-op without monitors. */
  start(): void {
    if (this.#monitors.length === 0) return;
    this.#running = true;
    this.#scheduler.start();
  }

  /** Clear every timer and abort running checks; resolves once their sockets are released. */
  async stop(): Promise<void> {
    this.#running = false;
    await this.#scheduler.stop();
  }

  /** The per-monitor state for `/status` (`monitors` array), in config order. */
  results(): MonitorStatus[] {
    return this.#scheduler.results();
  }

  /**
   * Apply a reloaded config's monitors. Unchanged monitors keep running undisturbed when the
   * list is identical; otherwise the schedule restarts (history starts over).
   */
  async reload(monitors: readonly MonitorConfig[]): Promise<void> {
    if (JSON.stringify(monitors) === JSON.stringify(this.#monitors)) return;
    const wasRunning = this.#running;
    await this.stop();
    this.#monitors = monitors;
    this.#scheduler = this.#create(monitors);
    if (wasRunning) this.start();
  }

  #create(monitors: readonly MonitorConfig[]): MonitorScheduler {
    const failing = new Set<string>();
    const log = this.logger.child({ component: 'monitor' });
    return new MonitorScheduler(monitors, {
      metrics: this.metrics,
      onResult: (r: MonitorResult) => {
        const fields = {
          monitor: r.monitor,
          duration_ms: r.durationMs,
          connection_ms: r.connectionLatencyMs,
          message_ms: r.messageLatencyMs,
        };
        if (!r.passed) {
          failing.add(r.monitor);
          log.warn({ ...fields, error: r.error }, 'monitor failed');
        } else if (failing.delete(r.monitor)) {
          log.info(fields, 'monitor recovered');
        } else {
          log.debug(fields, 'monitor passed');
        }
        this.#onResult?.(r);
      },
    });
  }
}
