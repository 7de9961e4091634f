/**
 * Runs each monitor on its interval: the first run at start, then one timer per monitor
 * (monitors are few, so a shared wheel would buy nothing). A run never overlaps the previous
 * one of the same monitor: the next start is `interval` after the last start, or at once when a
 * run took longer. Keeps the last result and latency percentiles per monitor for `/status`.
 */
import type { MonitorConfig } from '../config/types.js';
import { noopMonitorMetrics, type MonitorMetrics } from '../telemetry/monitor-metrics.js';
import { now } from './deadline.js';
import { LatencySamples, type LatencyPercentiles } from './latency-samples.js';
import { runMonitor, type MonitorResult } from './runner.js';

/** One monitor as `/status` shows it (snake_case like the rest of the document). */
export interface MonitorStatus {
  readonly name: string;
  readonly url: string;
  readonly interval_s: number;
  /** Null until the first run has finished. */
  readonly up: boolean | null;
  readonly runs: number;
  readonly failures: number;
  readonly consecutive_failures: number;
  readonly last_result: MonitorResult | null;
  /** Over the last {@link SchedulerOptions.historySize} runs that measured them. */
  readonly latency: { readonly connection: LatencyPercentiles; readonly message: LatencyPercentiles };
}

/** Options of {@link MonitorScheduler}. */
export interface SchedulerOptions {
  readonly metrics?: MonitorMetrics;
  /** Runs kept for the percentiles (default 100). */
  readonly historySize?: number;
  /** Called after every finished (not aborted) run: logging, `--once` output. */
  readonly onResult?: (result: MonitorResult) => void;
}

interface Slot {
  readonly monitor: MonitorConfig;
  timer: NodeJS.Timeout | undefined;
  running: Promise<void> | undefined;
  last: MonitorResult | null;
  runs: number;
  failures: number;
  consecutiveFailures: number;
  readonly connection: LatencySamples;
  readonly message: LatencySamples;
}

/** Runs monitors on their intervals; see the file comment for the timing rules. */
export class MonitorScheduler {
  readonly #slots: Slot[];
  readonly #metrics: MonitorMetrics;
  readonly #onResult: ((r: MonitorResult) => void) | undefined;
  #abort = new AbortController();
  #started = false;
  #stopped = false;

  constructor(monitors: readonly MonitorConfig[], opts: SchedulerOptions = {}) {
    const size = opts.historySize ?? 100;
    this.#metrics = opts.metrics ?? noopMonitorMetrics;
    this.#onResult = opts.onResult;
    this.#slots = monitors.map((monitor) => ({
      monitor,
      timer: undefined,
      running: undefined,
      last: null,
      runs: 0,
      failures: 0,
      consecutiveFailures: 0,
      connection: new LatencySamples(size),
      message: new LatencySamples(size),
    }));
  }

  /** Start every monitor now. Calling it twice, or after stop(), does nothing. */
  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    for (const slot of this.#slots) this.#run(slot);
  }

  /** Clear every timer, abort running checks and wait until their sockets are released. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort.abort();
    for (const slot of this.#slots) {
      clearTimeout(slot.timer);
      slot.timer = undefined;
    }
    await Promise.all(this.#slots.map((s) => s.running));
  }

  /** Every monitor's state, in config order. */
  results(): MonitorStatus[] {
    return this.#slots.map((s) => ({
      name: s.monitor.name,
      url: s.monitor.url,
      interval_s: s.monitor.interval / 1000,
      up: s.last === null ? null : s.last.passed,
      runs: s.runs,
      failures: s.failures,
      consecutive_failures: s.consecutiveFailures,
      last_result: s.last,
      latency: { connection: s.connection.percentiles(), message: s.message.percentiles() },
    }));
  }

  #run(slot: Slot): void {
    slot.timer = undefined;
    if (this.#stopped) return;
    const startedAt = now();
    slot.running = runMonitor(slot.monitor, { metrics: this.#metrics, signal: this.#abort.signal })
      // runMonitor reports failures in its result; a throw is a bug, which must not end the schedule.
      .catch((err: unknown): MonitorResult => internalError(slot.monitor, err))
      .then((r) => {
        slot.running = undefined;
        if (r.aborted === true || this.#stopped) return;
        this.#record(slot, r);
        const delay = Math.max(0, slot.monitor.interval - (now() - startedAt));
        slot.timer = setTimeout(() => this.#run(slot), delay);
      });
  }

  #record(slot: Slot, r: MonitorResult): void {
    slot.last = r;
    slot.runs += 1;
    if (r.passed) slot.consecutiveFailures = 0;
    else {
      slot.failures += 1;
      slot.consecutiveFailures += 1;
    }
    slot.connection.add(r.connectionLatencyMs);
    slot.message.add(r.messageLatencyMs);
    try {
      this.#onResult?.(r);
    } catch {
      // A faulty listener must not stop the schedule.
    }
  }
}

function internalError(m: MonitorConfig, err: unknown): MonitorResult {
  return {
    monitor: m.name,
    url: m.url,
    passed: false,
    startedAt: new Date().toISOString(),
    durationMs: 0,
    steps: [],
    connectionLatencyMs: null,
    messageLatencyMs: null,
    pingLatencyMs: null,
    closeCode: null,
    error: `monitor ${JSON.stringify(m.name)}: internal error: ${err instanceof Error ? err.message : String(err)}`,
  };
}
