/**
 * What each monitor step action does (SPEC §3 `monitors[].steps`). A handler either returns
 * (the step passed) or throws a ProbeError whose message is the step's `error`; the runner
 * owns timing, metrics and cleanup. Handlers share one {@link RunContext} per run.
 */
import type { MonitorConfig, MonitorStep } from '../config/types.js';
import { messageMatcher, type MessageAssertions } from './assertions.js';
import { closeMismatch } from './connect-errors.js';
import { ProbeError, deadlineIn, earliest, remaining, roundMs, sleep, type Deadline } from './deadline.js';
import { ProbeConnection } from './probe-connection.js';

/** The mutable state of one monitor run, shared by its steps. */
export interface RunContext {
  readonly monitor: MonitorConfig;
  /** The run's overall `timeout`. */
  readonly runDeadline: Deadline;
  readonly signal?: AbortSignal;
  conn: ProbeConnection | undefined;
  /** `now()` of the last `send`, the start of the next exchange. */
  lastSendAt: number | undefined;
  /** Latency of the last send → matching receive. */
  lastExchangeMs: number | null;
  connectionLatencyMs: number | null;
  messageLatencyMs: number | null;
  pingLatencyMs: number | null;
  closeCode: number | null;
}

type StepHandler = (step: MonitorStep, ctx: RunContext) => Promise<void>;

/** One handler per action; the `Record` makes a new action in the config types a compile error here. */
export const STEP_HANDLERS: Readonly<Record<MonitorStep['action'], StepHandler>> = {
  async connect(step, ctx) {
    if (ctx.conn !== undefined && ctx.conn.closeInfo === undefined) {
      throw new ProbeError('already connected — add a disconnect step before connecting again');
    }
    await ctx.conn?.destroy();
    ctx.conn = undefined;
    const m = ctx.monitor;
    ctx.conn = await ProbeConnection.open(
      m.url,
      { headers: m.headers, subprotocols: m.subprotocols, insecure: m.insecure, ...(ctx.signal ? { signal: ctx.signal } : {}) },
      ctx.runDeadline,
    );
    ctx.lastSendAt = undefined;
    ctx.connectionLatencyMs = roundMs(ctx.conn.connectionTimeMs);
    const within = numberField(step, 'assert_connected_within_ms');
    if (within !== undefined && ctx.conn.connectionTimeMs > within) {
      throw new ProbeError(`connected in ${ctx.connectionLatencyMs} ms, more than the ${within} ms allowed (assert_connected_within_ms)`);
    }
  },

  async send(step, ctx) {
    const message = step['message'];
    if (typeof message !== 'string') throw new ProbeError('send needs a "message" (text to send)');
    ctx.lastSendAt = await connection(ctx).send(message, ctx.runDeadline);
  },

  async receive(step, ctx) {
    const conn = connection(ctx);
    const matcher = messageMatcher(step as MessageAssertions);
    const m = await conn.receive((msg) => matcher.accepts(msg.text), matcher.description, stepDeadline(step, ctx));
    if (ctx.lastSendAt !== undefined) {
      ctx.lastExchangeMs = roundMs(Math.max(0, m.at - ctx.lastSendAt));
      ctx.messageLatencyMs = ctx.lastExchangeMs;
    }
  },

  async measure_latency(_step, ctx) {
    // The last request → reply is the latency users feel; without one, a ping round trip is
    // the closest measure the server offers.
    if (ctx.lastExchangeMs !== null) {
      ctx.messageLatencyMs = ctx.lastExchangeMs;
      return;
    }
    ctx.pingLatencyMs = roundMs(await connection(ctx).ping(ctx.runDeadline));
    ctx.messageLatencyMs = ctx.pingLatencyMs;
  },

  async disconnect(step, ctx) {
    const conn = connection(ctx);
    const expected = numberField(step, 'expected_close_code') ?? 1000;
    try {
      const closed = await conn.close(ctx.runDeadline, 1000);
      ctx.closeCode = closed.code;
      const mismatch = closeMismatch(closed, expected);
      if (mismatch !== null) throw new ProbeError(mismatch);
    } finally {
      await conn.destroy();
      ctx.conn = undefined;
    }
  },

  async wait(step, ctx) {
    const ms = numberField(step, 'ms') ?? numberField(step, 'duration') ?? 0;
    const left = remaining(ctx.runDeadline);
    const full = await sleep(Math.min(ms, left), ctx.signal);
    if (!full) throw new ProbeError(`aborted during a wait of ${ms} ms`);
    if (ms > left) throw new ProbeError(`the monitor's timeout (${ctx.runDeadline.timeoutMs} ms) ran out during a wait of ${ms} ms`);
  },

  async ping(step, ctx) {
    ctx.pingLatencyMs = roundMs(await connection(ctx).ping(stepDeadline(step, ctx)));
  },
};

/** The step's `timeout_ms` (if any), never later than the run's deadline. */
function stepDeadline(step: MonitorStep, ctx: RunContext): Deadline {
  const ms = numberField(step, 'timeout_ms');
  return earliest(ctx.runDeadline, ms === undefined ? undefined : deadlineIn(ms));
}

/** The open connection; a closed one is still returned, so its own error can name the close code. */
function connection(ctx: RunContext): ProbeConnection {
  if (ctx.conn === undefined) throw new ProbeError('no open connection — add a connect step before it');
  return ctx.conn;
}

/** A numeric step key; a hand-built config with a string there is a clear error, not NaN. */
function numberField(step: MonitorStep, key: string): number | undefined {
  const v = step[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ProbeError(`${key} must be a number of milliseconds, got ${JSON.stringify(v)}`);
  return v;
}
