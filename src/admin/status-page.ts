/**
 * The human status page served at `GET /`: one self-contained HTML document (inline CSS and
 * script, no CDN, nothing fetched but `./status`), polling every 2 s. Semantic HTML — headings,
 * tables with header cells, a polite live region only for the verdict — so screen readers are
 * not flooded by the refresh, and a single column that stays readable on a phone.
 *
 * All data is written with `textContent`, never `innerHTML`: ids and names come from the config
 * and monitor results, and the page must not become a script-injection vector.
 */
import { CLOSE_CODE_NAMES } from './status.js';

/** Content-Security-Policy of the page: only its own inline code, only `./status` fetched. */
export const STATUS_PAGE_CSP =
  "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const STYLE = `
:root{color-scheme:light dark;--ok:#137333;--bad:#b3261e;--muted:#5f6368;--line:#dadce0;--bg2:#f1f3f4}
@media (prefers-color-scheme:dark){:root{--ok:#81c995;--bad:#f28b82;--muted:#9aa0a6;--line:#3c4043;--bg2:#202124}}
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;padding:1rem}
main{max-width:60rem;margin:0 auto}
h1{font-size:1.5rem;margin:0 0 .5rem}h2{font-size:1.15rem;margin:1.5rem 0 .5rem}
.verdict{display:inline-block;padding:.25rem .75rem;border-radius:1rem;font-weight:600;background:var(--bg2)}
.verdict.healthy{color:var(--ok)}.verdict.alert,.verdict.error{color:var(--bad)}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0}dt{color:var(--muted)}dd{margin:0}
.scroll{overflow-x:auto}table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid var(--line)}td.n,th.n{text-align:right}
.up{color:var(--ok)}.down{color:var(--bad)}.muted{color:var(--muted)}
ul.alerts{padding-left:1.25rem}ul.alerts li{color:var(--bad)}
footer{margin-top:2rem;color:var(--muted);font-size:.875rem}
`;

const SCRIPT = `
const NAMES = ${JSON.stringify(CLOSE_CODE_NAMES)};
const $ = (id) => document.getElementById(id);
const codeName = (c) => NAMES[c] || (c >= 3000 && c < 4000 ? 'registered by a library or framework' : c >= 4000 && c < 5000 ? 'application-defined' : 'unknown');
const pct = (r) => (r * 100).toFixed(r < 0.1 ? 1 : 0) + '%';
const ms = (v) => v == null ? '—' : v < 1 ? v.toFixed(3) + ' ms' : v.toFixed(1) + ' ms';
const num = (v) => typeof v === 'number' ? v.toLocaleString() : '—';
function dur(s) { s = Math.floor(s); const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  return (d ? d + 'd ' : '') + (d || h ? h + 'h ' : '') + (d || h || m ? m + 'm ' : '') + (s % 60) + 's'; }
function setText(id, text) { const el = $(id); if (el.textContent !== text) el.textContent = text; }
function rows(id, list, cells, empty) {
  const body = $(id); body.replaceChildren();
  if (!list.length) { const tr = body.insertRow(); const td = tr.insertCell(); td.colSpan = 9; td.className = 'muted'; td.textContent = empty; return; }
  for (const item of list) { const tr = body.insertRow();
    for (const [text, cls] of cells(item)) { const td = tr.insertCell(); td.textContent = text; if (cls) td.className = cls; } }
}
function render(s) {
  const v = $('verdict'); v.className = 'verdict ' + s.status;
  setText('verdict', s.status === 'healthy' ? 'Healthy' : s.status === 'alert' ? 'Alert' : 'No data');
  setText('ready', s.ready ? 'ready' : 'not ready: ' + s.not_ready_reasons.join('; '));
  setText('uptime', dur(s.uptime_s)); setText('active', num(s.active_sessions));
  setText('version', [s.service, s.version].filter(Boolean).join(' ') || '—');
  setText('window', Math.round(s.window_s / 60) + ' min');
  setText('closes', num(s.total_closes) + ' closes, ' + pct(s.abnormal_rate) + ' abnormal, ' + pct(s.disconnect_rate) + ' without close frame (1006)');
  const al = $('alerts'); al.replaceChildren();
  for (const a of s.alerts) { const li = document.createElement('li'); li.textContent = a.message; al.append(li); }
  $('no-alerts').hidden = s.alerts.length > 0;
  const codes = Object.keys(s.codes).sort((a, b) => a - b);
  rows('codes', codes, (c) => [[c], [codeName(Number(c))], [num(s.by_initiator.client[c] || 0), 'n'],
    [num(s.by_initiator.backend[c] || 0), 'n'], [num(s.by_initiator.proxy[c] || 0), 'n'], [num(s.codes[c]), 'n']], 'No session closed in the window.');
  rows('backends', s.backends, (b) => [[b.pool], [b.id], [b.up ? 'up' : 'down', b.up ? 'up' : 'down'], [num(b.active_sessions), 'n']], 'No backend configured.');
  rows('routes', s.routes, (r) => [[r.name], [r.pool], [r.healthy ? 'healthy' : 'no healthy backend', r.healthy ? 'up' : 'down']], 'No route configured.');
  rows('ping', ['client', 'backend'], (l) => { const p = s.ping[l]; return [[l === 'client' ? 'client (proxy ⇄ client)' : 'backend (proxy ⇄ backend)'],
    [ms(p.p50_ms), 'n'], [ms(p.p95_ms), 'n'], [ms(p.p99_ms), 'n'], [num(p.count), 'n'], [num(p.timeouts), 'n']]; }, '');
  rows('rates', ['client_to_backend', 'backend_to_client'], (d) => { const r = s.messages[d]; return [[d.replace(/_/g, ' ')],
    [r.per_second.toFixed(2), 'n'], [num(Math.round(r.bytes_per_second)), 'n'], [num(r.messages), 'n']]; }, '');
  rows('monitors', s.monitors, (m) => { const o = m && typeof m === 'object' ? m : { name: String(m) };
    const ok = o.healthy ?? o.ok ?? o.passed; return [[String(o.name ?? '—')],
    [ok === true ? 'passing' : ok === false ? 'failing' : String(o.status ?? '—'), ok === true ? 'up' : ok === false ? 'down' : ''],
    [String(o.error ?? o.message ?? '')]]; }, 'No synthetic monitor configured.');
  setText('updated', 'Updated ' + new Date(s.generated_at).toLocaleTimeString() + ' · refreshes every 2 s');
}
async function poll() {
  try { const r = await fetch('./status', { cache: 'no-store' }); if (!r.ok) throw new Error('HTTP ' + r.status); render(await r.json()); }
  catch (e) { $('verdict').className = 'verdict error'; setText('verdict', 'Unreachable'); setText('updated', 'Cannot load /status: ' + e.message); }
  finally { setTimeout(poll, 2000); }
}
poll();
`;

const table = (id: string, caption: string, heads: readonly [string, boolean][]) =>
  `<div class="scroll"><table><caption class="muted">${caption}</caption><thead><tr>${heads
    .map(([h, n]) => `<th scope="col"${n ? ' class="n"' : ''}>${h}</th>`)
    .join('')}</tr></thead><tbody id="${id}"></tbody></table></div>`;

const HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>wstap status</title><style>${STYLE}</style></head>
<body><main>
<header><h1>wstap status</h1>
<p>Close-code health: <span id="verdict" class="verdict" role="status" aria-live="polite">Loading…</span></p></header>
<section aria-labelledby="h-summary"><h2 id="h-summary">Summary</h2><dl>
<dt>Readiness</dt><dd id="ready">—</dd><dt>Uptime</dt><dd id="uptime">—</dd>
<dt>Active sessions</dt><dd id="active">—</dd><dt>Alert window</dt><dd id="window">—</dd>
<dt>Closes in window</dt><dd id="closes">—</dd><dt>Version</dt><dd id="version">—</dd></dl></section>
<section aria-labelledby="h-alerts"><h2 id="h-alerts">Alerts</h2><p id="no-alerts" class="muted">No alert.</p><ul id="alerts" class="alerts"></ul></section>
<section aria-labelledby="h-codes"><h2 id="h-codes">Close codes</h2>
${table('codes', 'Sessions closed in the alert window, by close code and by who closed first.', [['Code', false], ['Meaning', false], ['Client', true], ['Backend', true], ['Proxy', true], ['Total', true]])}</section>
<section aria-labelledby="h-backends"><h2 id="h-backends">Backends</h2>
${table('backends', 'Backend servers and their open sessions.', [['Pool', false], ['Server', false], ['State', false], ['Sessions', true]])}
${table('routes', 'Routes and whether they can take new sessions.', [['Route', false], ['Pool', false], ['State', false]])}</section>
<section aria-labelledby="h-ping"><h2 id="h-ping">Ping latency</h2>
${table('ping', 'Round trips of proxy pings per leg over the alert window.', [['Leg', false], ['p50', true], ['p95', true], ['p99', true], ['Pings', true], ['Timeouts', true]])}</section>
<section aria-labelledby="h-rates"><h2 id="h-rates">Message rates</h2>
${table('rates', 'Data messages relayed over the last minute.', [['Direction', false], ['Messages/s', true], ['Bytes/s', true], ['Last minute', true]])}</section>
<section aria-labelledby="h-monitors"><h2 id="h-monitors">Synthetic monitors</h2>
${table('monitors', 'Latest result of each synthetic monitor.', [['Monitor', false], ['State', false], ['Detail', false]])}</section>
<footer><p id="updated">Waiting for the first update…</p>
<p>Machine-readable: <a href="./status">/status</a> · <a href="./metrics">/metrics</a> · <a href="./healthz">/healthz</a> · <a href="./readyz">/readyz</a></p></footer>
</main><script>${SCRIPT}</script></body></html>
`;

/** The status page document. */
export function statusPageHtml(): string {
  return HTML;
}
