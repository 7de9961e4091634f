/**
 * Reading the config: file → YAML/JSON → `${ENV}` substitution → schema (shape, defaults) →
 * cross-field validation → normalised, frozen `Config`. Only this folder reads the config
 * file or the environment; everything else receives the result.
 *
 * Problems are collected, not thrown one at a time, so `wstap validate` can print them all;
 * the stages stop at the first stage that found any, because later stages assume the earlier
 * ones passed (a cross-reference check on a value of the wrong type would only add noise).
 */
import { readFileSync } from 'node:fs';
import { dirname, extname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { Config } from './types.js';
import { substituteEnv } from './env.js';
import { normalizeConfig } from './normalize.js';
import { ConfigError, issuesToProblems } from './problems.js';
import { configSchema } from './schema.js';
import { validateConfig } from './validate.js';

export { ConfigError } from './problems.js';

/** Options for {@link parseConfigText} and {@link checkConfigText}. */
export interface ParseOptions {
  /** Where the text came from: names the file in messages, picks the format by extension, and is the folder relative paths start from. */
  readonly path?: string;
  /** Environment for `${VAR}` and `OTEL_*`; default `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
  /** Override the format the extension implies. YAML also accepts JSON. */
  readonly format?: 'yaml' | 'json';
}

/** Outcome of a check: `config` is present exactly when `problems` is empty. */
export interface CheckResult {
  readonly config?: Config;
  readonly problems: readonly string[];
  /** The file's text, when {@link checkConfigFile} could read it (cluster workers get the same text). */
  readonly text?: string;
}

/** Read, validate and normalise a config file. @throws ConfigError listing every problem. */
export function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): Config {
  return orThrow(checkConfigFile(path, env), path);
}

/** Like {@link loadConfigFile}, but returns the problems instead of throwing (`wstap validate`). */
export function checkConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): CheckResult {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EACCES' ? 'permission denied' : err.code === 'EISDIR' ? 'a directory, not a file' : err.message;
    return { problems: [`${path}: cannot read the config file (${why}) — check the --config path`] };
  }
  return { ...checkConfigText(text, { path, env }), text };
}

/** Validate and normalise config text. @throws ConfigError listing every problem. */
export function parseConfigText(text: string, opts: ParseOptions = {}): Config {
  return orThrow(checkConfigText(text, opts), opts.path);
}

/** Like {@link parseConfigText}, but returns the problems instead of throwing. */
export function checkConfigText(text: string, opts: ParseOptions = {}): CheckResult {
  const env = opts.env ?? process.env;
  const source = opts.path ?? '<config>';
  const baseDir = opts.path === undefined ? process.cwd() : dirname(resolve(opts.path));
  const format = opts.format ?? (extname(opts.path ?? '').toLowerCase() === '.json' ? 'json' : 'yaml');

  const decoded = format === 'json' ? decodeJson(text, source) : decodeYaml(text, source);
  if ('problems' in decoded) return decoded;
  if (decoded.value === null || decoded.value === undefined) {
    return { problems: [`${source}: the config file is empty — start from config/wstap.yaml (listen, backends and routes are required)`] };
  }

  const substituted = substituteEnv(dropNulls(decoded.value), env);
  const parsed = configSchema.safeParse(substituted.value, { reportInput: true });
  if (!parsed.success) {
    // A failed substitution leaves an empty string behind; its schema complaint would repeat the problem.
    const schemaProblems = issuesToProblems(parsed.error.issues, substituted.value).filter(
      (p) => !substituted.failedPaths.has(p.slice(0, p.indexOf(': '))),
    );
    return { problems: [...substituted.problems, ...schemaProblems] };
  }
  if (substituted.problems.length > 0) return { problems: substituted.problems };

  const invalid = validateConfig(parsed.data, { baseDir });
  if (invalid.length > 0) return { problems: invalid };

  const { config, problems } = normalizeConfig(parsed.data, { baseDir, env });
  return problems.length > 0 ? { problems } : { config, problems: [] };
}

function orThrow(result: CheckResult, file: string | undefined): Config {
  if (result.config === undefined) throw new ConfigError(result.problems, file);
  return result.config;
}

type Decoded = { readonly value: unknown } | { readonly problems: string[] };

function decodeYaml(text: string, source: string): Decoded {
  // uniqueKeys: a key given twice is almost always a merge accident; YAML says it is an error.
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    return {
      problems: doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        // prettyErrors appends " at line L, column C:" and a code frame; keep one line.
        const msg = (e.message.split('\n')[0] ?? e.message).replace(/ at line \d+, column \d+:?$/, '');
        return `${source}${pos ? `:${pos.line}:${pos.col}` : ''}: ${msg} — fix the YAML syntax`;
      }),
    };
  }
  try {
    return { value: doc.toJS({ maxAliasCount: 100 }) };
  } catch (e) {
    return { problems: [`${source}: ${(e as Error).message} — fix the YAML`] };
  }
}

function decodeJson(text: string, source: string): Decoded {
  try {
    return { value: JSON.parse(text.replace(/^\uFEFF/, '')) };
  } catch (e) {
    const msg = (e as Error).message;
    const at = /at position (\d+)/.exec(msg);
    let where = '';
    if (at !== null) {
      const before = text.slice(0, Number(at[1]));
      const line = before.split('\n').length;
      where = `:${line}:${before.length - before.lastIndexOf('\n')}`;
    }
    return { problems: [`${source}${where}: invalid JSON (${msg.replace(/ in JSON at position \d+.*$/, '')}) — fix the JSON syntax`] };
  }
}

/**
 * A key with no value (`admin:` whose children are all commented out) means "not set", as
 * users expect, rather than "set to null". `equals` is kept: `assert_json.equals: null` is a
 * real expectation.
 */
function dropNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(dropNulls);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(
      Object.entries(v)
        .filter(([k, item]) => item !== null || k === 'equals')
        .map(([k, item]) => [k, dropNulls(item)]),
    );
  }
  return v;
}
