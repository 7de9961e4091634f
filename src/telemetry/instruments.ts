/**
 * Every wstap instrument, created in one function (the OTel instrumentation pattern), so the
 * catalogue of SPEC §5 can be read and reviewed in one place.
 *
 * Every histogram carries `advice.explicitBucketBoundaries`: the SDK's default buckets are
 * millisecond-shaped (0…10000), which would put every seconds value in the first buckets.
 * Counts use `ValueType.INT` so OTLP carries `asInt` and Prometheus prints integers.
 */
import { ValueType, type Meter } from '@opentelemetry/api';
import { METRIC } from './names.js';
import type { HistogramDefinition } from './aggregated-histogram.js';

/** Session lengths, seconds: from 10 ms to a day (WebSocket sessions routinely last hours). */
export const SESSION_DURATION_BUCKETS: readonly number[] = [
  0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 28800, 86400,
];

/** Ping round trips and handshakes, seconds: from 100 µs (LAN pings are sub-millisecond) to 10 s. */
export const LATENCY_BUCKETS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** Synthetic monitor runs and steps, seconds: latency buckets plus room for slow multi-step runs. */
export const MONITOR_DURATION_BUCKETS: readonly number[] = [...LATENCY_BUCKETS, 30, 60];

/** Message sizes, bytes: powers of 4 from 1 B to 64 MiB. */
export const MESSAGE_SIZE_BUCKETS: readonly number[] = Array.from({ length: 14 }, (_, i) => 4 ** i);

/** Messages per session: 1-2-5 steps up to a million. */
export const SESSION_MESSAGES_BUCKETS: readonly number[] = [
  1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000, 200_000,
  500_000, 1_000_000,
];

const INT = ValueType.INT;
const DOUBLE = ValueType.DOUBLE;

/**
 * The histograms the recorder aggregates itself (aggregated-histogram.ts) instead of recording
 * through the SDK, which hashes the attribute object on every `record()`: `wstap.message.size`
 * once per message (≈ 85 % of the CPU of a 64-byte flood, before), the session and handshake
 * histograms once per session, the ping histogram once per heartbeat. A producer per reader
 * exports each as this very histogram. The SDK instruments below are created from the same
 * definitions and receive measurements only from a recorder built without the aggregates (a
 * MeterProvider assembled by hand, as in unit tests).
 */
export const MESSAGE_SIZE_HISTOGRAM: HistogramDefinition = {
  name: METRIC.MESSAGE_SIZE,
  unit: 'By',
  description: 'Payload size of relayed data messages as seen on the wire (compressed if negotiated).',
  valueType: INT,
  boundaries: MESSAGE_SIZE_BUCKETS,
};

export const SESSION_DURATION_HISTOGRAM: HistogramDefinition = {
  name: METRIC.SESSION_DURATION,
  unit: 's',
  description: 'Session length from the 101 to the end of both legs, by close code and initiator.',
  valueType: DOUBLE,
  boundaries: SESSION_DURATION_BUCKETS,
};

export const SESSION_MESSAGES_HISTOGRAM: HistogramDefinition = {
  name: METRIC.SESSION_MESSAGES,
  unit: '{message}',
  description: 'Data messages relayed per session, both directions together.',
  valueType: INT,
  boundaries: SESSION_MESSAGES_BUCKETS,
};

export const HANDSHAKE_DURATION_HISTOGRAM: HistogramDefinition = {
  name: METRIC.HANDSHAKE_DURATION,
  unit: 's',
  description: 'Client upgrade request received to answer written (101 or error).',
  valueType: DOUBLE,
  boundaries: LATENCY_BUCKETS,
};

export const PING_DURATION_HISTOGRAM: HistogramDefinition = {
  name: METRIC.PING_DURATION,
  unit: 's',
  description: 'Round trip of proxy-originated pings, per leg.',
  valueType: DOUBLE,
  boundaries: LATENCY_BUCKETS,
};

/** Create every instrument of SPEC §5 on `meter`. Call once per MeterProvider. */
export function createInstruments(meter: Meter) {
  const histogram = (name: string, unit: string, description: string, buckets: readonly number[], valueType = DOUBLE) =>
    meter.createHistogram(name, { unit, description, valueType, advice: { explicitBucketBoundaries: [...buckets] } });
  const defined = (d: HistogramDefinition) => histogram(d.name, d.unit, d.description, d.boundaries, d.valueType);

  return {
    /** The meter, for batch callbacks over observable instruments. */
    meter,
    // Observable, like `messages` below: the recorder keeps per-session counts in plain numbers and
    // reports totals at collection, so opening and closing a session costs no attribute hashing.
    // Exported exactly like the synchronous kinds (a non-monotonic / monotonic sum).
    connectionsActive: meter.createObservableUpDownCounter(METRIC.CONNECTIONS_ACTIVE, {
      unit: '{connection}',
      description: 'Tunnelled WebSocket sessions currently open.',
      valueType: INT,
    }),
    connections: meter.createObservableCounter(METRIC.CONNECTIONS, {
      unit: '{connection}',
      description: 'WebSocket sessions opened (a valid 101 relayed to the client).',
      valueType: INT,
    }),
    sessionDuration: defined(SESSION_DURATION_HISTOGRAM),
    sessionMessages: defined(SESSION_MESSAGES_HISTOGRAM),
    // Observable: the recorder counts messages and bytes in plain numbers and reports the totals
    // at collection, so the per-message path costs an increment instead of an attribute hash per
    // reader (≈1 µs each in the SDK). Exported exactly like a Counter (monotonic sum).
    messages: meter.createObservableCounter(METRIC.MESSAGES, {
      unit: '{message}',
      description: 'Data messages relayed (a fragmented message counts once; control frames excluded).',
      valueType: INT,
    }),
    /** See {@link MESSAGE_SIZE_HISTOGRAM}: empty (and not exported) when the recorder aggregates it. */
    messageSize: defined(MESSAGE_SIZE_HISTOGRAM),
    io: meter.createObservableCounter(METRIC.IO, {
      unit: 'By',
      description: 'Wire bytes relayed after the handshake, frame headers included.',
      valueType: INT,
    }),
    closes: meter.createObservableCounter(METRIC.CLOSES, {
      unit: '{close}',
      description: 'Sessions ended, by first close code and by who closed.',
      valueType: INT,
    }),
    upgrades: meter.createObservableCounter(METRIC.UPGRADES, {
      unit: '{request}',
      description: 'WebSocket upgrade requests answered, by status (error.type on failures).',
      valueType: INT,
    }),
    handshakeDuration: defined(HANDSHAKE_DURATION_HISTOGRAM),
    pingDuration: defined(PING_DURATION_HISTOGRAM),
    pingTimeouts: meter.createCounter(METRIC.PING_TIMEOUTS, {
      unit: '{ping}',
      description: 'Proxy pings whose pong did not arrive within heartbeat.timeout (the leg is declared dead).',
      valueType: INT,
    }),
    errors: meter.createCounter(METRIC.ERRORS, {
      unit: '{error}',
      description: 'Errors outside the upgrade answer (heartbeat_timeout, idle_timeout, backend_reset, …).',
      valueType: INT,
    }),
    protocolViolations: meter.createCounter(METRIC.PROTOCOL_VIOLATIONS, {
      unit: '{violation}',
      description: 'RFC 6455 violations seen by the passive frame parser, by direction.',
      valueType: INT,
    }),
    backendUp: meter.createObservableGauge(METRIC.BACKEND_UP, {
      unit: '1',
      description: '1 when the backend server accepts new sessions (health checks pass), else 0.',
      valueType: INT,
    }),
    backendSelections: meter.createObservableCounter(METRIC.BACKEND_SELECTIONS, {
      unit: '{selection}',
      description: 'Backend choices, by affinity outcome (none, new, hit, moved).',
      valueType: INT,
    }),
    monitorUp: meter.createGauge(METRIC.MONITOR_UP, {
      unit: '1',
      description: '1 when the last run of the synthetic monitor passed, else 0.',
      valueType: INT,
    }),
    monitorDuration: histogram(
      METRIC.MONITOR_DURATION,
      's',
      'Duration of a whole synthetic monitor run.',
      MONITOR_DURATION_BUCKETS,
    ),
    monitorStepDuration: histogram(
      METRIC.MONITOR_STEP_DURATION,
      's',
      'Duration of one step of a synthetic monitor run.',
      MONITOR_DURATION_BUCKETS,
    ),
  } as const;
}

/** The instrument set returned by {@link createInstruments}. */
export type Instruments = ReturnType<typeof createInstruments>;
