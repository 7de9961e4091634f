/** Helpers for config tests: build a document from the minimal one and check it. */
import { stringify } from 'yaml';
import { checkConfigText, type CheckResult } from '../../../src/config/load.js';

/** The smallest valid document: listen, one pool, one route. */
export const MINIMAL: Readonly<Record<string, unknown>> = Object.freeze({
  listen: { port: 8080 },
  backends: { app: { servers: [{ url: 'ws://127.0.0.1:9001' }] } },
  routes: [{ backend: 'app' }],
});

/** Check `doc` written as YAML, with an empty environment unless one is given. */
export function check(doc: Readonly<Record<string, unknown>>, env: NodeJS.ProcessEnv = {}): CheckResult {
  return checkConfigText(stringify(doc), { env });
}

/** The problems of the minimal document with its top-level keys replaced/added by `patch`. */
export function problemsOf(patch: Readonly<Record<string, unknown>>, env: NodeJS.ProcessEnv = {}): readonly string[] {
  return check({ ...MINIMAL, ...patch }, env).problems;
}
