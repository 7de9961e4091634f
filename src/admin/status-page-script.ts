/**
 * The status page's script (inlined in a `<script>` whose hash the CSP allows). Plain ES2020 for
 * any current browser; no library. It polls `./status` every 2 s and, every fifth poll,
 * `./metrics` for the session-length histogram (the one figure /status does not carry).
 *
 * Rules it keeps:
 * - data is written with `textContent` / attributes only, never `innerHTML` (ids, names and
 *   monitor errors come from config and the network);
 * - a table whose rows keep the same keys is updated cell by cell, not rebuilt, so a screen
 *   reader reading it does not lose its place every 2 s;
 * - the only live region is the alert verdict and its reason (rule names, not changing
 *   percentages), so it speaks when the state changes, not on every refresh;
 * - the chart is SVG cloned from a `<template>` with presentation attributes (no inline style,
 *   which the CSP forbids), and carries a text alternative; the table below it has the numbers.
 */
import { CLOSE_CODE_NAMES } from './status.js';

export const STATUS_PAGE_SCRIPT = `
'use strict';
const NAMES = ${JSON.stringify(CLOSE_CODE_NAMES)};
const WHO = ['client', 'backend', 'proxy'];
const RULES = { abnormal_close_ratio: 'abnormal closes (1006/1011/1012/1013)', abnormal_disconnect_ratio: 'disconnects without a close frame (1006)' };
const $ = (id) => document.getElementById(id);
const codeName = (c) => NAMES[c] || (c >= 3000 && c < 4000 ? 'registered by a library' : c >= 4000 && c < 5000 ? 'application-defined' : 'unknown');
const pct = (r) => (r * 100).toFixed(r < 0.1 ? 1 : 0).replace(/\\.0$/, '') + '%';
const num = (v) => typeof v === 'number' ? v.toLocaleString() : '—';
// Counts from a million up as "12.3M" (three significant digits): the latency table has four
// figures in a row and must fit a phone; /status and /metrics have the exact numbers.
const COMPACT = new Intl.NumberFormat(undefined, { notation: 'compact', maximumSignificantDigits: 3 });
const count = (v) => typeof v === 'number' && v >= 1e6 ? COMPACT.format(v) : num(v);
const ms = (v) => v == null ? '—' : v >= 1000 ? (v / 1000).toFixed(2) + ' s' : v < 1 ? v.toPrecision(2) + ' ms' : v.toFixed(v < 100 ? 1 : 0) + ' ms';
const secs = (v) => v == null ? '—' : v < 1 ? ms(v * 1000) : v < 60 ? v.toFixed(1) + ' s' : v < 3600 ? (v / 60).toFixed(1) + ' min' : (v / 3600).toFixed(1) + ' h';
const bytes = (v) => v < 1024 ? Math.round(v) + ' B' : v < 1048576 ? (v / 1024).toFixed(1) + ' kB' : (v / 1048576).toFixed(1) + ' MB';
const clock = (d) => d.toLocaleTimeString();
function dur(s) { s = Math.floor(s); const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  return (d ? d + 'd ' : '') + (d || h ? h + 'h ' : '') + (d || h || m ? m + 'm ' : '') + (s % 60) + 's'; }
function setText(el, text) { if (typeof el === 'string') el = $(el); if (el.textContent !== text) el.textContent = text; }
function setAttr(el, k, v) { if (el.getAttribute(k) !== v) el.setAttribute(k, v); }

// A table body keyed by row: rebuilt when the keys change, otherwise updated in place.
// A cell is [text, className?, testid?, subText?]; the first cell of a row is its header.
function fill(id, items, key, cells, empty) {
  const body = $(id);
  const keys = items.map(key).join('\\n');
  if (!items.length) {
    if (body.dataset.keys !== '') { body.replaceChildren(); const td = body.insertRow().insertCell();
      td.colSpan = 9; td.className = 'muted'; td.textContent = empty; body.dataset.keys = ''; }
    return;
  }
  const rebuild = body.dataset.keys !== keys;
  if (rebuild) body.replaceChildren();
  items.forEach((item, r) => {
    const tr = rebuild ? body.insertRow() : body.rows[r];
    cells(item).forEach(([text, cls, testid, sub], c) => {
      let cell = tr.cells[c];
      if (rebuild) {
        cell = document.createElement(c ? 'td' : 'th');
        if (!c) cell.scope = 'row';
        if (testid) cell.dataset.testid = testid;
        cell.append(document.createElement('span'));
        if (sub !== undefined) { const m = document.createElement('span'); m.className = 'm'; cell.append(m); }
        tr.append(cell);
      }
      setText(cell.firstChild, text);
      if (sub !== undefined) setText(cell.lastChild, sub);
      if (cell.className !== (cls || '')) cell.className = cls || '';
    });
  });
  body.dataset.keys = keys;
}

function chart(s, codes) {
  const box = $('chart');
  const max = Math.max(1, ...codes.map((c) => s.codes[c]));
  const keys = codes.join(',');
  if (box.dataset.keys !== keys) {
    box.replaceChildren();
    for (const c of codes) {
      const row = document.createElement('div'); row.className = 'bar';
      const label = document.createElement('span'); label.textContent = c;
      const total = document.createElement('span');
      row.append(label, $('tpl-bar').content.firstElementChild.cloneNode(true), total);
      box.append(row);
    }
    if (!codes.length) { const p = document.createElement('p'); p.className = 'muted'; p.textContent = 'No session closed in the window.'; box.append(p); }
    box.dataset.keys = keys;
  }
  codes.forEach((c, i) => {
    const row = box.children[i];
    let x = 0;
    const rects = row.querySelectorAll('rect');
    WHO.forEach((who, k) => {
      const n = s.by_initiator[who][c] || 0, w = n / max * 100;
      setAttr(rects[k], 'x', x + '%'); setAttr(rects[k], 'width', w + '%');
      setText(rects[k].firstElementChild, c + ' closed by ' + who + ': ' + n);
      x += w;
    });
    setText(row.lastElementChild, num(s.codes[c]));
  });
  const alt = codes.length ? 'Bar chart of closes in the alert window by close code, split by who closed. ' + codes.map((c) =>
    c + ' ' + codeName(Number(c)) + ': ' + s.codes[c] + ' (' + WHO.map((w) => w + ' ' + (s.by_initiator[w][c] || 0)).join(', ') + ')').join('; ') + '.'
    : 'Bar chart of closes by close code: no session closed in the alert window.';
  setAttr(box, 'aria-label', alt);
}

// Session length percentiles from the cumulative wstap_session_duration histogram of /metrics,
// summed over every series and interpolated inside buckets as Prometheus' histogram_quantile does.
function sessionQuantiles(text) {
  const cum = new Map();
  for (const line of text.split('\\n')) {
    if (!line.startsWith('wstap_session_duration_bucket{')) continue;
    const le = /[{,]le="([^"]+)"/.exec(line);
    const v = Number(line.slice(line.lastIndexOf('}') + 1).trim().split(/\\s+/)[0]);
    if (!le || !Number.isFinite(v)) continue;
    const b = le[1] === '+Inf' ? Infinity : Number(le[1]);
    cum.set(b, (cum.get(b) || 0) + v);
  }
  const buckets = [...cum].sort((a, b) => a[0] - b[0]);
  const count = buckets.length ? buckets[buckets.length - 1][1] : 0;
  const q = (p) => {
    if (!count) return null;
    const rank = p * count; let lo = 0, below = 0;
    for (const [le, n] of buckets) {
      if (n >= rank) return le === Infinity ? lo : lo + (le - lo) * (n > below ? (rank - below) / (n - below) : 0);
      lo = le; below = n;
    }
    return lo;
  };
  return { count, p50: q(0.5), p95: q(0.95), p99: q(0.99) };
}

let session = null, ticks = 0, lastOk = null, failedAt = null;

async function loadMetrics() {
  try {
    const r = await fetch('./metrics', { cache: 'no-store', signal: AbortSignal.timeout(4000) });
    if (r.status === 404) session = 'off';
    else if (r.ok) session = sessionQuantiles(await r.text());
  } catch (e) { /* keep the last figures; /status decides connected or not */ }
}

function render(s) {
  // Alert state: the live region holds the verdict and the rules that fired, nothing that changes every poll.
  const v = $('verdict');
  v.className = 'pill ' + s.status;
  setText(v, s.status === 'healthy' ? 'Healthy' : s.status === 'alert' ? 'Alert' : 'No data');
  setText('verdict-reason', s.status === 'alert' ? 'Over threshold: ' + s.alerts.map((a) => RULES[a.rule] || a.rule).join('; ') + '.'
    : s.status === 'healthy' ? 'Abnormal closes and disconnects are within their thresholds.' : 'No session closed in the alert window.');
  const al = $('alerts');
  const msgs = s.alerts.map((a) => a.message);
  if ([...al.children].map((li) => li.textContent).join('\\n') !== msgs.join('\\n')) {
    al.replaceChildren(...msgs.map((m) => { const li = document.createElement('li'); li.textContent = m; return li; }));
  }
  al.hidden = !msgs.length;
  const win = s.window_s >= 3600 && s.window_s % 3600 === 0 ? s.window_s / 3600 + ' h' : s.window_s >= 60 ? Math.round(s.window_s / 60) + ' min' : s.window_s + ' s';
  setText('health-detail', 'Over the last ' + win + ': ' + num(s.total_closes) + ' closes, ' + pct(s.abnormal_rate) + ' abnormal (threshold ' +
    pct(s.thresholds.abnormal_close_ratio) + '), ' + pct(s.disconnect_rate) + ' without a close frame (threshold ' + pct(s.thresholds.abnormal_disconnect_ratio) + ').');

  setText('active-sessions', num(s.active_sessions));
  setText('pending-handshakes', num(s.pending_handshakes) + ' handshakes pending');
  setText('total-closes', num(s.total_closes));
  setText('closes-window', 'in the last ' + win);
  setText('abnormal-rate', pct(s.abnormal_rate));
  setText('disconnect-rate', pct(s.disconnect_rate) + ' without close frame');
  for (const [d, k] of [['client_to_backend', 'c2b'], ['backend_to_client', 'b2c']]) {
    const m = s.messages[d];
    setText('rate-' + k, m.per_second.toFixed(2));
    setText('bytes-' + k, bytes(m.bytes_per_second) + '/s');
    setText('msgs-' + k, num(m.messages));
  }
  setText('uptime', dur(s.uptime_s));
  setText('readiness', s.ready ? 'Ready' : 'Not ready: ' + s.not_ready_reasons.join('; '));
  $('readiness').className = 'sub' + (s.ready ? '' : ' bad');
  setText('service', [s.service, s.version].filter(Boolean).join(' ') || 'wstap');

  const codes = Object.keys(s.codes).sort((a, b) => a - b);
  chart(s, codes);
  fill('codes', codes, String, (c) => [[c, '', 'code-' + c, codeName(Number(c))],
    ...WHO.map((w) => [num(s.by_initiator[w][c] || 0), 'n', 'code-' + w + '-' + c]), [num(s.codes[c]), 'n', 'code-total-' + c]],
    'No session closed in the window.');

  const lat = [['client', 'Client ping', s.ping.client], ['backend', 'Backend ping', s.ping.backend]];
  const sq = session && session !== 'off' ? session : null;
  fill('latency', [...lat, ['session']], (l) => l[0], (l) => l[0] === 'session'
    ? [['Session length', '', 'session', 'since start'], [secs(sq && sq.p50), 'n', 'session-p50'],
      [secs(sq && sq.p95), 'n', 'session-p95'], [secs(sq && sq.p99), 'n', 'session-p99'], [sq ? count(sq.count) : '—', 'n', 'session-count']]
    : [[l[1], '', 'ping-' + l[0], num(l[2].timeouts) + ' timeouts'], [ms(l[2].p50_ms), 'n', 'ping-' + l[0] + '-p50'], [ms(l[2].p95_ms), 'n', 'ping-' + l[0] + '-p95'],
      [ms(l[2].p99_ms), 'n', 'ping-' + l[0] + '-p99'], [count(l[2].count), 'n', 'ping-' + l[0] + '-count']], '');
  setText('latency-note', session === 'off' ? 'Session lengths come from /metrics, which is off (telemetry.prometheus: false).' : '');

  fill('backends', s.backends, (b) => b.pool + '/' + b.id, (b) => [[b.id, '', 'backend-' + b.pool + '/' + b.id, 'pool ' + b.pool],
    [b.up ? 'up' : 'down', b.up ? 'up' : 'down', 'backend-state-' + b.pool + '/' + b.id],
    [num(b.active_sessions), 'n', 'backend-active-' + b.pool + '/' + b.id]], 'No backend configured.');
  fill('routes', s.routes, (r) => r.name, (r) => [[r.name, '', 'route-' + r.name], [r.pool],
    [r.healthy ? 'up' : 'no healthy backend', r.healthy ? 'up' : 'down', 'route-state-' + r.name]], 'No route configured.');

  const workers = s.workers || [];
  $('sec-workers').hidden = !workers.length;
  if (workers.length) {
    fill('workers', workers, (w) => String(w.index), (w) => [['worker ' + w.index, '', 'worker-' + w.index, w.pid ? 'pid ' + w.pid : 'starting'],
      [w.responding ? 'answering' : 'not answering', w.responding ? 'up' : 'down', 'worker-state-' + w.index],
      [num(w.active_sessions), 'n', 'worker-active-' + w.index], [num(w.restarts), 'n', 'worker-restarts-' + w.index]], '');
  }

  const mons = (s.monitors || []).map((m) => {
    const o = m && typeof m === 'object' ? m : { name: String(m) };
    const lr = o.last_result && typeof o.last_result === 'object' ? o.last_result : o;
    const ok = typeof lr.passed === 'boolean' ? lr.passed : [o.up, o.ok, o.healthy, o.passed].find((x) => typeof x === 'boolean');
    const latency = [lr.messageLatencyMs, lr.connectionLatencyMs, lr.durationMs, o.latency_ms].find((x) => typeof x === 'number');
    return { name: String(o.name ?? o.monitor ?? '—'), ok, latency, error: String(lr.error ?? o.error ?? ''),
      when: lr.startedAt ? 'at ' + clock(new Date(lr.startedAt)) : 'not run yet', fails: o.consecutive_failures };
  });
  fill('monitors', mons, (m) => m.name, (m) => [[m.name, '', 'monitor-' + m.name, m.when],
    [m.ok === true ? 'passed' : m.ok === false ? 'failed' : 'pending', m.ok === true ? 'up' : m.ok === false ? 'down' : 'muted', 'monitor-result-' + m.name,
      m.fails > 1 ? m.fails + ' failures in a row' : ''],
    [ms(m.latency), 'n', 'monitor-latency-' + m.name], [m.error || '—', m.error ? 'err' : 'muted', 'monitor-error-' + m.name]],
    'No synthetic monitor configured.');

  lastOk = new Date(s.generated_at);
  setText('updated', 'updated ' + clock(lastOk));
  document.title = (s.status === 'alert' ? 'Alert · ' : '') + 'wstap status';
}

function connected(ok, why) {
  const c = $('conn');
  c.className = 'conn ' + (ok ? 'ok' : 'bad');
  setText(c, ok ? 'Live' : 'Disconnected');
  if (ok) { failedAt = null; $('offline').hidden = true; return; }
  failedAt = failedAt || new Date();
  setText('offline', 'Disconnected: cannot load /status (' + why + ') since ' + clock(failedAt) + '. ' +
    (lastOk ? 'The figures below are from ' + clock(lastOk) + '.' : 'No figures yet.') + ' Retrying every 2 s.');
  $('offline').hidden = false;
  document.title = 'Disconnected · wstap status';
}

async function poll() {
  const m = ticks++ % 5 === 0 ? loadMetrics() : null;
  let why = 'network error';
  try {
    const r = await fetch('./status', { cache: 'no-store', signal: AbortSignal.timeout(4000) });
    why = 'HTTP ' + r.status;
    if (!r.ok) throw new Error(why);
    why = 'not a wstap status document';
    const s = await r.json();
    await m;
    render(s);
    connected(true);
  } catch (e) {
    if (why === 'not a wstap status document') console.error(e);
    connected(false, e && e.name === 'TimeoutError' ? 'timed out' : why);
  } finally { setTimeout(poll, 2000); }
}
poll();
`;
