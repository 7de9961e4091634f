/**
 * The checks a monitor makes: message assertions of a `receive` step (contains, equals, regex,
 * a JSON field) and the run-level `assertions:` on connection and message latency. Pure code,
 * so it is tested without sockets.
 */
import { isDeepStrictEqual } from 'node:util';
import type { MonitorAssertion } from '../config/types.js';
import { quote } from './deadline.js';

/** The assertions of one `receive` step, as the config gives them. */
export interface MessageAssertions {
  readonly assert_message_contains?: string;
  readonly assert_message_equals?: string;
  readonly assert_message_matches?: string;
  readonly assert_json?: { readonly path: string; readonly equals: unknown };
}

/** A predicate over message text and the words that describe it in an error. */
export interface MessageMatcher {
  readonly accepts: (text: string) => boolean;
  /** `a message containing "pong" and with type = "pong"`. */
  readonly description: string;
}

/** Combine a receive step's assertions into one predicate (all must hold). */
export function messageMatcher(a: MessageAssertions): MessageMatcher {
  const tests: Array<(text: string) => boolean> = [];
  const words: string[] = [];
  if (a.assert_message_contains !== undefined) {
    const needle = a.assert_message_contains;
    tests.push((t) => t.includes(needle));
    words.push(`containing ${quote(needle)}`);
  }
  if (a.assert_message_equals !== undefined) {
    const want = a.assert_message_equals;
    tests.push((t) => t === want);
    words.push(`equal to ${quote(want)}`);
  }
  if (a.assert_message_matches !== undefined) {
    const re = new RegExp(a.assert_message_matches);
    tests.push((t) => re.test(t));
    words.push(`matching /${a.assert_message_matches}/`);
  }
  if (a.assert_json !== undefined) {
    const { path, equals } = a.assert_json;
    const segments = parsePath(path);
    tests.push((t) => {
      const doc = parseJson(t);
      if (doc === undefined) return false;
      const found = lookup(doc.value, segments);
      return found.present && isDeepStrictEqual(found.value, equals);
    });
    words.push(`with JSON ${path} = ${JSON.stringify(equals) ?? 'undefined'}`);
  }
  return {
    accepts: (text) => tests.every((t) => t(text)),
    description: words.length === 0 ? 'a message' : `a message ${words.join(' and ')}`,
  };
}

/**
 * Split a dotted path (`data.items.0.id`, `data.items[0].id`) into keys. Array indexes are
 * plain segments: `lookup` reads them from arrays and objects alike.
 */
export function parsePath(path: string): string[] {
  return path
    .replace(/\[(\d+)\]/g, '.$1')
    .split('.')
    .filter((s) => s !== '');
}

/** Read `segments` from a parsed JSON value; `present` is false when a step is missing. */
export function lookup(value: unknown, segments: readonly string[]): { present: boolean; value: unknown } {
  let cur: unknown = value;
  for (const key of segments) {
    if (Array.isArray(cur)) {
      const i = Number(key);
      if (!Number.isInteger(i) || i < 0 || i >= cur.length) return { present: false, value: undefined };
      cur = cur[i];
    } else if (cur !== null && typeof cur === 'object' && Object.prototype.hasOwnProperty.call(cur, key)) {
      cur = (cur as Record<string, unknown>)[key];
    } else {
      return { present: false, value: undefined };
    }
  }
  return { present: true, value: cur };
}

/** Parse JSON text; undefined when it is not JSON (so "not JSON" and `null` stay apart). */
export function parseJson(text: string): { value: unknown } | undefined {
  try {
    return { value: JSON.parse(text) as unknown };
  } catch {
    return undefined;
  }
}

/** The latencies a run measured, in ms (null: not measured). */
export interface MeasuredLatency {
  readonly connectionLatencyMs: number | null;
  readonly messageLatencyMs: number | null;
}

const OPERATOR_WORDS: Readonly<Record<MonitorAssertion['operator'], string>> = {
  less_than: 'less than',
  greater_than: 'greater than',
  equals: 'equal to',
};

/**
 * Evaluate one run-level assertion. Returns null when it holds, else why not:
 * `connection_latency was 812 ms, not less than 500 ms`.
 */
export function checkAssertion(a: MonitorAssertion, m: MeasuredLatency): string | null {
  const value = a.type === 'connection_latency' ? m.connectionLatencyMs : m.messageLatencyMs;
  if (value === null) {
    const how = a.type === 'connection_latency' ? 'add a connect step' : 'add a send + receive or a measure_latency step';
    return `${a.type} was not measured (${how})`;
  }
  const ok = a.operator === 'less_than' ? value < a.value : a.operator === 'greater_than' ? value > a.value : value === a.value;
  return ok ? null : `${a.type} was ${value} ms, not ${OPERATOR_WORDS[a.operator]} ${a.value} ms`;
}
