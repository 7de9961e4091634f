/**
 * Durations in the config file: a number of milliseconds, or a string made of one or more
 * `<number><unit>` parts such as `500ms`, `30s`, `5m`, `1h`, `1m30s`, `1.5s` (units `ms`, `s`,
 * `m`, `h`, `d`). `0` and `"0"` are zero. Everything is returned in milliseconds.
 */

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

// `ms` must come before `m` and `s` in the alternation, or "500ms" would split as "500m" + "s".
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;
const PLAIN_NUMBER = /^\d+(?:\.\d+)?$/;

/** What a valid duration looks like, for error messages. */
export const DURATION_HINT = 'use a number of milliseconds or a string like 500ms, 30s, 5m, 1h or 1m30s';

/**
 * Parse a config duration into milliseconds.
 *
 * Numbers are milliseconds. Strings may be a plain number (milliseconds too, which is what an
 * `${ENV_VAR}` substitution of a number yields) or a sequence of `<number><unit>` parts.
 *
 * @throws RangeError on anything else (negative, non-finite, empty, unknown unit, garbage).
 */
export function parseDuration(v: string | number): number {
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || v < 0) throw new RangeError(`invalid duration ${String(v)}: ${DURATION_HINT}`);
    return v;
  }
  if (typeof v !== 'string') throw new RangeError(`invalid duration: ${DURATION_HINT}`);
  const s = v.trim();
  if (PLAIN_NUMBER.test(s)) return checked(Number(s), v);
  if (s === '') throw new RangeError(`invalid duration "": ${DURATION_HINT}`);

  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < s.length) {
    const m = PART.exec(s);
    if (m === null) throw new RangeError(`invalid duration "${v}": ${DURATION_HINT}`);
    total += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
  }
  return checked(total, v);
}

function checked(ms: number, original: string): number {
  if (!Number.isFinite(ms) || ms > Number.MAX_SAFE_INTEGER) {
    throw new RangeError(`invalid duration "${original}": too large`);
  }
  return ms;
}

/**
 * Format milliseconds the way the config file writes them (`1m30s`, `500ms`, `0`), so that
 * error messages quote durations in the user's own terms.
 */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0';
  if (!Number.isFinite(ms) || ms < 0) return `${ms}ms`;
  const parts: string[] = [];
  let rest = ms;
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1_000]] as const) {
    if (rest >= size) {
      const n = Math.floor(rest / size);
      parts.push(`${n}${unit}`);
      rest -= n * size;
    }
  }
  // Round away float noise (0.1 + 0.2 style) so messages do not print 499.99999ms.
  rest = Math.round(rest * 1000) / 1000;
  if (rest > 0) parts.push(`${rest}ms`);
  return parts.join('');
}
