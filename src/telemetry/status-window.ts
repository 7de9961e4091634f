/**
 * The sliding window behind /status and `wstap status`: close codes over `alerts.window` with
 * the two alert rules, ping round-trip percentiles per leg, and message rates per direction.
 *
 * Memory is bounded whatever the traffic: the alert window is a ring of {@link BUCKETS} time
 * buckets, each holding counters, at most {@link MAX_CODES} close codes per initiator and one
 * fixed-size latency histogram per leg; rates use a ring of 60 one-second slots. Old buckets are
 * not swept by a timer: a bucket is reset when time comes back round to it, and evaluation skips
 * buckets older than the window.
 *
 * Messages are the hot path, so `message()` reads no clock: it takes the time the tunnel read for
 * the chunk (the hook's `at`) and, while that time stays inside the current one-second slot,
 * only increments that slot's counters.
 *
 * Evaluation is split in two so that cluster workers can be added up: `counts()` gives the raw
 * counts (plain JSON), `mergeWindowCounts()` sums those of several processes, and
 * `windowReport()` turns counts into ratios, alerts, percentiles and rates.
 */
import { performance } from 'node:perf_hooks';
import type { Direction, Initiator, Leg, MessageType, ProxyObserver, SessionCloseEvent, SessionInfo } from '../events.js';
import { CLOSE_CODE_OTHER } from './names.js';
import { isAbnormalCloseCode, normalizeCloseCode, type CloseCodeMode } from './close-codes.js';
import { latencyBin, latencyQuantiles, newLatencyBins, LATENCY_BINS } from './latency-histogram.js';
import type {
  AlertFinding,
  CloseCounts,
  CloseHealth,
  CodeCounts,
  DirectionCounts,
  LegCounts,
  LegLatency,
  MessageRates,
  PingReport,
  RateCounts,
  WindowCounts,
  WindowReport,
} from './status-types.js';

/** Time buckets across the alert window. */
export const BUCKETS = 60;
/** Distinct close codes kept per initiator per bucket; more fold into code 0 ("other"). */
export const MAX_CODES = 64;
const RATE_SLOTS = 60;
const INITIATORS: readonly Initiator[] = ['client', 'backend', 'proxy'];
const LEGS: readonly Leg[] = ['client', 'backend'];
const DIRECTIONS: readonly Direction[] = ['client_to_backend', 'backend_to_client'];

/** Options of {@link StatusWindow}; ratios are 0–1, durations milliseconds. */
export interface StatusWindowOptions {
  readonly windowMs: number;
  readonly abnormalCloseRatio: number;
  readonly abnormalDisconnectRatio: number;
  readonly closeCodes?: CloseCodeMode;
  /** Monotonic clock in milliseconds (default `performance.now()`); injectable for tests. */
  readonly now?: () => number;
}

class Bucket {
  epoch = -1;
  total = 0;
  abnormal = 0;
  d1006 = 0;
  readonly byInitiator: [Map<number, number>, Map<number, number>, Map<number, number>] = [new Map(), new Map(), new Map()];
  /** Allocated on the first ping of the bucket: idle buckets cost no histogram. */
  ping: [Uint32Array | null, Uint32Array | null] = [null, null];
  readonly pingCount: [number, number] = [0, 0];
  readonly pingTimeouts: [number, number] = [0, 0];

  reset(epoch: number): void {
    this.epoch = epoch;
    this.total = this.abnormal = this.d1006 = 0;
    for (const m of this.byInitiator) m.clear();
    for (const bins of this.ping) bins?.fill(0);
    this.pingCount[0] = this.pingCount[1] = 0;
    this.pingTimeouts[0] = this.pingTimeouts[1] = 0;
  }
}

/** The /status sliding window; subscribe it to the EventHub like any other observer. */
export class StatusWindow implements ProxyObserver {
  #opts: Required<Omit<StatusWindowOptions, 'now'>>;
  readonly #now: () => number;
  #width = 1;
  #buckets: Bucket[] = [];
  readonly #startedAt: number;
  readonly #rateEpoch = new Float64Array(RATE_SLOTS).fill(-1);
  readonly #rateMessages = new Float64Array(RATE_SLOTS * 2);
  readonly #rateBytes = new Float64Array(RATE_SLOTS * 2);
  /** The rate slot messages currently go to: [start, end) in ms, and its index × 2. */
  #slotStartMs = Infinity;
  #slotEndMs = -Infinity;
  #slotIndex = 0;
  /** The hook's `at` is on `performance.now()`'s clock: unusable when a test injects another. */
  readonly #useAt: boolean;

  constructor(options: StatusWindowOptions) {
    this.#now = options.now ?? (() => performance.now());
    this.#useAt = options.now === undefined;
    this.#opts = settings(options);
    this.#startedAt = this.#now();
    this.#resetRing();
  }

  /**
   * Apply reloaded `alerts:` / `telemetry.close_codes`. Thresholds apply at once; a different
   * window length restarts the close history (its buckets no longer line up).
   */
  reconfigure(options: Omit<StatusWindowOptions, 'now'>): void {
    const windowChanged = options.windowMs !== this.#opts.windowMs;
    this.#opts = settings(options);
    if (windowChanged) this.#resetRing();
  }

  sessionClose(_s: SessionInfo, e: SessionCloseEvent): void {
    const b = this.#bucket();
    const code = normalizeCloseCode(e.code, this.#opts.closeCodes);
    b.total++;
    if (isAbnormalCloseCode(code)) b.abnormal++;
    if (code === 1006) b.d1006++;
    const m = b.byInitiator[e.initiator === 'client' ? 0 : e.initiator === 'backend' ? 1 : 2];
    const key = m.has(code) || m.size < MAX_CODES ? code : CLOSE_CODE_OTHER;
    m.set(key, (m.get(key) ?? 0) + 1);
  }

  ping(_s: SessionInfo, leg: Leg, rttS: number): void {
    const b = this.#bucket();
    const l = leg === 'client' ? 0 : 1;
    const bins = (b.ping[l] ??= newLatencyBins());
    bins[latencyBin(rttS)]!++;
    b.pingCount[l]++;
  }

  pingTimeout(_s: SessionInfo, leg: Leg): void {
    this.#bucket().pingTimeouts[leg === 'client' ? 0 : 1]++;
  }

  message(_s: SessionInfo, dir: Direction, _type: MessageType, size: number, at?: number, count = 1): void {
    const t = at !== undefined && this.#useAt ? at : this.#now();
    if (!(t >= this.#slotStartMs && t < this.#slotEndMs)) this.#rateSlot(t);
    const i = this.#slotIndex + (dir === 'client_to_backend' ? 0 : 1);
    this.#rateMessages[i]! += count;
    this.#rateBytes[i]! += size * count;
  }

  /** The close-code health evaluation over the alert window. */
  evaluate(): CloseHealth {
    return closeHealth(this.#opts.windowMs, this.#thresholds(), this.#closeCounts(this.#epoch()));
  }

  /** Ping round-trip percentiles per leg over the alert window. */
  pingPercentiles(): PingReport {
    return pingReport(this.#opts.windowMs, this.#pingCounts(this.#epoch()));
  }

  /** Messages per second per direction over the last minute (or since start, if shorter). */
  messageRates(): MessageRates {
    return messageRates(this.#rateCounts(this.#now()));
  }

  /** Everything the window contributes to /status. */
  report(): WindowReport {
    return windowReport(this.counts());
  }

  /**
   * The raw counts behind {@link report} at this instant: plain JSON, to be summed across
   * processes with {@link mergeWindowCounts} and evaluated with {@link windowReport}.
   */
  counts(): WindowCounts {
    const nowMs = this.#now();
    const epoch = Math.floor(nowMs / this.#width);
    return {
      window_ms: this.#opts.windowMs,
      thresholds: this.#thresholds(),
      closes: this.#closeCounts(epoch),
      ping: this.#pingCounts(epoch),
      messages: this.#rateCounts(nowMs),
    };
  }

  #thresholds(): WindowCounts['thresholds'] {
    return {
      abnormal_close_ratio: this.#opts.abnormalCloseRatio,
      abnormal_disconnect_ratio: this.#opts.abnormalDisconnectRatio,
    };
  }

  #closeCounts(epoch: number): CloseCounts {
    let total = 0;
    let abnormal = 0;
    let d1006 = 0;
    const byInitiator: Record<Initiator, CodeCounts> = { client: {}, backend: {}, proxy: {} };
    for (const b of this.#live(epoch)) {
      total += b.total;
      abnormal += b.abnormal;
      d1006 += b.d1006;
      b.byInitiator.forEach((m, i) => {
        const target = byInitiator[INITIATORS[i]!];
        for (const [code, n] of m) target[code] = (target[code] ?? 0) + n;
      });
    }
    return { total, abnormal, disconnects_1006: d1006, by_initiator: byInitiator };
  }

  #pingCounts(epoch: number): WindowCounts['ping'] {
    const merged = [newLatencyBins(), newLatencyBins()];
    const counts = [0, 0];
    const timeouts = [0, 0];
    for (const b of this.#live(epoch)) {
      for (let l = 0; l < 2; l++) {
        const bins = b.ping[l];
        if (bins !== null && bins !== undefined) {
          const target = merged[l]!;
          for (let i = 0; i < LATENCY_BINS; i++) target[i]! += bins[i]!;
        }
        counts[l]! += b.pingCount[l]!;
        timeouts[l]! += b.pingTimeouts[l]!;
      }
    }
    const leg = (l: number): LegCounts => ({ bins: Array.from(merged[l]!), count: counts[l]!, timeouts: timeouts[l]! });
    return { client: leg(0), backend: leg(1) };
  }

  #rateCounts(nowMs: number): RateCounts {
    const sec = Math.floor(nowMs / 1000);
    const messages = [0, 0];
    const bytes = [0, 0];
    for (let slot = 0; slot < RATE_SLOTS; slot++) {
      const epoch = this.#rateEpoch[slot]!;
      if (epoch > sec - RATE_SLOTS && epoch <= sec) {
        for (let d = 0; d < 2; d++) {
          messages[d]! += this.#rateMessages[slot * 2 + d]!;
          bytes[d]! += this.#rateBytes[slot * 2 + d]!;
        }
      }
    }
    return {
      window_s: RATE_SLOTS,
      span_s: rateSpan(RATE_SLOTS, (nowMs - this.#startedAt) / 1000),
      client_to_backend: { messages: messages[0]!, bytes: bytes[0]! },
      backend_to_client: { messages: messages[1]!, bytes: bytes[1]! },
    };
  }

  // Make the slot of second floor(t / 1000) current, clearing it if it still holds an older turn.
  #rateSlot(t: number): void {
    const sec = Math.floor(t / 1000);
    const slot = ((sec % RATE_SLOTS) + RATE_SLOTS) % RATE_SLOTS;
    if (this.#rateEpoch[slot] !== sec) {
      this.#rateEpoch[slot] = sec;
      this.#rateMessages[slot * 2] = this.#rateMessages[slot * 2 + 1] = 0;
      this.#rateBytes[slot * 2] = this.#rateBytes[slot * 2 + 1] = 0;
    }
    this.#slotStartMs = sec * 1000;
    this.#slotEndMs = (sec + 1) * 1000;
    this.#slotIndex = slot * 2;
  }

  #resetRing(): void {
    this.#width = Math.max(1, this.#opts.windowMs / BUCKETS);
    this.#buckets = Array.from({ length: BUCKETS }, () => new Bucket());
  }

  #epoch(): number {
    return Math.floor(this.#now() / this.#width);
  }

  #bucket(): Bucket {
    const epoch = Math.floor(this.#now() / this.#width);
    const b = this.#buckets[((epoch % BUCKETS) + BUCKETS) % BUCKETS]!;
    if (b.epoch !== epoch) b.reset(epoch);
    return b;
  }

  *#live(epoch: number): Generator<Bucket> {
    for (const b of this.#buckets) if (b.epoch > epoch - BUCKETS && b.epoch <= epoch) yield b;
  }
}

/**
 * Sum the counts of several windows, e.g. one per cluster worker, into the counts of one window
 * that saw all their traffic. Closes, codes, latency bins and message counts add up; the alert
 * window, thresholds and rate window are taken from the first element (all come from one
 * config); the rate span is the longest, so a worker that just started does not inflate rates.
 * An empty list gives all-zero counts (window 0, thresholds 0), which report `no_data`.
 */
export function mergeWindowCounts(list: readonly WindowCounts[]): WindowCounts {
  const first = list[0];
  const byInitiator: Record<Initiator, CodeCounts> = { client: {}, backend: {}, proxy: {} };
  const bins = [new Array<number>(LATENCY_BINS).fill(0), new Array<number>(LATENCY_BINS).fill(0)];
  let total = 0;
  let abnormal = 0;
  let d1006 = 0;
  const pingCount = [0, 0];
  const pingTimeouts = [0, 0];
  const messages = [0, 0];
  const bytes = [0, 0];
  let spanS = 0;
  for (const c of list) {
    total += c.closes.total;
    abnormal += c.closes.abnormal;
    d1006 += c.closes.disconnects_1006;
    for (const who of INITIATORS) {
      const target = byInitiator[who];
      for (const [code, n] of Object.entries(c.closes.by_initiator[who])) target[code] = (target[code] ?? 0) + n;
    }
    LEGS.forEach((leg, l) => {
      const from = c.ping[leg];
      const to = bins[l]!;
      for (let i = 0; i < LATENCY_BINS; i++) to[i]! += from.bins[i] ?? 0;
      pingCount[l]! += from.count;
      pingTimeouts[l]! += from.timeouts;
    });
    DIRECTIONS.forEach((dir, d) => {
      messages[d]! += c.messages[dir].messages;
      bytes[d]! += c.messages[dir].bytes;
    });
    spanS = Math.max(spanS, c.messages.span_s);
  }
  const leg = (l: number): LegCounts => ({ bins: bins[l]!, count: pingCount[l]!, timeouts: pingTimeouts[l]! });
  return {
    window_ms: first?.window_ms ?? 0,
    thresholds: {
      abnormal_close_ratio: first?.thresholds.abnormal_close_ratio ?? 0,
      abnormal_disconnect_ratio: first?.thresholds.abnormal_disconnect_ratio ?? 0,
    },
    closes: { total, abnormal, disconnects_1006: d1006, by_initiator: byInitiator },
    ping: { client: leg(0), backend: leg(1) },
    messages: {
      window_s: first?.messages.window_s ?? RATE_SLOTS,
      span_s: spanS,
      client_to_backend: { messages: messages[0]!, bytes: bytes[0]! },
      backend_to_client: { messages: messages[1]!, bytes: bytes[1]! },
    },
  };
}

/**
 * Evaluate counts into the /status figures: close health with its alert findings, ping
 * percentiles per leg, message rates. `StatusWindow.report()` is `windowReport(counts())`.
 */
export function windowReport(c: WindowCounts): WindowReport {
  return {
    close_health: closeHealth(c.window_ms, c.thresholds, c.closes),
    ping: pingReport(c.window_ms, c.ping),
    messages: messageRates(c.messages),
  };
}

function closeHealth(windowMs: number, thresholds: WindowCounts['thresholds'], c: CloseCounts): CloseHealth {
  const { abnormal_close_ratio: abnormalCloseRatio, abnormal_disconnect_ratio: abnormalDisconnectRatio } = thresholds;
  const { total, abnormal, disconnects_1006: d1006 } = c;
  const codes: CodeCounts = {};
  const byInitiator: Record<Initiator, CodeCounts> = { client: {}, backend: {}, proxy: {} };
  for (const who of INITIATORS) {
    for (const [code, n] of Object.entries(c.by_initiator[who])) {
      byInitiator[who][code] = n;
      codes[code] = (codes[code] ?? 0) + n;
    }
  }
  const abnormalRate = total > 0 ? abnormal / total : 0;
  const disconnectRate = total > 0 ? d1006 / total : 0;
  const window = formatWindow(windowMs);
  const alerts: AlertFinding[] = [];
  if (total > 0 && abnormalRate > abnormalCloseRatio) {
    alerts.push({
      rule: 'abnormal_close_ratio',
      threshold: abnormalCloseRatio,
      value: abnormalRate,
      message: `${pct(abnormalRate)} of ${total} closes in the last ${window} were abnormal (1006/1011/1012/1013); threshold ${pct(abnormalCloseRatio)}`,
    });
  }
  if (total > 0 && disconnectRate > abnormalDisconnectRatio) {
    alerts.push({
      rule: 'abnormal_disconnect_ratio',
      threshold: abnormalDisconnectRatio,
      value: disconnectRate,
      message: `${pct(disconnectRate)} of ${total} closes in the last ${window} ended without a close frame (1006); threshold ${pct(abnormalDisconnectRatio)}`,
    });
  }
  return {
    status: total === 0 ? 'no_data' : alerts.length > 0 ? 'alert' : 'healthy',
    window_s: windowMs / 1000,
    total_closes: total,
    abnormal_closes: abnormal,
    abnormal_rate: abnormalRate,
    disconnects_1006: d1006,
    disconnect_rate: disconnectRate,
    thresholds: { abnormal_close_ratio: abnormalCloseRatio, abnormal_disconnect_ratio: abnormalDisconnectRatio },
    alerts,
    codes,
    by_initiator: byInitiator,
  };
}

function pingReport(windowMs: number, ping: WindowCounts['ping']): PingReport {
  const leg = (c: LegCounts): LegLatency => {
    // Uint32 like the window's own bins: a leg would need 2³² pings in one window to wrap.
    const [p50, p95, p99] = latencyQuantiles(Uint32Array.from(c.bins), c.count, [0.5, 0.95, 0.99]).map(toMs);
    return { count: c.count, timeouts: c.timeouts, p50_ms: p50 ?? null, p95_ms: p95 ?? null, p99_ms: p99 ?? null };
  };
  return { window_s: windowMs / 1000, client: leg(ping.client), backend: leg(ping.backend) };
}

function messageRates(c: RateCounts): MessageRates {
  const spanS = rateSpan(c.window_s, c.span_s);
  const rate = (d: DirectionCounts) => ({
    messages: d.messages,
    per_second: round(d.messages / spanS),
    bytes_per_second: round(d.bytes / spanS),
  });
  return { window_s: c.window_s, client_to_backend: rate(c.client_to_backend), backend_to_client: rate(c.backend_to_client) };
}

/** Right after start, dividing by a full window would under-report the rate; never below 1 s. */
function rateSpan(windowS: number, elapsedS: number): number {
  return Math.min(windowS, Math.max(1, elapsedS));
}

function settings(o: StatusWindowOptions): Required<Omit<StatusWindowOptions, 'now'>> {
  return {
    windowMs: o.windowMs,
    abnormalCloseRatio: o.abnormalCloseRatio,
    abnormalDisconnectRatio: o.abnormalDisconnectRatio,
    closeCodes: o.closeCodes ?? 'exact',
  };
}

function toMs(s: number | null): number | null {
  return s === null ? null : round(s * 1000);
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

function pct(ratio: number): string {
  return `${(ratio * 100).toFixed(ratio < 0.1 ? 1 : 0).replace(/\.0$/, '')}%`;
}

/** `900000` → `15m`, `3600000` → `1h`, `90000` → `90s`. */
export function formatWindow(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
