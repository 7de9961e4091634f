/**
 * One run of a configured monitor: its steps in order (stopping at the first failure), then the
 * run-level latency assertions, all bounded by the monitor's `timeout`. Each run and step is
 * recorded in {@link MonitorMetrics}; the connection is released on every path.
 */
import type { MonitorConfig } from '../config/types.js';
import type { MonitorMetrics } from '../telemetry/monitor-metrics.js';
import { checkAssertion } from './assertions.js';
import { ProbeError, deadlineIn, now, quote, remaining, roundMs } from './deadline.js';
import { STEP_HANDLERS, type RunContext } from './steps.js';

/** One executed step. Steps after a failing one are not run and not listed. */
export interface MonitorStepResult {
  readonly action: string;
  readonly passed: boolean;
  readonly durationMs: number;
  readonly error?: string;
}

/** The outcome of one run (also what `/status` shows as a monitor's last result). */
export interface MonitorResult {
  readonly monitor: string;
  readonly url: string;
  readonly passed: boolean;
  /** ISO time the run started. */
  readonly startedAt: string;
  readonly durationMs: number;
  readonly steps: readonly MonitorStepResult[];
  /** Handshake time of the (last) connect step, ms; null when not measured. */
  readonly connectionLatencyMs: number | null;
  /** Last send → reply latency, or the ping round trip of `measure_latency`, ms. */
  readonly messageLatencyMs: number | null;
  /** Round trip of the last `ping` (or `measure_latency` ping), ms. */
  readonly pingLatencyMs: number | null;
  /** Close code the server answered in the last `disconnect`. */
  readonly closeCode: number | null;
  /** Names the monitor, the step (`steps[2] (receive)`) or assertion, and why. */
  readonly error?: string;
  /** The run was cut short by a stop (not a verdict on the service; not recorded in metrics). */
  readonly aborted?: boolean;
}

/** Options of {@link runMonitor}. */
export interface RunMonitorOptions {
  readonly metrics?: MonitorMetrics;
  /** Abort the run (the scheduler's stop). */
  readonly signal?: AbortSignal;
}

// Steps that end without a disconnect still close politely, but briefly: the verdict is in.
const FINAL_CLOSE_MS = 1000;

/** Run `monitor` once. Never throws; the result says what failed. */
export async function runMonitor(monitor: MonitorConfig, opts: RunMonitorOptions = {}): Promise<MonitorResult> {
  const startedAt = new Date().toISOString();
  const started = now();
  const ctx: RunContext = {
    monitor,
    runDeadline: deadlineIn(monitor.timeout, "the monitor's timeout"),
    ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
    conn: undefined,
    lastSendAt: undefined,
    lastExchangeMs: null,
    connectionLatencyMs: null,
    messageLatencyMs: null,
    pingLatencyMs: null,
    closeCode: null,
  };
  const steps: MonitorStepResult[] = [];
  let error: string | undefined;
  try {
    for (const [i, step] of monitor.steps.entries()) {
      const t0 = now();
      let stepError: string | undefined;
      const handler = STEP_HANDLERS[step.action];
      if (handler === undefined) {
        stepError = `unknown action ${quote(String(step.action))}`;
      } else if (remaining(ctx.runDeadline) <= 0) {
        stepError = `the monitor's timeout (${monitor.timeout} ms) ran out before this step`;
      } else {
        try {
          await handler(step, ctx);
        } catch (err) {
          stepError = errorText(err);
        }
      }
      const d = now() - t0;
      steps.push({ action: step.action, passed: stepError === undefined, durationMs: roundMs(d), ...(stepError !== undefined ? { error: stepError } : {}) });
      if (!opts.signal?.aborted) opts.metrics?.step(monitor.name, step.action, d / 1000);
      if (stepError !== undefined) {
        error = `monitor ${quote(monitor.name)}: steps[${i}] (${step.action}) failed: ${stepError}`;
        break;
      }
    }
    if (error === undefined) {
      const failed = monitor.assertions.flatMap((a, i) => {
        const why = checkAssertion(a, ctx);
        return why === null ? [] : [`assertions[${i}] failed: ${why}`];
      });
      if (failed.length > 0) error = `monitor ${quote(monitor.name)}: ${failed.join('; ')}`;
    }
  } finally {
    await release(ctx);
  }

  const aborted = opts.signal?.aborted === true;
  const durationMs = now() - started;
  const passed = error === undefined && !aborted;
  if (!aborted) opts.metrics?.run(monitor.name, passed, durationMs / 1000);
  return {
    monitor: monitor.name,
    url: monitor.url,
    passed,
    startedAt,
    durationMs: roundMs(durationMs),
    steps,
    connectionLatencyMs: ctx.connectionLatencyMs,
    messageLatencyMs: ctx.messageLatencyMs,
    pingLatencyMs: ctx.pingLatencyMs,
    closeCode: ctx.closeCode,
    ...(error !== undefined ? { error } : aborted ? { error: `monitor ${quote(monitor.name)}: aborted` } : {}),
    ...(aborted ? { aborted: true } : {}),
  };
}

/** Close a connection the steps left open (politely if time is left), then free it. */
async function release(ctx: RunContext): Promise<void> {
  const conn = ctx.conn;
  if (conn === undefined) return;
  ctx.conn = undefined;
  if (conn.closeInfo === undefined && !ctx.signal?.aborted) {
    const ms = Math.min(FINAL_CLOSE_MS, remaining(ctx.runDeadline));
    if (ms > 0) await conn.close(deadlineIn(ms), 1000).catch(() => undefined);
  }
  await conn.destroy();
}

function errorText(err: unknown): string {
  if (err instanceof ProbeError) return err.message;
  if (err instanceof SyntaxError) return err.message; // a bad regex in a hand-built config
  return `internal error: ${err instanceof Error ? err.message : String(err)}`;
}
