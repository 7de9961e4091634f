/**
 * Human-readable output of the monitor commands. Kept apart from the commands so the wording is
 * tested on plain objects, and so `serve` could reuse it for logs.
 */
import type { CheckResult } from './check.js';
import type { MonitorResult } from './runner.js';
import type { StickyResult } from './sticky.js';

/** The `wstap check` summary (without `--json`), ending in a newline. */
export function formatCheck(r: CheckResult): string {
  const lines = [`${r.healthy ? 'healthy' : 'UNHEALTHY'}  ${r.url}`];
  if (r.error !== null) lines.push(`  error: ${r.error}`);
  if (r.error?.startsWith('TLS certificate rejected')) lines.push('  hint: --insecure skips certificate verification (for self-signed test servers)');
  const parts = [
    r.connected ? `connected in ${ms(r.connectionTimeMs)}` : 'not connected',
    ...(r.pingLatencyMs !== null ? [`ping ${ms(r.pingLatencyMs)}`] : []),
    ...(r.messageReceived ? [`reply in ${ms(r.messageLatencyMs)}`] : []),
    ...(r.closeCode !== null ? [`close ${r.closeCode}`] : []),
    `total ${ms(r.totalTimeMs)}`,
  ];
  lines.push(`  ${parts.join(', ')}`);
  return `${lines.join('\n')}\n`;
}

/**
 * One line per monitor run, and for a failure a second, indented line with the failing step or
 * assertion: `FAIL chat  512 ms` / `  steps[2] (receive) failed: timed out after …`.
 */
export function formatMonitorRun(r: MonitorResult, nameWidth = 0): string {
  const head = `${r.passed ? 'PASS' : 'FAIL'} ${r.monitor.padEnd(nameWidth)}  ${ms(r.durationMs)}`;
  const latency = [
    ...(r.connectionLatencyMs !== null ? [`connection ${ms(r.connectionLatencyMs)}`] : []),
    ...(r.messageLatencyMs !== null ? [`message ${ms(r.messageLatencyMs)}`] : []),
  ];
  const first = latency.length > 0 ? `${head}  (${latency.join(', ')})` : head;
  if (r.passed || r.error === undefined) return `${first}\n`;
  // The error starts with `monitor "name": `; the line above already names the monitor.
  const detail = r.error.replace(/^monitor (?:"[^"]*"|'[^']*'): /, '');
  return `${first}\n  ${detail}\n`;
}

/** The `wstap sticky-check` verdict. */
export function formatSticky(r: StickyResult, count: number): string {
  if (r.sticky === null) {
    const seen = r.ids.length > 0 ? `\n  ids before the failure: ${r.ids.join(' ')}` : '';
    return `could not tell whether ${r.url} is sticky: ${r.error ?? 'no backend id'}${seen}\n`;
  }
  if (r.sticky) return `sticky: all ${count} connections reached backend ${JSON.stringify(r.distinct[0])}\n`;
  const tally = r.distinct.map((id) => `${id} ×${r.ids.filter((x) => x === id).length}`).join(', ');
  return `NOT sticky: ${count} connections reached ${r.distinct.length} backends (${tally})\n  in order: ${r.ids.join(' ')}\n`;
}

function ms(v: number | null): string {
  if (v === null) return '–';
  return v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${v} ms`;
}
