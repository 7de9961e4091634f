/**
 * A small parser of the Prometheus text exposition format (0.0.4), for tests that read
 * `/metrics` back: one sample per line, labels decoded, and finders that sum samples by name
 * and label subset, like a PromQL `sum(name{labels})` would.
 */

/** One sample line. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
  /** The value exactly as written (to check that counts are printed as integers). */
  readonly raw: string;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*/y;

function unescape(v: string): string {
  return v.replace(/\\(.)/g, (_m, c: string) => (c === 'n' ? '\n' : c));
}

function parseLabels(text: string, line: string): Record<string, string> {
  const out: Record<string, string> = {};
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < text.length) {
    const at = LABEL.lastIndex;
    const m = LABEL.exec(text);
    if (m === null) throw new Error(`bad labels at ${at} in: ${line}`);
    out[m[1]!] = unescape(m[2]!);
  }
  return out;
}

/** Every sample of an exposition (comments and blank lines skipped). */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (m === null) throw new Error(`not an exposition line: ${line}`);
    const raw = m[3]!;
    samples.push({ name: m[1]!, labels: m[2] ? parseLabels(m[2], line) : {}, value: Number(raw), raw });
  }
  return samples;
}

/** Samples named `name` whose labels include every pair of `labels`. */
export function select(samples: readonly Sample[], name: string, labels: Readonly<Record<string, string>> = {}): Sample[] {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/** `sum(name{labels})`: 0 when no sample matches. */
export function total(samples: readonly Sample[], name: string, labels: Readonly<Record<string, string>> = {}): number {
  return select(samples, name, labels).reduce((a, s) => a + s.value, 0);
}

/**
 * `sum by (keys) (name{labels})`, as a map from the keys' values joined with `/` to the sum,
 * e.g. `{ "4001/client": 1 }` for keys `[wstap_close_code, wstap_close_initiator]`.
 */
export function sumBy(
  samples: readonly Sample[],
  name: string,
  keys: readonly string[],
  labels: Readonly<Record<string, string>> = {},
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of select(samples, name, labels)) {
    const k = keys.map((key) => s.labels[key] ?? '').join('/');
    out[k] = (out[k] ?? 0) + s.value;
  }
  return out;
}
