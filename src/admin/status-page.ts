/**
 * The human status page served at `GET /`: one self-contained HTML document (inline CSS and
 * script, no CDN, no external asset, nothing fetched but `./status` and `./metrics`), polling
 * every 2 s. The stylesheet and the script live in `status-page-style.ts` and
 * `status-page-script.ts`.
 *
 * Content-Security-Policy: the inline `<style>` and `<script>` are allowed by their SHA-256
 * hashes (computed here from the exact text served), not by `'unsafe-inline'`, so an injected
 * `<script>` or `style=""` would not run. The page writes no inline style attribute: the chart
 * is SVG with presentation attributes.
 *
 * Accessibility: landmarks (banner, main, contentinfo, one labelled region per section), one
 * `h1` and an `h2` per section, real tables with captions and `scope`d header cells, a text
 * alternative on the chart, a polite live region holding only the alert verdict, and colours
 * with AA contrast in both light and dark schemes. Every key figure has a stable `data-testid`.
 */
import { createHash } from 'node:crypto';
import { STATUS_PAGE_SCRIPT } from './status-page-script.js';
import { STATUS_PAGE_STYLE } from './status-page-style.js';

const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

/**
 * Content-Security-Policy of the page: only its own (hashed) inline style and script; fetches
 * only to its own origin (`./status`, `./metrics`); `data:` images for the empty favicon.
 */
export const STATUS_PAGE_CSP = [
  "default-src 'none'",
  `style-src ${sha256(STATUS_PAGE_STYLE)}`,
  `script-src ${sha256(STATUS_PAGE_SCRIPT)}`,
  "connect-src 'self'",
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Summary card: label, the figure (with its test id) and an optional unit/sub-line. */
const card = (label: string, id: string, unit = '', sub = '') =>
  `<div><dt>${label}</dt><dd><span id="${id}" data-testid="${id}">—</span>${unit ? ` <small>${unit}</small>` : ''}${sub}</dd></div>`;
const subline = (id: string) => `<span class="sub" id="${id}" data-testid="${id}"></span>`;
const rateSub = (k: string) =>
  `<span class="sub"><span id="bytes-${k}" data-testid="bytes-${k}">—</span> · <span id="msgs-${k}" data-testid="msgs-${k}">—</span> in the last minute</span>`;

const table = (id: string, caption: string, heads: readonly (readonly [string, boolean])[]) =>
  `<div class="scroll"><table><caption>${caption}</caption><thead><tr>${heads
    .map(([h, n]) => `<th scope="col"${n ? ' class="n"' : ''}>${h}</th>`)
    .join('')}</tr></thead><tbody id="${id}" data-testid="${id}-table"></tbody></table></div>`;

const section = (id: string, title: string, body: string, cls = '', hidden = false) =>
  `<section id="sec-${id}"${cls ? ` class="${cls}"` : ''}${hidden ? ' hidden' : ''} aria-labelledby="h-${id}"><h2 id="h-${id}">${title}</h2>${body}</section>`;

const BODY = [
  `<header><div><h1>wstap status</h1><p class="meta" id="service">wstap</p></div>`,
  `<p class="meta"><span id="conn" class="conn" data-testid="connection">Connecting…</span> · <span id="updated" data-testid="last-updated">not updated yet</span> · refreshes every 2 s</p>`,
  `<p id="offline" role="alert" data-testid="disconnected" hidden></p></header>`,
  '<main>',
  section(
    'overview',
    'Overview',
    `<dl class="cards">${[
      card('Active sessions', 'active-sessions', '', subline('pending-handshakes')),
      card('Closes', 'total-closes', '', subline('closes-window')),
      card('Abnormal closes', 'abnormal-rate', '', subline('disconnect-rate')),
      card('Client to backend', 'rate-c2b', 'msg/s', rateSub('c2b')),
      card('Backend to client', 'rate-b2c', 'msg/s', rateSub('b2c')),
      card('Uptime', 'uptime', '', subline('readiness')),
    ].join('')}</dl>`,
    'wide',
  ),
  section(
    'health',
    'Close-code alert',
    `<p id="health-live" aria-live="polite" aria-atomic="true"><span id="verdict" class="pill" data-testid="alert-status">Loading…</span><span id="verdict-reason" data-testid="alert-reason"></span></p>` +
      `<ul id="alerts" class="alerts" data-testid="alert-messages" hidden></ul><p id="health-detail" class="detail"></p>`,
  ),
  section(
    'codes',
    'Close codes',
    `<figure><figcaption id="chart-caption">Closes in the alert window by code and by who closed first</figcaption>` +
      `<ul class="legend" aria-hidden="true"><li><span class="sw c"></span>client</li><li><span class="sw b"></span>backend</li><li><span class="sw p"></span>proxy</li></ul>` +
      `<div id="chart" role="img" aria-label="Bar chart of closes by close code: loading." data-testid="close-chart"></div></figure>` +
      table('codes', 'Closes by code and initiator over the alert window.', [
        ['Code', false],
        ['Client', true],
        ['Backend', true],
        ['Proxy', true],
        ['Total', true],
      ]),
  ),
  section(
    'latency',
    'Latency and session length',
    table('latency', 'Percentiles: ping round trips per leg over the alert window; session lengths since start, estimated from the /metrics histogram.', [
      ['Measure', false],
      ['p50', true],
      ['p95', true],
      ['p99', true],
      ['Count', true],
    ]) + `<p id="latency-note" class="detail"></p>`,
  ),
  section(
    'backends',
    'Backends',
    table('backends', 'Backend servers: state and open sessions.', [
      ['Server', false],
      ['State', false],
      ['Sessions', true],
    ]) +
      table('routes', 'Routes: can they take new sessions?', [
        ['Route', false],
        ['Pool', false],
        ['State', false],
      ]),
  ),
  // Cluster mode only (`workers:` above 1): shown when /status lists workers.
  section(
    'workers',
    'Workers',
    table('workers', 'Worker processes sharing the listener.', [
      ['Worker', false],
      ['State', false],
      ['Sessions', true],
      ['Restarts', true],
    ]),
    '',
    true,
  ),
  section(
    'monitors',
    'Synthetic monitors',
    table('monitors', 'Last result of each synthetic monitor.', [
      ['Monitor', false],
      ['Result', false],
      ['Latency', true],
      ['Error', false],
    ]),
    'wide',
  ),
  '</main>',
  `<footer><p>Machine-readable: <a href="./status">/status</a> · <a href="./metrics">/metrics</a> · <a href="./healthz">/healthz</a> · <a href="./readyz">/readyz</a></p></footer>`,
  // The chart's bar, cloned per close code (rect x/width are set as percentages by the script).
  `<template id="tpl-bar"><svg aria-hidden="true" focusable="false">${['c', 'b', 'p']
    .map((k) => `<rect class="${k}" x="0" y="0" width="0" height="100%"><title></title></rect>`)
    .join('')}</svg></template>`,
].join('\n');

const HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>wstap status</title>
<link rel="icon" href="data:,">
<style>${STATUS_PAGE_STYLE}</style></head>
<body>
${BODY}
<script>${STATUS_PAGE_SCRIPT}</script></body></html>
`;

/** The status page document. */
export function statusPageHtml(): string {
  return HTML;
}
