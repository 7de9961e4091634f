/**
 * Config problems: one line each, `path: what is wrong — how to fix`, with the path written the
 * way users read their file (`routes[1].backend`, `backends.chat.servers[0].url`). Schema
 * issues from zod are translated here so that every message reads the same, whichever check
 * found it.
 */
import type { z } from 'zod';
import { didYouMean } from './suggest.js';

/** A path into the config file. */
export type ConfigPath = readonly PropertyKey[];

/** The config could not be used; `problems` holds every problem found, one line each. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  /** Every problem, formatted `path: what is wrong — how to fix`. */
  readonly problems: readonly string[];
  /** The file the problems are about, when there was one. */
  readonly file: string | undefined;

  constructor(problems: readonly string[], file?: string) {
    const first = problems[0] ?? 'invalid config';
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? 's' : ''})` : '';
    // One line, so `wstap serve` can print it as its one-line cause.
    super(`invalid config${file === undefined ? '' : ` ${file}`}: ${first}${more}`);
    this.problems = Object.freeze([...problems]);
    this.file = file;
  }
}

const IDENT = /^[A-Za-z0-9_-]+$/;

/** `['routes', 1, 'backend']` → `routes[1].backend`; odd keys are quoted: `headers["X Y"]`. */
export function formatPath(path: ConfigPath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else {
      const s = String(seg);
      if (IDENT.test(s)) out += out === '' ? s : `.${s}`;
      else out += `[${JSON.stringify(s)}]`;
    }
  }
  return out === '' ? '(root)' : out;
}

/** Build one problem line. */
export function problem(path: ConfigPath | string, what: string, fix?: string): string {
  const p = typeof path === 'string' ? path : formatPath(path);
  return fix === undefined ? `${p}: ${what}` : `${p}: ${what} — ${fix}`;
}

/** Quote a value from the file for a message, shortened so one problem stays one line. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (typeof v === 'string') {
    const s = v.length > 60 ? `${v.slice(0, 57)}...` : v;
    return JSON.stringify(s);
  }
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return typeof v;
}

/** Pick the value at `path` in a parsed document (for messages about it). */
export function valueAt(root: unknown, path: ConfigPath): unknown {
  let cur: unknown = root;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[seg];
  }
  return cur;
}

const EXPECTED: Readonly<Record<string, string>> = {
  number: 'a number',
  int: 'a whole number',
  string: 'a string',
  boolean: 'true or false',
  object: 'a mapping (key: value)',
  record: 'a mapping (key: value)',
  array: 'a list',
};

/** How to add a required key that is missing, where a generic "add it" would not help. */
const REQUIRED_HINTS: Readonly<Record<string, string>> = {
  listen: 'add e.g. "listen: { host: 0.0.0.0, port: 8080 }"',
  'listen.port': 'add the port to listen on, e.g. "port: 8080"',
  backends: 'add at least one pool, e.g. "backends: { app: { servers: [{ url: ws://127.0.0.1:9001 }] } }"',
  routes: 'add at least one route, e.g. "routes: [{ match: { path: / }, backend: app }]"',
};

/**
 * Marker between the per-key messages of one `unrecognized_keys` issue (see
 * {@link unknownKeysError}): zod reports all unknown keys of an object as one issue, and we
 * want one line per key, each with its own hint.
 */
const KEY_SEPARATOR = '\u0000';

/**
 * The zod `error` option for a strict object: names each unknown key with a "did you mean"
 * hint computed against the object's own keys (known only here, where the shape is).
 */
export function unknownKeysError(
  known: readonly string[],
  nested: ReadonlyMap<string, string> = new Map(),
): (iss: z.core.$ZodRawIssue) => string | undefined {
  return (iss) => {
    if (iss.code !== 'unrecognized_keys') return undefined;
    return iss.keys.map((k) => unknownKeyText(k, known, nested)).join(KEY_SEPARATOR);
  };
}

/**
 * "unknown key — did you mean …" for one key given the keys allowed where it sits, and the
 * keys of the sections just below (`nested`: key → `section.key`), because a key written one
 * level too high (`max_connections:` at the top instead of under `limits:`) is a common slip.
 */
export function unknownKeyText(key: string, known: readonly string[], nested: ReadonlyMap<string, string> = new Map()): string {
  const guess = didYouMean(key, known);
  if (guess !== undefined) return `unknown key — did you mean "${guess}"?`;
  const below = nested.get(key);
  if (below !== undefined) return `unknown key — did you mean "${below}"?`;
  return `unknown key — allowed here: ${known.join(', ')}`;
}

/** Translate the issues of a failed schema parse into problem lines. */
export function issuesToProblems(issues: readonly z.core.$ZodIssue[], input: unknown): string[] {
  const out: string[] = [];
  for (const iss of issues) out.push(...issueToProblems(iss, input));
  return out;
}

function issueToProblems(iss: z.core.$ZodIssue, input: unknown): string[] {
  const path = iss.path;
  const value = valueAt(input, path);
  switch (iss.code) {
    case 'unrecognized_keys': {
      const texts = iss.message.split(KEY_SEPARATOR);
      return iss.keys.map((k, i) => problem([...path, k], texts[i] ?? 'unknown key — remove it'));
    }
    case 'invalid_type': {
      if (value === undefined) {
        const p = formatPath(path);
        return [problem(p, 'required', REQUIRED_HINTS[p] ?? `add "${String(path[path.length - 1])}"`)];
      }
      const expected = EXPECTED[iss.expected] ?? iss.expected;
      return [problem(path, `expected ${expected}, got ${describeValue(value)}`)];
    }
    case 'invalid_value': {
      const allowed = iss.values.map((v) => String(v));
      const guess = typeof value === 'string' ? didYouMean(value, allowed) : undefined;
      const what = `${describeValue(value)} is not one of ${allowed.join(', ')}`;
      return [problem(path, what, guess === undefined ? undefined : `did you mean "${guess}"?`)];
    }
    case 'invalid_union': {
      if (iss.discriminator !== undefined) {
        const options = ((iss as { options?: unknown[] }).options ?? []).map((o) => String(o));
        if (value === undefined) return [problem(path, 'required', `one of ${options.join(', ')}`)];
        const guess = typeof value === 'string' ? didYouMean(value, options) : undefined;
        const fix = guess !== undefined ? `did you mean "${guess}"?` : `use one of ${options.join(', ')}`;
        return [problem(path, `unknown ${String(iss.discriminator)} ${describeValue(value)}`, fix)];
      }
      return [problem(path, iss.message)];
    }
    case 'too_small':
    case 'too_big':
      return [problem(path, sizeText(iss, value))];
    default:
      return [problem(path, iss.message)];
  }
}

function sizeText(iss: z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig, value: unknown): string {
  const small = iss.code === 'too_small';
  const bound = Number(small ? iss.minimum : iss.maximum);
  switch (iss.origin) {
    case 'array':
    case 'set':
      return small ? `needs at least ${bound} entr${bound === 1 ? 'y' : 'ies'}` : `allows at most ${bound} entries`;
    case 'string':
      return small ? (bound <= 1 ? 'must not be empty' : `must be at least ${bound} characters`) : `must be at most ${bound} characters`;
    default: {
      const rel = small ? (iss.inclusive ? 'at least' : 'more than') : iss.inclusive ? 'at most' : 'less than';
      return `must be ${rel} ${bound} (got ${describeValue(value)})`;
    }
  }
}
