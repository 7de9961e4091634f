/**
 * `wstap check`: one synthetic health check with the seed's lifecycle — connect, ping/pong,
 * optionally send a message and wait for a reply containing a substring, then close normally
 * and compare the server's close code with the expected one. The whole run is bounded by one
 * timeout, and any failure ends it with a precise `error`.
 */
import { ProbeConnection, type CloseInfo } from './probe-connection.js';
import { closeMismatch } from './connect-errors.js';
import { ProbeError, deadlineIn, now, quote, roundMs } from './deadline.js';

/** Options of {@link runCheck}; every field has the CLI's default. */
export interface CheckOptions {
  /** Bound of the whole check, in ms (default 5000). */
  readonly timeoutMs?: number;
  /** Text to send after the ping round trip. */
  readonly send?: string;
  /** Substring a received message must contain. */
  readonly expect?: string;
  /** Close code the server must answer (default 1000). */
  readonly expectClose?: number;
  readonly subprotocols?: readonly string[];
  readonly headers?: Readonly<Record<string, string>>;
  /** Skip TLS certificate verification. */
  readonly insecure?: boolean;
  readonly signal?: AbortSignal;
}

/** The result object of SPEC §2 (`wstap check --json`). Latencies are ms, null when not measured. */
export interface CheckResult {
  readonly url: string;
  readonly healthy: boolean;
  readonly connected: boolean;
  readonly connectionTimeMs: number | null;
  readonly pingLatencyMs: number | null;
  readonly messageLatencyMs: number | null;
  readonly messageReceived: boolean;
  readonly closeCode: number | null;
  readonly totalTimeMs: number;
  readonly error: string | null;
}

/** Default of `--timeout`. */
export const DEFAULT_CHECK_TIMEOUT_MS = 5000;

/**
 * Run one check against `url`. Never throws: every failure is a result with `healthy: false`
 * and an `error`. The connection is released before the promise resolves.
 *
 * Semantics worth knowing: with `send`, only messages that arrive after the send can match
 * (a greeting is not a reply); `send` without `expect` waits for any reply; `expect` without
 * `send` accepts any message since the connection opened. A server that closes first with the
 * expected code ends the check (a pending ping is then skipped, a pending `expect` fails).
 */
export async function runCheck(url: string, opts: CheckOptions = {}): Promise<CheckResult> {
  const started = now();
  const timeoutMs = opts.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS;
  const expectClose = opts.expectClose ?? 1000;
  const deadline = deadlineIn(timeoutMs);
  const r = {
    connected: false,
    connectionTimeMs: null as number | null,
    pingLatencyMs: null as number | null,
    messageLatencyMs: null as number | null,
    messageReceived: false,
    closeCode: null as number | null,
  };
  let error: string | null = null;
  let conn: ProbeConnection | undefined;
  let phase = 'the handshake';
  try {
    conn = await ProbeConnection.open(url, probeOptions(opts), deadline);
    r.connected = true;
    r.connectionTimeMs = roundMs(conn.connectionTimeMs);

    phase = 'a pong';
    r.pingLatencyMs = roundMs(await conn.ping(deadline));

    if (opts.send !== undefined || opts.expect !== undefined) {
      const what = opts.expect !== undefined ? `a message containing ${quote(opts.expect)}` : 'a reply';
      phase = what;
      const from = opts.send !== undefined ? await conn.send(opts.send, deadline) : started + conn.connectionTimeMs;
      const expect = opts.expect;
      const m = await conn.receive((msg) => expect === undefined || msg.text.includes(expect), what, deadline);
      r.messageReceived = true;
      r.messageLatencyMs = roundMs(Math.max(0, m.at - from));
    }

    phase = 'the close handshake';
    const closed = await conn.close(deadline, 1000);
    r.closeCode = closed.code;
    error = closeMismatch(closed, expectClose);
  } catch (err) {
    error = errorText(err);
    const early = conn?.closeInfo;
    if (early !== undefined && early.byServer) {
      r.closeCode = early.code;
      if (early.code !== 1006) {
        // The server ended the session itself: its code is the real news. With the expected
        // code while only the pong was pending, nothing the user asked for was missed.
        const onlyPingPending = phase === 'a pong' && opts.send === undefined && opts.expect === undefined;
        error = closeMismatch(early, expectClose, phase) ?? (onlyPingPending ? null : error);
      }
    }
  } finally {
    await conn?.destroy();
  }
  return {
    url,
    healthy: error === null,
    ...r,
    totalTimeMs: roundMs(now() - started),
    error,
  };
}

function probeOptions(opts: CheckOptions) {
  return {
    ...(opts.headers !== undefined ? { headers: opts.headers } : {}),
    ...(opts.subprotocols !== undefined ? { subprotocols: opts.subprotocols } : {}),
    ...(opts.insecure !== undefined ? { insecure: opts.insecure } : {}),
    ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
  };
}

function errorText(err: unknown): string {
  if (err instanceof ProbeError) return err.message;
  // Anything else is a bug in the probe; say so rather than hiding it behind "unhealthy".
  return `internal error: ${err instanceof Error ? err.message : String(err)}`;
}
