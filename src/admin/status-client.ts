/**
 * The client side of `/status`, for `wstap status [--admin URL]`: fetch the document of a
 * running proxy, print the close-code health report, and map it to the exit code of SPEC §2
 * (0 healthy or no data, 1 alert, 2 unreachable).
 */
import type { StatusDocument } from './status.js';
import { closeCodeName } from './status.js';
import { formatWindow } from '../telemetry/status-window.js';

/** Where `wstap status` looks without `--admin` (the default `admin:` address). */
export const DEFAULT_ADMIN_URL = 'http://127.0.0.1:9090';

/** The result of {@link runStatusCommand}: what to print on stdout and the process exit code. */
export interface StatusCommandResult {
  readonly exitCode: 0 | 1 | 2;
  readonly text: string;
}

/** The admin server could not be asked, or did not answer a wstap /status document. */
export class StatusUnavailableError extends Error {
  override readonly name = 'StatusUnavailableError';
}

/** The /status URL for an admin base URL (`http://host:9090`, `…/`, or already `…/status`). */
export function statusUrl(adminUrl: string): URL {
  let base: URL;
  try {
    base = new URL(adminUrl);
  } catch {
    throw new StatusUnavailableError(`invalid admin URL "${adminUrl}" (expected e.g. ${DEFAULT_ADMIN_URL})`);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') {
    throw new StatusUnavailableError(`invalid admin URL "${adminUrl}": only http:// and https:// are supported`);
  }
  if (base.pathname.endsWith('/status')) return base;
  return new URL('status', base.pathname.endsWith('/') ? base : new URL(`${base.href}/`));
}

/** Fetch and check the /status document; throws {@link StatusUnavailableError} on any failure. */
export async function fetchStatus(adminUrl: string, timeoutMs = 5000): Promise<StatusDocument> {
  const url = statusUrl(adminUrl);
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } });
  } catch (err) {
    throw new StatusUnavailableError(`cannot reach ${url.href}: ${describe(err, timeoutMs)}`);
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new StatusUnavailableError(`${url.href} answered HTTP ${res.status}`);
  }
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    throw new StatusUnavailableError(`${url.href} did not answer JSON`);
  }
  if (!isStatusDocument(body)) throw new StatusUnavailableError(`${url.href} did not answer a wstap /status document`);
  return body;
}

/** Run `wstap status`: never throws, always returns the text and the exit code. */
export async function runStatusCommand(adminUrl = DEFAULT_ADMIN_URL, timeoutMs = 5000): Promise<StatusCommandResult> {
  try {
    const status = await fetchStatus(adminUrl, timeoutMs);
    return { exitCode: status.status === 'alert' ? 1 : 0, text: formatStatusReport(status) };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return { exitCode: 2, text: `wstap status: UNREACHABLE\n  ${message}\n` };
  }
}

/** The human close-code health report of a /status document (plain text, no colours). */
export function formatStatusReport(s: StatusDocument): string {
  const lines: string[] = [];
  const verdict = s.status === 'healthy' ? 'HEALTHY' : s.status === 'alert' ? 'ALERT' : 'NO DATA';
  const window = formatWindow(s.window_s * 1000);
  lines.push(`wstap status: ${verdict} (last ${window}: ${plural(s.total_closes, 'close')})`);
  if (s.total_closes > 0) {
    lines.push(
      `  abnormal closes   ${pct(s.abnormal_rate).padStart(6)}  ${s.abnormal_closes} of ${s.total_closes}, threshold ${pct(s.thresholds.abnormal_close_ratio)} (1006/1011/1012/1013)`,
      `  1006 disconnects  ${pct(s.disconnect_rate).padStart(6)}  ${s.disconnects_1006} of ${s.total_closes}, threshold ${pct(s.thresholds.abnormal_disconnect_ratio)}`,
    );
  } else {
    lines.push('  no session closed in the window: nothing to evaluate');
  }
  if (s.alerts.length > 0) {
    lines.push('', 'alerts:');
    for (const a of s.alerts) lines.push(`  - ${a.rule}: ${a.message}`);
  }
  const codes = Object.keys(s.codes).sort((a, b) => Number(a) - Number(b));
  if (codes.length > 0) {
    lines.push('', 'close codes:');
    const width = Math.max(...codes.map((c) => `${c} ${closeCodeName(c)}`.length));
    for (const c of codes) {
      const who = (['client', 'backend', 'proxy'] as const)
        .filter((i) => (s.by_initiator[i]?.[c] ?? 0) > 0)
        .map((i) => `${i} ${s.by_initiator[i][c]}`)
        .join(', ');
      lines.push(`  ${`${c} ${closeCodeName(c)}`.padEnd(width)}  ${String(s.codes[c]).padStart(6)}  (${who})`);
    }
  }
  lines.push('', `sessions: ${s.active_sessions} active · uptime ${uptime(s.uptime_s)} · ${s.ready ? 'ready' : `not ready (${s.not_ready_reasons.join('; ')})`}`);
  if (s.backends.length > 0) {
    lines.push('backends:');
    for (const b of s.backends) lines.push(`  ${b.pool}/${b.id}  ${b.up ? 'up  ' : 'DOWN'}  ${b.active_sessions} active`);
  }
  const leg = (name: string, l: StatusDocument['ping']['client']) =>
    l.count === 0
      ? `${name} no samples${l.timeouts > 0 ? `, ${plural(l.timeouts, 'timeout')}` : ''}`
      : `${name} ${ms(l.p50_ms)}/${ms(l.p95_ms)}/${ms(l.p99_ms)} ms (${plural(l.count, 'ping')}, ${plural(l.timeouts, 'timeout')})`;
  lines.push(`ping p50/p95/p99: ${leg('client', s.ping.client)} · ${leg('backend', s.ping.backend)}`);
  lines.push(
    `messages/s (last minute): client→backend ${s.messages.client_to_backend.per_second.toFixed(2)} · backend→client ${s.messages.backend_to_client.per_second.toFixed(2)}`,
  );
  return `${lines.join('\n')}\n`;
}

function isStatusDocument(v: unknown): v is StatusDocument {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return (
    (o.status === 'healthy' || o.status === 'alert' || o.status === 'no_data') &&
    typeof o.total_closes === 'number' &&
    Array.isArray(o.alerts) &&
    typeof o.codes === 'object' &&
    typeof o.ping === 'object' &&
    typeof o.messages === 'object' &&
    Array.isArray(o.backends)
  );
}

function describe(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return `no answer within ${timeoutMs} ms`;
  const cause = err instanceof Error ? (err.cause as { code?: string; message?: string } | undefined) : undefined;
  return cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

function pct(r: number): string {
  return `${(r * 100).toFixed(r < 0.1 ? 1 : 0).replace(/\.0$/, '')}%`;
}

function ms(v: number | null): string {
  return v === null ? '—' : v < 1 ? v.toFixed(2) : v.toFixed(1);
}

function uptime(s: number): string {
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return d > 0 ? `${d}d ${h}h` : h > 0 ? `${h}h ${m}m` : m > 0 ? `${m}m ${Math.floor(s % 60)}s` : `${Math.floor(s)}s`;
}
