/**
 * `${ENV_VAR}` substitution inside the string values of a parsed config document.
 *
 * Substitution happens on the parsed tree, not on the text, so a value can never change the
 * document's structure (a variable holding `: ` or a newline stays one string) and comments
 * are left alone. Keys are never substituted.
 *
 * - `${NAME}`: the variable's value; unset is a problem naming the path.
 * - `${NAME:-default}`: the default when the variable is unset or empty (shell semantics).
 * - `$${`: a literal `${`.
 */
import { formatPath, problem } from './problems.js';

const REF = /\$\$\{|\$\{([^}]*)\}?/g;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The document with variables substituted, and a problem line for each reference that failed. */
export interface Substituted {
  readonly value: unknown;
  readonly problems: string[];
  /** Paths that had a problem, so later checks do not report the same value twice. */
  readonly failedPaths: Set<string>;
}

/** Substitute `${…}` references in every string value of `doc`. */
export function substituteEnv(doc: unknown, env: NodeJS.ProcessEnv): Substituted {
  const problems: string[] = [];
  const failedPaths = new Set<string>();

  const visit = (v: unknown, path: PropertyKey[]): unknown => {
    if (typeof v === 'string') {
      return v.includes('$') ? substituteString(v, env, (what, fix) => {
        const p = formatPath(path);
        failedPaths.add(p);
        problems.push(problem(p, what, fix));
      }) : v;
    }
    if (Array.isArray(v)) return v.map((item, i) => visit(item, [...path, i]));
    if (v !== null && typeof v === 'object') {
      // fromEntries defines properties, so a key named "__proto__" stays a plain key.
      return Object.fromEntries(Object.entries(v).map(([k, item]) => [k, visit(item, [...path, k])]));
    }
    return v;
  };

  return { value: visit(doc, []), problems, failedPaths };
}

function substituteString(s: string, env: NodeJS.ProcessEnv, report: (what: string, fix: string) => void): string {
  return s.replace(REF, (whole: string, body: string | undefined) => {
    if (whole === '$${') return '${';
    if (!whole.endsWith('}')) {
      report(`unterminated "\${" in ${JSON.stringify(s)}`, 'close it with "}", or write "$${" for a literal "${"');
      return whole;
    }
    const ref = body ?? '';
    const sep = ref.indexOf(':-');
    const name = sep < 0 ? ref : ref.slice(0, sep);
    if (!NAME.test(name)) {
      report(`"\${${ref}}" is not a variable reference`, 'write ${NAME} or ${NAME:-default}, or "$${" for a literal "${"');
      return whole;
    }
    const value = env[name];
    if (sep >= 0) return value === undefined || value === '' ? ref.slice(sep + 2) : value;
    if (value === undefined) {
      report(`environment variable ${name} is not set`, `set it, or give a default: \${${name}:-value}`);
      return '';
    }
    return value;
  });
}
