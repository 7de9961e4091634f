/**
 * `wstap sticky-check`: connect N times in a row and see whether every connection reached the
 * same backend. The backend names itself either in a JSON field of its first message
 * (`{"type":"hello","backend":"echo-1"}` → `--field backend`) or in a 101 response header
 * (`--header X-Wstap-Backend`, what a pool's `id_header` adds).
 */
import { lookup, parseJson, parsePath } from './assertions.js';
import { ProbeError, deadlineIn, quote, type Deadline } from './deadline.js';
import { ProbeConnection } from './probe-connection.js';

/** Options of {@link runStickyCheck}. */
export interface StickyOptions {
  /** Connections to make (default 5). */
  readonly count?: number;
  /** Dotted JSON path of the id in the first message (default `backend` when no header is given). */
  readonly field?: string;
  /** Response header of the 101 that carries the id. */
  readonly header?: string;
  /** Bound of each connection (handshake, first message, close), ms (default 5000). */
  readonly timeoutMs?: number;
  readonly insecure?: boolean;
  /** Request headers: the affinity key (`Cookie`, a header) must be the same on every connection. */
  readonly headers?: Readonly<Record<string, string>>;
  readonly subprotocols?: readonly string[];
  readonly signal?: AbortSignal;
}

/** The verdict: `sticky` is null when it could not be told (a connection failed, no id found). */
export interface StickyResult {
  readonly url: string;
  readonly sticky: boolean | null;
  /** The id each connection reported, in order (as many as succeeded). */
  readonly ids: string[];
  /** The distinct ids, in order of first appearance. */
  readonly distinct: string[];
  readonly error?: string;
}

/** Default of `--count`. */
export const DEFAULT_STICKY_COUNT = 5;
/** The field read when neither a field nor a header is named (the demo backends' hello). */
export const DEFAULT_STICKY_FIELD = 'backend';

/** Run the check. Never throws; connections are sequential and each is released before the next. */
export async function runStickyCheck(url: string, opts: StickyOptions = {}): Promise<StickyResult> {
  const count = opts.count ?? DEFAULT_STICKY_COUNT;
  const ids: string[] = [];
  for (let i = 1; i <= count; i++) {
    try {
      ids.push(await readId(url, opts));
    } catch (err) {
      const why = err instanceof ProbeError ? err.message : `internal error: ${String(err)}`;
      return { url, sticky: null, ids, distinct: distinct(ids), error: `connection ${i} of ${count}: ${why}` };
    }
  }
  const d = distinct(ids);
  return { url, sticky: d.length === 1, ids, distinct: d };
}

/** One connection: its backend id, read from the 101 header or the first message. */
async function readId(url: string, opts: StickyOptions): Promise<string> {
  const deadline = deadlineIn(opts.timeoutMs ?? 5000);
  const conn = await ProbeConnection.open(
    url,
    {
      ...(opts.headers !== undefined ? { headers: opts.headers } : {}),
      ...(opts.subprotocols !== undefined ? { subprotocols: opts.subprotocols } : {}),
      ...(opts.insecure !== undefined ? { insecure: opts.insecure } : {}),
      ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
    },
    deadline,
  );
  try {
    const id = opts.header !== undefined ? fromHeader(conn, opts.header) : await fromFirstMessage(conn, opts.field ?? DEFAULT_STICKY_FIELD, deadline);
    // Closing politely matters: the proxy's metrics would otherwise count N abnormal closes.
    await conn.close(deadline, 1000).catch(() => undefined);
    return id;
  } finally {
    await conn.destroy();
  }
}

function fromHeader(conn: ProbeConnection, name: string): string {
  const v = conn.responseHeaders[name.toLowerCase()];
  const text = Array.isArray(v) ? v.join(', ') : v;
  if (text === undefined || text.trim() === '') throw new ProbeError(`the 101 response has no ${name} header`);
  return text.trim();
}

async function fromFirstMessage(conn: ProbeConnection, field: string, deadline: Deadline): Promise<string> {
  const m = await conn.receive(() => true, 'the first message', deadline);
  const doc = parseJson(m.text);
  if (doc === undefined) throw new ProbeError(`the first message is not JSON: ${quote(m.text, 80)}`);
  const found = lookup(doc.value, parsePath(field));
  if (!found.present) throw new ProbeError(`the first message has no field ${quote(field)}: ${quote(m.text, 80)}`);
  const v = found.value;
  if (typeof v === 'string' && v !== '') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new ProbeError(`field ${quote(field)} of the first message is ${JSON.stringify(v)}, not a backend id`);
}

function distinct(ids: readonly string[]): string[] {
  return [...new Set(ids)];
}
