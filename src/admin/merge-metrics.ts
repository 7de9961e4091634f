/**
 * One `/metrics` for a cluster: merge the Prometheus text of every worker into one exposition
 * (format 0.0.4), each sample labelled with its worker.
 *
 * Workers' series cannot be summed here (they are cumulative per process and restart from zero
 * with a worker), so they are kept apart by a `worker` label and summed in PromQL if wanted:
 * `sum without (worker) (rate(wstap_messages_total[1m]))`.
 *
 * The text format requires the lines of a metric family to be contiguous and its `# HELP` /
 * `# TYPE` to appear once, before its samples; concatenating the workers' texts would break
 * both. So each part is split into families (a family starts at its `# HELP`/`# UNIT`/`# TYPE`
 * lines; `@opentelemetry/exporter-prometheus` writes HELP, UNIT, TYPE, then the samples), and
 * the output lists every family once, in first-seen order: its comment lines from the first part
 * that has each of them, then the samples of that family from every part, in part order.
 *
 * Label values are never decoded: the `worker` label goes in as the first label by splicing the
 * line after the metric name. Only a line that contains `worker="` somewhere is scanned (string
 * values skipped by their escapes) for a label of that name, which is renamed `exported_worker`
 * as Prometheus does for a target label clash (e.g. `worker` in OTEL_RESOURCE_ATTRIBUTES).
 */

/** One worker's `/metrics` text. */
export interface MetricsPart {
  /** The worker id: decimal digits only (it becomes a label value unescaped). */
  readonly worker: string;
  /** Exposition text 0.0.4, as `PrometheusSerializer.serialize()` writes it. */
  readonly text: string;
}

/** The label added to every sample. */
export const WORKER_LABEL = 'worker';
const EXPORTED_WORKER_LABEL = `exported_${WORKER_LABEL}`;
const WORKER_ID = /^[0-9]+$/;
/** `# HELP name …`, `# TYPE name type`, `# UNIT name …`: the comment lines of a family. */
const FAMILY_COMMENT = /^#[ \t]+(HELP|TYPE|UNIT)[ \t]+([^ \t]+)/;
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
/** Sample names of a family named `f`: `f` itself and these suffixes (histogram, summary, counter). */
const FAMILY_SUFFIXES = ['_bucket', '_sum', '_count', '_total', '_created', '_gsum', '_gcount'];

interface Family {
  /** Comment lines in first-seen order, at most one per kind (HELP, UNIT, TYPE). */
  readonly comments: string[];
  readonly kinds: Set<string>;
  readonly samples: string[];
}

/**
 * Merge the workers' exposition texts into one, each sample with a first label
 * `worker="<worker>"`. Blank lines and comments other than HELP/TYPE/UNIT are dropped.
 * @throws Error if a worker id is not decimal digits or appears twice (the series would clash),
 *   or if a sample line has no metric name.
 */
export function mergePrometheusText(parts: readonly MetricsPart[]): string {
  const seenWorkers = new Set<string>();
  for (const { worker } of parts) {
    if (!WORKER_ID.test(worker)) throw new Error(`mergePrometheusText: worker id ${JSON.stringify(worker)} is not decimal digits`);
    if (seenWorkers.has(worker)) throw new Error(`mergePrometheusText: worker id ${worker} appears twice`);
    seenWorkers.add(worker);
  }

  const families = new Map<string, Family>();
  const family = (name: string): Family => {
    let f = families.get(name);
    if (f === undefined) {
      f = { comments: [], kinds: new Set(), samples: [] };
      families.set(name, f);
    }
    return f;
  };

  for (const { worker, text } of parts) {
    const label = `${WORKER_LABEL}="${worker}"`;
    let currentName: string | undefined;
    let current: Family | undefined;
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.endsWith('\r') ? lines[i]!.slice(0, -1) : lines[i]!;
      if (line.trim() === '') continue;
      if (line.startsWith('#')) {
        const m = FAMILY_COMMENT.exec(line);
        if (m === null) continue;
        const [, kind, name] = m as unknown as [string, string, string];
        currentName = name;
        current = family(name);
        if (!current.kinds.has(kind)) {
          current.kinds.add(kind);
          current.comments.push(line);
        }
        continue;
      }
      const name = METRIC_NAME.exec(line)?.[0];
      if (name === undefined) {
        throw new Error(`mergePrometheusText: worker ${worker}, line ${i + 1}: no metric name in ${JSON.stringify(line.slice(0, 80))}`);
      }
      // A sample of another name than the family's (an untyped metric) is a family of its own.
      const target = currentName !== undefined && belongsTo(name, currentName) ? current! : family(name);
      target.samples.push(withLabel(line, name.length, label));
    }
  }

  const out: string[] = [];
  for (const f of families.values()) out.push(...f.comments, ...f.samples);
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}

function belongsTo(sample: string, familyName: string): boolean {
  if (sample === familyName) return true;
  if (!sample.startsWith(familyName)) return false;
  const suffix = sample.slice(familyName.length);
  return FAMILY_SUFFIXES.includes(suffix);
}

/** Insert `label` as the first label of the sample `line` whose metric name ends at `at`. */
function withLabel(line: string, at: number, label: string): string {
  const head = line.slice(0, at);
  if (line[at] !== '{') return `${head}{${label}}${line.slice(at)}`;
  let rest = line.slice(at + 1);
  if (rest.includes(`${WORKER_LABEL}="`)) rest = renameWorkerLabel(rest);
  return rest.trimStart().startsWith('}') ? `${head}{${label}${rest}` : `${head}{${label},${rest}`;
}

/**
 * `rest` is a sample line after its `{`. Rename a label named `worker` to `exported_worker`,
 * walking label names and skipping quoted values (a `\` escapes the next character).
 */
function renameWorkerLabel(rest: string): string {
  let i = 0;
  for (;;) {
    while (rest[i] === ' ' || rest[i] === '\t' || rest[i] === ',') i++;
    if (i >= rest.length || rest[i] === '}') return rest;
    const eq = rest.indexOf('=', i);
    if (eq < 0) return rest;
    if (rest.slice(i, eq).trim() === WORKER_LABEL) {
      rest = `${rest.slice(0, i)}${EXPORTED_WORKER_LABEL}${rest.slice(eq)}`;
      return rest; // a label name appears at most once per sample
    }
    const open = rest.indexOf('"', eq);
    if (open < 0) return rest;
    i = open + 1;
    while (i < rest.length && rest[i] !== '"') i += rest[i] === '\\' ? 2 : 1;
    i++; // past the closing quote
  }
}
