/**
 * The assertions of "known traffic gives exact numbers" (see `KNOWN` in traffic.ts), one per
 * way of reading the numbers back: the Prometheus exposition of `/metrics`, and an OTLP/HTTP
 * export. Shared by the tests that read `/metrics` directly and through a Prometheus server.
 */
import { expect } from 'vitest';
import { flatten, type OtlpPoint, type OtlpReceiver } from './otlp-receiver.js';
import { parseExposition, select, sumBy, total, type Sample } from './exposition.js';
import { KNOWN, ROUTE, SERVER, type EventLog } from './traffic.js';

const C2B = 'client_to_backend';
const B2C = 'backend_to_client';
const PAIR = { wstap_route: ROUTE, wstap_backend: SERVER };

/** `sum by (code, initiator)` of the known closes, keyed `code/initiator`. */
export const KNOWN_CLOSES: Record<string, number> = Object.fromEntries(KNOWN.closes.map((c) => [`${c.code}/${c.initiator}`, 1]));

/** Check a `/metrics` body against the known traffic; `log` gives the exact wire byte totals. */
export function expectKnownExposition(text: string, log: EventLog): Sample[] {
  const s = parseExposition(text);

  // Messages: 17 c2b (12 text, 5 binary), 15 b2c (10 text, 5 binary), one series per type.
  expect(total(s, 'wstap_messages_total', { ...PAIR, wstap_direction: C2B })).toBe(KNOWN.c2b.total);
  expect(total(s, 'wstap_messages_total', { ...PAIR, wstap_direction: C2B, wstap_message_type: 'text' })).toBe(KNOWN.c2b.text);
  expect(total(s, 'wstap_messages_total', { ...PAIR, wstap_direction: C2B, wstap_message_type: 'binary' })).toBe(KNOWN.c2b.binary);
  expect(total(s, 'wstap_messages_total', { ...PAIR, wstap_direction: B2C })).toBe(KNOWN.b2c.total);
  expect(total(s, 'wstap_messages_total', { ...PAIR, wstap_direction: B2C, wstap_message_type: 'text' })).toBe(KNOWN.b2c.text);
  expect(total(s, 'wstap_messages_total', { ...PAIR, wstap_direction: B2C, wstap_message_type: 'binary' })).toBe(KNOWN.b2c.binary);
  expect(select(s, 'wstap_messages_total')).toHaveLength(4);

  // One close each of (4001, client), (4002, backend), (1006, backend).
  expect(sumBy(s, 'wstap_closes_total', ['wstap_close_code', 'wstap_close_initiator'], PAIR)).toEqual(KNOWN_CLOSES);

  // Sessions: 3 opened, 0 active, 3 upgrades answered 101, 3 durations.
  expect(total(s, 'wstap_connections_total', PAIR)).toBe(KNOWN.sessions);
  expect(select(s, 'wstap_connections_active', PAIR).map((x) => x.value)).toEqual([0]);
  expect(total(s, 'wstap_upgrades_total', { ...PAIR, http_response_status_code: '101' })).toBe(KNOWN.sessions);
  expect(total(s, 'wstap_upgrades_total')).toBe(KNOWN.sessions);
  expect(select(s, 'wstap_upgrades_total').every((x) => x.labels.error_type === undefined)).toBe(true);
  expect(total(s, 'wstap_session_duration_count', PAIR)).toBe(KNOWN.sessions);
  expect(sumBy(s, 'wstap_session_duration_count', ['wstap_close_code', 'wstap_close_initiator'], PAIR)).toEqual(KNOWN_CLOSES);
  expect(total(s, 'wstap_handshake_duration_count', { ...PAIR, http_response_status_code: '101' })).toBe(KNOWN.sessions);

  // Messages per session (22, 7, 3) and payload sizes per direction.
  expect(total(s, 'wstap_session_messages_count', PAIR)).toBe(KNOWN.sessions);
  expect(total(s, 'wstap_session_messages_sum', PAIR)).toBe(KNOWN.c2b.total + KNOWN.b2c.total);
  expect(total(s, 'wstap_message_size_count', { ...PAIR, wstap_direction: C2B })).toBe(KNOWN.c2b.total);
  expect(total(s, 'wstap_message_size_count', { ...PAIR, wstap_direction: B2C })).toBe(KNOWN.b2c.total);
  expect(total(s, 'wstap_message_size_sum', { ...PAIR, wstap_direction: C2B })).toBe(KNOWN.payload.client_to_backend);
  expect(total(s, 'wstap_message_size_sum', { ...PAIR, wstap_direction: B2C })).toBe(KNOWN.payload.backend_to_client);

  // Wire bytes: more than the payloads (frame headers, masks, close frames), equal to what the
  // core reported through its `bytes` hook.
  const ioC2B = total(s, 'wstap_io_total', { ...PAIR, wstap_direction: C2B });
  const ioB2C = total(s, 'wstap_io_total', { ...PAIR, wstap_direction: B2C });
  expect(ioC2B).toBeGreaterThan(KNOWN.payload.client_to_backend);
  expect(ioB2C).toBeGreaterThan(KNOWN.payload.backend_to_client);
  expect({ c2b: ioC2B, b2c: ioB2C }).toEqual({ c2b: log.wire.client_to_backend, b2c: log.wire.backend_to_client });

  // Counts are printed as integers.
  for (const name of ['wstap_messages_total', 'wstap_closes_total', 'wstap_connections_total', 'wstap_upgrades_total', 'wstap_io_total']) {
    for (const x of select(s, name)) expect(x.raw, `${name} ${JSON.stringify(x.labels)}`).toMatch(/^\d+$/);
  }
  return s;
}

/**
 * The points of the most recent collection the receiver got: the request whose points carry
 * the greatest `timeUnixNano` (periodic exports and a forced flush may arrive out of order).
 */
export function latestExport(rx: OtlpReceiver): OtlpPoint[] {
  let best: { t: bigint; body: unknown } | undefined;
  for (const r of rx.requests) {
    const t = maxTime(r.body);
    if (best === undefined || t > best.t) best = { t, body: r.body };
  }
  return best === undefined ? [] : flatten(best.body);
}

function maxTime(body: unknown): bigint {
  let max = 0n;
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(walk);
    if (v === null || typeof v !== 'object') return;
    for (const [k, x] of Object.entries(v)) {
      if (k === 'timeUnixNano' && (typeof x === 'string' || typeof x === 'number')) {
        const t = BigInt(x);
        if (t > max) max = t;
      } else walk(x);
    }
  };
  walk(body);
  return max;
}

/** Check the points of one OTLP export against the known traffic. */
export function expectKnownOtlp(points: readonly OtlpPoint[], log: EventLog): void {
  const of = (name: string) => points.filter((p) => p.name === name);
  const pair = { 'wstap.route': ROUTE, 'wstap.backend': SERVER };

  const messages = of('wstap.messages');
  expect(messages.map((p) => p.attributes)).toEqual(
    expect.arrayContaining([
      { ...pair, 'wstap.direction': C2B, 'wstap.message.type': 'text' },
      { ...pair, 'wstap.direction': C2B, 'wstap.message.type': 'binary' },
      { ...pair, 'wstap.direction': B2C, 'wstap.message.type': 'text' },
      { ...pair, 'wstap.direction': B2C, 'wstap.message.type': 'binary' },
    ]),
  );
  expect(messages).toHaveLength(4);
  const msg = (dir: string, type?: string) =>
    messages
      .filter((p) => p.attributes['wstap.direction'] === dir && (type === undefined || p.attributes['wstap.message.type'] === type))
      .reduce((a, p) => a + p.value!, 0);
  expect({
    c2b: msg(C2B),
    c2bText: msg(C2B, 'text'),
    c2bBinary: msg(C2B, 'binary'),
    b2c: msg(B2C),
    b2cText: msg(B2C, 'text'),
    b2cBinary: msg(B2C, 'binary'),
  }).toEqual({
    c2b: KNOWN.c2b.total,
    c2bText: KNOWN.c2b.text,
    c2bBinary: KNOWN.c2b.binary,
    b2c: KNOWN.b2c.total,
    b2cText: KNOWN.b2c.text,
    b2cBinary: KNOWN.b2c.binary,
  });
  for (const p of messages) expect(p).toMatchObject({ kind: 'sum', isMonotonic: true, isInt: true, unit: '{message}' });

  // Closes: integer codes, one each.
  const closes = of('wstap.closes');
  expect(closes).toHaveLength(3);
  expect(new Set(closes.map((p) => JSON.stringify(p.attributes)))).toEqual(
    new Set(KNOWN.closes.map((c) => JSON.stringify({ ...pair, 'wstap.close.code': c.code, 'wstap.close.initiator': c.initiator }))),
  );
  for (const p of closes) expect(p).toMatchObject({ value: 1, isInt: true, isMonotonic: true });

  expect(of('wstap.connections')).toEqual([expect.objectContaining({ attributes: pair, value: KNOWN.sessions, isInt: true, isMonotonic: true })]);
  expect(of('wstap.connections.active')).toEqual([expect.objectContaining({ attributes: pair, value: 0, isInt: true, isMonotonic: false })]);
  expect(of('wstap.upgrades')).toEqual([
    expect.objectContaining({ attributes: { ...pair, 'http.response.status_code': 101 }, value: KNOWN.sessions, isInt: true }),
  ]);

  const durations = of('wstap.session.duration');
  expect(durations.reduce((a, p) => a + p.count!, 0)).toBe(KNOWN.sessions);
  expect(new Set(durations.map((p) => `${p.attributes['wstap.close.code']}/${p.attributes['wstap.close.initiator']}`))).toEqual(
    new Set(Object.keys(KNOWN_CLOSES)),
  );
  expect(durations.every((p) => p.unit === 's')).toBe(true);

  expect(of('wstap.session.messages')).toEqual([
    expect.objectContaining({ attributes: pair, count: KNOWN.sessions, sum: KNOWN.c2b.total + KNOWN.b2c.total }),
  ]);
  // The per-session samples 22, 7 and 3 fall in their buckets (upper bound inclusive).
  const perSession = of('wstap.session.messages')[0]!;
  const bounds = perSession.explicitBounds!;
  const expected = new Array<number>(bounds.length + 1).fill(0);
  for (const v of KNOWN.perSession) {
    const i = bounds.findIndex((b) => v <= b);
    expected[i < 0 ? bounds.length : i]!++;
  }
  expect(perSession.bucketCounts).toEqual(expected);

  const size = (dir: string) => of('wstap.message.size').find((p) => p.attributes['wstap.direction'] === dir);
  expect(size(C2B)).toMatchObject({ count: KNOWN.c2b.total, sum: KNOWN.payload.client_to_backend, unit: 'By' });
  expect(size(B2C)).toMatchObject({ count: KNOWN.b2c.total, sum: KNOWN.payload.backend_to_client, unit: 'By' });

  const io = (dir: string) => of('wstap.io').find((p) => p.attributes['wstap.direction'] === dir);
  expect(io(C2B)).toMatchObject({ attributes: { ...pair, 'wstap.direction': C2B }, value: log.wire.client_to_backend, isInt: true, unit: 'By' });
  expect(io(B2C)).toMatchObject({ attributes: { ...pair, 'wstap.direction': B2C }, value: log.wire.backend_to_client, isInt: true, unit: 'By' });
  expect(io(C2B)!.value).toBeGreaterThan(KNOWN.payload.client_to_backend);
  expect(io(B2C)!.value).toBeGreaterThan(KNOWN.payload.backend_to_client);
}
