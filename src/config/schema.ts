/**
 * The shape of the config file (SPEC §3), with its defaults. Keys are snake_case as in the
 * file; every object is strict, so a misspelt key is an error with a "did you mean" hint
 * rather than a setting silently ignored. Durations come out in milliseconds.
 *
 * This is step one of three: shape and defaults here, cross-field checks in `validate.ts`,
 * the final `Config` (URLs, absolute paths, environment) in `normalize.ts`. `config/wstap.yaml`
 * documents every key; a test keeps it in step with this file.
 */
import { z } from 'zod';
import type { AffinityKey } from './types.js';
import { DURATION_HINT, parseDuration } from './duration.js';
import { describeValue, unknownKeysError } from './problems.js';
import { didYouMean } from './suggest.js';

/** A strict object whose unknown keys get a "did you mean" hint against its own keys. */
function section<S extends z.core.$ZodLooseShape>(shape: S) {
  return z.strictObject(shape, { error: unknownKeysError(Object.keys(shape), nestedKeys(shape)) });
}

/** Keys of the object sections one level below `shape`, as `key → section.key` (first wins). */
function nestedKeys(shape: z.core.$ZodLooseShape): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, schema] of Object.entries(shape)) {
    let def: z.core.$ZodTypeDef = schema._zod.def;
    // Look through optional/default/prefault wrappers to the section itself.
    for (let inner = (def as { innerType?: z.core.$ZodType }).innerType; inner !== undefined; inner = (def as { innerType?: z.core.$ZodType }).innerType) {
      def = inner._zod.def;
    }
    if (def.type !== 'object') continue;
    for (const key of Object.keys((def as z.core.$ZodObjectDef).shape)) if (!out.has(key)) out.set(key, `${name}.${key}`);
  }
  return out;
}

// `${PORT}` substitutes a string, and YAML users quote numbers now and then: a string that is
// exactly a number is taken as that number wherever a number is expected.
const NUMERIC = /^\s*-?\d+(?:\.\d+)?\s*$/;
function numericString(v: unknown): unknown {
  return typeof v === 'string' && NUMERIC.test(v) ? Number(v) : v;
}

/** A whole number within bounds; numeric strings accepted. */
function int(min: number, max = Number.MAX_SAFE_INTEGER) {
  return z.preprocess(numericString, z.number().int().min(min).max(max));
}

/** true/false; the strings "true"/"false" accepted (they are what `${VAR}` yields). */
const bool = z.preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean());

/** A non-empty string; a number is taken as its decimal text (`id: 1`, `service_name: 2`). */
const text = z.preprocess((v) => (typeof v === 'number' ? String(v) : v), z.string().min(1));

/** A share in (0, 1]. */
const ratio = z.preprocess(
  numericString,
  z.number().refine((v) => v > 0 && v <= 1, { message: 'must be more than 0 and at most 1 — write a share, e.g. 0.05 for 5%' }),
);

/** A duration (see `duration.ts`), in milliseconds. `positive` refuses 0. */
function duration(opts: { positive?: boolean } = {}) {
  return z.unknown().transform((v, ctx): number => {
    if (v === undefined) {
      ctx.addIssue({ code: 'custom', message: `required — ${DURATION_HINT}`, input: v });
      return z.NEVER;
    }
    if (typeof v !== 'string' && typeof v !== 'number') {
      ctx.addIssue({ code: 'custom', message: `expected a duration, got ${describeValue(v)} — ${DURATION_HINT}`, input: v });
      return z.NEVER;
    }
    let ms: number;
    try {
      ms = parseDuration(v);
    } catch {
      ctx.addIssue({ code: 'custom', message: `invalid duration ${describeValue(v)} — ${DURATION_HINT}`, input: v });
      return z.NEVER;
    }
    if (opts.positive === true && ms === 0) {
      ctx.addIssue({ code: 'custom', message: 'must be more than 0 — e.g. 10s', input: v });
      return z.NEVER;
    }
    return ms;
  });
}

/** HTTP header values by name; numbers are taken as text. */
const headers = z.record(z.string(), z.preprocess((v) => (typeof v === 'number' || typeof v === 'boolean' ? String(v) : v), z.string()));

const AFFINITY_KINDS = ['client-ip', 'header', 'cookie', 'query'] as const;
const AFFINITY_HINT = 'use client-ip, header:NAME, cookie:NAME or query:NAME';

/**
 * `client-ip` | `header:NAME` | `cookie:NAME` | `query:NAME`, parsed. Header names are
 * lower-cased (Node delivers incoming header names in lower case); cookie and query names are
 * case-sensitive and kept as written.
 */
const affinityKey = text.transform((s, ctx): AffinityKey => {
  const colon = s.indexOf(':');
  const kind = (colon < 0 ? s : s.slice(0, colon)).trim();
  const name = colon < 0 ? '' : s.slice(colon + 1).trim();
  if (kind === 'client-ip' && colon < 0) return { kind: 'client-ip' };
  if (kind === 'header' || kind === 'cookie' || kind === 'query') {
    if (name === '') {
      ctx.addIssue({ code: 'custom', message: `"${kind}:" needs a name — e.g. ${kind}:${kind === 'header' ? 'X-User-Id' : kind === 'cookie' ? 'session' : 'room'}`, input: s });
      return z.NEVER;
    }
    return { kind, name: kind === 'header' ? name.toLowerCase() : name };
  }
  const guess = didYouMean(kind, AFFINITY_KINDS);
  const fix = guess === undefined ? AFFINITY_HINT : `did you mean "${guess === 'client-ip' ? guess : `${guess}:${name || 'NAME'}`}"?`;
  ctx.addIssue({ code: 'custom', message: `unknown affinity key ${describeValue(s)} — ${fix}`, input: s });
  return z.NEVER;
});

const serverSchema = section({
  /** Stable, low-cardinality name used in metrics; default: the URL's host:port. */
  id: text.optional(),
  url: text,
  weight: int(1).default(1),
});

const healthSchema = section({
  interval: duration({ positive: true }).prefault('10s'),
  timeout: duration({ positive: true }).prefault('3s'),
  path: text.default('/'),
  send: text.optional(),
  expect: text.optional(),
  rise: int(1).default(2),
  fall: int(1).default(3),
});

const poolSchema = section({
  balance: z.enum(['round-robin', 'least-connections', 'random', 'hash']).default('round-robin'),
  affinity: section({ key: affinityKey }).optional(),
  servers: z.array(serverSchema).min(1),
  health: healthSchema.optional(),
  tls: section({ ca: text.optional(), insecure: bool.default(false) }).prefault({}),
  id_header: text.optional(),
});

const routeSchema = section({
  /** Default: the backend's name (see normalize.ts). */
  name: text.optional(),
  match: section({ host: text.optional(), path: text.default('/') }).prefault({}),
  backend: text,
  origins: z.array(text).optional(),
});

/** `send.message`: a string, or a mapping/list sent as its JSON text. */
const message = z.unknown().transform((v, ctx): string => {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v !== null && typeof v === 'object') return JSON.stringify(v);
  ctx.addIssue({
    code: 'custom',
    message: v === undefined ? 'required — the text to send, e.g. message: \'{"type":"ping"}\'' : `expected a string, got ${describeValue(v)}`,
    input: v,
  });
  return z.NEVER;
});

/** Milliseconds given as a plain number (the `_ms` keys of monitor steps). */
const ms = int(1);

/**
 * Monitor steps, one strict object per action. `wait` takes `ms` (a number) or `duration`
 * (a duration string); normalize.ts turns both into `ms`.
 */
const stepSchema = z.discriminatedUnion('action', [
  section({ action: z.literal('connect'), assert_connected_within_ms: ms.optional() }),
  section({ action: z.literal('send'), message }),
  section({
    action: z.literal('receive'),
    timeout_ms: ms.optional(),
    assert_message_contains: z.string().optional(),
    assert_message_equals: z.string().optional(),
    assert_message_matches: text.optional(),
    assert_json: section({ path: text, equals: z.unknown() }).optional(),
  }),
  section({ action: z.literal('measure_latency') }),
  section({ action: z.literal('disconnect'), expected_close_code: int(1000, 4999).default(1000) }),
  section({ action: z.literal('wait'), ms: int(0).optional(), duration: duration().optional() }),
  section({ action: z.literal('ping'), timeout_ms: ms.optional() }),
]);

/** A monitor without `steps` runs the `wstap check` lifecycle: connect, ping, close with 1000. */
export const DEFAULT_MONITOR_STEPS = [
  { action: 'connect' },
  { action: 'ping' },
  { action: 'disconnect', expected_close_code: 1000 },
] as const;

const monitorSchema = section({
  name: text,
  url: text,
  interval: duration({ positive: true }).prefault('60s'),
  timeout: duration({ positive: true }).prefault('10s'),
  headers: headers.default(() => ({})),
  subprotocols: z.array(text).default(() => []),
  insecure: bool.default(false),
  steps: z.array(stepSchema).min(1).default(() => DEFAULT_MONITOR_STEPS.map((s) => ({ ...s }))),
  assertions: z
    .array(
      section({
        type: z.enum(['connection_latency', 'message_latency']),
        operator: z.enum(['less_than', 'greater_than', 'equals']),
        value: z.preprocess(numericString, z.number()),
      }),
    )
    .default(() => []),
});

const port = int(0, 65535);

/** The whole file. `listen`, `backends` and `routes` are required; everything else has a default. */
export const configSchema = section({
  listen: section({
    host: text.default('0.0.0.0'),
    port,
    tls: section({ cert: text, key: text }).optional(),
  }),
  admin: section({
    enabled: bool.default(true),
    host: text.default('127.0.0.1'),
    port: port.default(9090),
  }).prefault({}),
  backends: z
    .record(z.string(), poolSchema)
    .refine((r) => Object.keys(r).length > 0, {
      message: 'needs at least one pool — e.g. backends: { app: { servers: [{ url: ws://127.0.0.1:9001 }] } }',
    }),
  routes: z.array(routeSchema).min(1),
  heartbeat: section({
    interval: duration().prefault('30s'),
    timeout: duration().prefault('10s'),
  }).prefault({}),
  timeouts: section({
    handshake: duration({ positive: true }).prefault('10s'),
    idle: duration().prefault(0),
    close: duration().prefault('5s'),
    drain: duration().prefault('30s'),
    request_head: duration({ positive: true }).prefault('10s'),
  }).prefault({}),
  limits: section({
    max_connections: int(0).default(0),
    max_connections_per_ip: int(0).default(0),
    max_message_bytes: int(0).default(0),
    // Below ~1 KiB no browser handshake fits: refuse it rather than 431 every client.
    max_header_bytes: int(1024).default(16384),
  }).prefault({}),
  shutdown: section({
    close_code: z.preprocess(numericString, z.literal([1001, 1012])).default(1001),
  }).prefault({}),
  trusted_proxies: z.array(text).default(() => []),
  telemetry: section({
    /** Absent: OTEL_SERVICE_NAME, else `wstap` (resolved in normalize.ts). */
    service_name: text.optional(),
    otlp: section({
      endpoint: text.optional(),
      /** Absent: OTEL_METRIC_EXPORT_INTERVAL, else 60s (resolved in normalize.ts). */
      interval: duration({ positive: true }).optional(),
      headers: headers.default(() => ({})),
    }).optional(),
    prometheus: bool.default(true),
    close_codes: z.enum(['exact', 'grouped']).default('exact'),
  }).prefault({}),
  alerts: section({
    window: duration({ positive: true }).prefault('15m'),
    abnormal_close_ratio: ratio.default(0.05),
    abnormal_disconnect_ratio: ratio.default(0.02),
  }).prefault({}),
  log: section({
    level: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
    format: z.enum(['json', 'pretty']).default('json'),
  }).prefault({}),
  watch: bool.default(false),
  // Processes sharing the listener (node:cluster). `auto`: one per available core.
  workers: z.union([z.literal('auto'), int(1, 256)], { error: (i) => `expected a whole number of processes or "auto", got ${describeValue(i.input)}` }).default(1),
  monitors: z.array(monitorSchema).default(() => []),
});

/** The file after shape checks and defaults, before cross-field validation and normalisation. */
export type RawConfig = z.output<typeof configSchema>;
/** One pool as parsed. */
export type RawPool = RawConfig['backends'][string];
/** One monitor as parsed. */
export type RawMonitor = RawConfig['monitors'][number];
/** One monitor step as parsed. */
export type RawStep = RawMonitor['steps'][number];
