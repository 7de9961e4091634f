/**
 * The status page document without a browser: size budget, no external asset, a CSP whose
 * hashes match the inline code exactly, the markup screen readers and tests rely on, a script
 * that compiles, and the session-length percentiles it derives from /metrics. Its behaviour in
 * a real browser is covered by test/browser/status-page.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import vm from 'node:vm';
import { STATUS_PAGE_CSP, statusPageHtml } from '../../../src/admin/status-page.js';

const html = statusPageHtml();
const only = (re: RegExp) => {
  const all = [...html.matchAll(re)];
  expect(all).toHaveLength(1);
  return all[0]![1]!;
};
const script = only(/<script>([\s\S]*?)<\/script>/g);
const style = only(/<style>([\s\S]*?)<\/style>/g);
const hash = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
const directive = (name: string) =>
  STATUS_PAGE_CSP.split(';')
    .map((d) => d.trim())
    .find((d) => d.startsWith(`${name} `));

describe('status page document', () => {
  it('stays under the 30 KB budget', () => {
    expect(Buffer.byteLength(html)).toBeLessThan(30 * 1024);
  });

  it('loads nothing from elsewhere: no absolute URL, no external script, style, font or image', () => {
    expect(html).not.toMatch(/https?:\/\//i);
    expect(html).not.toMatch(/(src|href|action)\s*=\s*["']?\/\//i); // protocol-relative
    expect(html).not.toMatch(/<(script|img|iframe|object|embed|link)[^>]*\ssrc=/i);
    expect(style).not.toMatch(/url\(|@import|@font-face/i);
    for (const [, href] of html.matchAll(/href="([^"]*)"/g)) expect(href).toMatch(/^(\.\/[a-z]+|data:,)$/);
    // Only its own origin is fetched.
    expect([...script.matchAll(/fetch\('([^']*)'/g)].map((m) => m[1])).toEqual(['./metrics', './status']);
  });

  it('is allowed by a strict CSP: the hashes are those of the inline style and script, nothing else inline', () => {
    expect(directive('default-src')).toBe("default-src 'none'");
    expect(directive('script-src')).toBe(`script-src ${hash(script)}`);
    expect(directive('style-src')).toBe(`style-src ${hash(style)}`);
    expect(directive('connect-src')).toBe("connect-src 'self'");
    expect(STATUS_PAGE_CSP).not.toMatch(/unsafe-(inline|eval|hashes)/);
    expect(STATUS_PAGE_CSP).toContain("frame-ancestors 'none'");
    expect(html).not.toMatch(/\sstyle=/); // inline style attributes would be refused
    expect(html).not.toMatch(/\son[a-z]+=/i); // so would inline event handlers
    expect(script).not.toContain('innerHTML');
    expect(script).not.toMatch(/\beval\(|new Function|setAttribute\('style'|\.style\./);
  });

  it('has the structure assistive technology needs', () => {
    expect(html).toMatch(/^<!doctype html>\n<html lang="en">/);
    expect(html).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
    expect(html.match(/<h1>/g)).toHaveLength(1);
    expect(html.match(/<header>/g)).toHaveLength(1);
    expect(html.match(/<main>/g)).toHaveLength(1);
    expect(html.match(/<footer>/g)).toHaveLength(1);
    // Every section is a region named by its heading.
    const sections = [...html.matchAll(/<section[^>]*aria-labelledby="([^"]+)"/g)].map((m) => m[1]!);
    expect(sections).toHaveLength(7);
    for (const id of sections) expect(html).toContain(`<h2 id="${id}">`);
    // Real tables, each with a caption and column headers.
    const tables = html.match(/<table>/g)!.length;
    expect(tables).toBe(6); // close codes, latency, backends, routes, workers, monitors
    expect(html.match(/<table><caption>/g)).toHaveLength(tables);
    expect(html).toContain('<th scope="col"');
    expect(html).not.toMatch(/<th(?=[\s>])(?![^>]*scope=)/);
    // One polite live region (the alert verdict), a text alternative on the chart.
    expect(html.match(/aria-live=/g)).toHaveLength(1);
    expect(html).toMatch(/<p id="health-live" aria-live="polite" aria-atomic="true">/);
    expect(html).toMatch(/<div id="chart" role="img" aria-label="[^"]+"/);
    expect(html).toMatch(/<p id="offline" role="alert"/);
  });

  it('gives every key figure a stable data-testid', () => {
    const ids = new Set([...html.matchAll(/data-testid="([^"]+)"/g)].map((m) => m[1]));
    for (const id of [
      'active-sessions',
      'total-closes',
      'abnormal-rate',
      'rate-c2b',
      'rate-b2c',
      'msgs-c2b',
      'msgs-b2c',
      'uptime',
      'alert-status',
      'alert-reason',
      'alert-messages',
      'close-chart',
      'codes-table',
      'latency-table',
      'backends-table',
      'routes-table',
      'monitors-table',
      'connection',
      'last-updated',
      'disconnected',
    ]) {
      expect(ids, id).toContain(id);
    }
    // Per-row figures get theirs from the script.
    for (const prefix of ['code-total-', "'code-' + w + '-'", 'backend-state-', 'backend-active-', "'ping-' + l[0] + '-p50'", 'session-p50', 'monitor-result-', 'monitor-latency-', 'monitor-error-']) {
      expect(script).toContain(prefix);
    }
  });

  it('polls ./status every 2 s', () => {
    expect(script).toContain("fetch('./status'");
    expect(script).toContain('setTimeout(poll, 2000)');
  });
});

describe('status page script', () => {
  /** Evaluate the script with a network that never answers, and hand back its functions. */
  function load(): vm.Context {
    const context = vm.createContext({
      fetch: () => new Promise(() => {}),
      AbortSignal,
      document: { getElementById: () => null },
      setTimeout: () => 0,
    });
    vm.runInContext(script, context);
    return context;
  }

  it('compiles as a classic script', () => {
    expect(() => new vm.Script(script)).not.toThrow();
  });

  it('derives session-length percentiles from the /metrics histogram like histogram_quantile', () => {
    const { sessionQuantiles } = load() as unknown as {
      sessionQuantiles: (t: string) => { count: number; p50: number | null; p95: number | null; p99: number | null };
    };
    const series = (labels: string, counts: Record<string, number>) =>
      Object.entries(counts)
        .map(([le, n]) => `wstap_session_duration_bucket{${labels},le="${le}"} ${n}`)
        .join('\n');
    // Two series (two close codes): 10 sessions ≤ 1 s, 10 more ≤ 5 s, none longer.
    const text = [
      '# HELP wstap_session_duration Session length',
      '# TYPE wstap_session_duration histogram',
      'wstap_session_duration_count{wstap_close_code="1000"} 12',
      series('wstap_close_code="1000"', { '0.5': 0, '1': 8, '5': 12, '+Inf': 12 }),
      series('wstap_close_code="4001"', { '0.5': 0, '1': 2, '5': 8, '+Inf': 8 }),
      'wstap_message_size_bucket{le="1"} 99',
    ].join('\n');
    const q = sessionQuantiles(text);
    expect(q.count).toBe(20);
    expect(q.p50).toBeCloseTo(1, 9); // rank 10 is the top of the (0.5, 1] bucket
    expect(q.p95).toBeCloseTo(1 + 4 * (9 / 10), 9); // rank 19 of 20: 9/10 into (1, 5]
    expect(q.p99).toBeCloseTo(1 + 4 * (9.8 / 10), 9);
    // Beyond the last finite bucket the estimate is that bound; no data → null.
    expect(sessionQuantiles('wstap_session_duration_bucket{le="10"} 0\nwstap_session_duration_bucket{le="+Inf"} 4').p50).toBe(10);
    expect(sessionQuantiles('')).toEqual({ count: 0, p50: null, p95: null, p99: null });
  });
});
