/**
 * The status page in real headless Chromium: after known traffic through a running App the page
 * shows what /status says, keeps up as traffic continues, fits a phone, passes basic
 * accessibility and contrast checks in both colour schemes, runs under its strict CSP without a
 * single console error, renders monitor results as text, and says so when /status goes away.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { WebSocket } from 'ws';
import { App } from '../../src/app.js';
import { EventHub } from '../../src/events.js';
import { silentLogger } from '../../src/log.js';
import { createAdminServer } from '../../src/admin/server.js';
import type { StatusDocument } from '../../src/admin/status.js';
import { StatusWindow } from '../../src/telemetry/status-window.js';
import { closed, connect, echoBackend, Recorder, testConfig, type Backend } from '../helpers/proxy.js';
import { launchBrowser, PHONE, screenshot, watchPage } from '../helpers/browser.js';

// Callbacks of page.evaluate / waitForFunction run in Chromium; the project compiles without the
// DOM lib, so the few browser globals they use are declared here, for this module only.
declare const document: any, getComputedStyle: any, NodeFilter: any;
type Element = any;

let launched: Promise<Browser> | undefined;
/** One Chromium for the file, launched by the first test that needs it (each test fails on its own if it cannot). */
const browser = () => (launched ??= launchBrowser());

const cleanups: (() => Promise<unknown>)[] = [];
const clients: WebSocket[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});
afterAll(async () => {
  await (await launched?.catch(() => undefined))?.close();
});

async function newPage(opts: Parameters<Browser['newContext']>[0] = {}): Promise<{ context: BrowserContext; page: Page; problems: string[] }> {
  const context = await (await browser()).newContext({ viewport: { width: 1280, height: 900 }, ...opts });
  cleanups.push(() => context.close());
  const page = await context.newPage();
  return { context, page, problems: watchPage(page).problems };
}

/** A backend that echoes, and closes with 1011 when told `fail`. */
function backend(): Promise<Backend> {
  return echoBackend({}, (ws) => {
    ws.on('message', (data, isBinary) => {
      if (data.toString() === 'fail') ws.close(1011, 'backend failure');
      else ws.send(data, { binary: isBinary });
    });
  });
}

async function startApp() {
  const backends = [await backend(), await backend()];
  cleanups.push(() => Promise.all(backends.map((b) => b.close())));
  const hub = new EventHub();
  const rec = new Recorder();
  hub.subscribe(rec);
  const app = await App.start(
    testConfig({
      admin: { host: '127.0.0.1', port: 0 },
      backends: { main: { servers: backends.map((b, i) => ({ id: `b${i + 1}`, url: b.url })) } },
      routes: [{ name: 'all', match: { path: '/' }, backend: 'main' }],
    }),
    { logger: silentLogger(), hub },
  );
  cleanups.push(() => app.close());
  const admin = `http://127.0.0.1:${app.addresses.admin!.port}`;
  const proxy = `ws://127.0.0.1:${app.addresses.proxy.port}/`;
  return { app, rec, admin, proxy, backends };
}

/** Open a session, exchange one echo, and (with a code) close it from the client. */
async function session(url: string, closeWith?: number): Promise<WebSocket> {
  const ws = await connect(url);
  clients.push(ws);
  const echoed = new Promise((r) => ws.once('message', r));
  ws.send('hello');
  await echoed;
  if (closeWith !== undefined) {
    const done = closed(ws);
    ws.close(closeWith, 'done');
    await done;
  }
  return ws;
}

/** A session the backend ends with 1011. */
async function backendFailure(url: string): Promise<void> {
  const ws = await connect(url);
  clients.push(ws);
  const done = closed(ws);
  ws.send('fail');
  expect((await done).code).toBe(1011);
}

async function status(admin: string): Promise<StatusDocument> {
  return (await (await fetch(`${admin}/status`)).json()) as StatusDocument;
}

const text = async (page: Page, testid: string) => ((await page.getByTestId(testid).textContent()) ?? '').trim();
const number = async (page: Page, testid: string) => Number((await text(page, testid)).replace(/[^\d.-]/g, ''));
const VERDICT = { healthy: 'Healthy', alert: 'Alert', no_data: 'No data' } as const;
/** Runs in the page: the tables wider than their box (each scrolls sideways inside it). */
const overflowingTables = () =>
  [...document.querySelectorAll('.scroll')].filter((e) => e.scrollWidth > e.clientWidth).map((e) => e.querySelector('tbody')!.id);

/** Text/background pairs under WCAG AA (4.5:1), computed from the rendered colours. */
function lowContrast(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const rgba = (c: string) => {
      const m = (c.match(/[\d.]+/g) ?? []).map(Number);
      return { r: m[0] ?? 0, g: m[1] ?? 0, b: m[2] ?? 0, a: m[3] ?? 1 };
    };
    const lum = (c: { r: number; g: number; b: number }) => {
      const f = (v: number) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
      return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
    };
    const background = (el: Element | null) => {
      for (let e = el; e; e = e.parentElement) {
        const c = rgba(getComputedStyle(e).backgroundColor);
        if (c.a > 0) return c;
      }
      return { r: 255, g: 255, b: 255, a: 1 };
    };
    const bad: string[] = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement;
      if (!el || !n.textContent?.trim() || el.closest('svg') || !el.checkVisibility()) continue;
      const a = lum(rgba(getComputedStyle(el).color));
      const b = lum(background(el));
      const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
      if (ratio < 4.5) bad.push(`${el.tagName} "${n.textContent.trim().slice(0, 40)}" ${ratio.toFixed(2)}:1`);
    }
    return bad;
  });
}

describe('status page in Chromium', () => {
  it('shows the numbers of /status after known traffic, keeps updating, and fits a phone', async () => {
    const { rec, admin, proxy } = await startApp();
    // Known traffic: 3 × 1000 and 2 × 4001 closed by the client, 1 × 1011 by a backend, 2 left open.
    for (let i = 0; i < 3; i++) await session(proxy, 1000);
    for (let i = 0; i < 2; i++) await session(proxy, 4001);
    await backendFailure(proxy);
    await session(proxy);
    await session(proxy);
    await rec.closes(6);

    const { page, problems } = await newPage();
    const res = await page.goto(`${admin}/`);
    const csp = res!.headers()['content-security-policy']!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/]+={0,2}'/);
    await page.waitForFunction(() => document.querySelector('[data-testid="total-closes"]')?.textContent === '6', null, { timeout: 5000 });

    const s = await status(admin);
    expect(s.total_closes).toBe(6);
    expect(s.active_sessions).toBe(2);
    expect(await number(page, 'active-sessions')).toBe(s.active_sessions);
    expect(await number(page, 'total-closes')).toBe(s.total_closes);
    expect(await text(page, 'abnormal-rate')).toBe(`${(s.abnormal_rate * 100).toFixed(0)}%`); // 1/6 → 17%
    expect(Object.keys(s.codes).sort()).toEqual(['1000', '1011', '4001']);
    for (const code of Object.keys(s.codes)) {
      expect(await number(page, `code-total-${code}`)).toBe(s.codes[code]);
      for (const who of ['client', 'backend', 'proxy'] as const) {
        expect(await number(page, `code-${who}-${code}`)).toBe(s.by_initiator[who][code] ?? 0);
      }
    }
    expect(s.codes).toEqual({ 1000: 3, 4001: 2, 1011: 1 });
    expect(s.by_initiator.backend).toEqual({ 1011: 1 });
    for (const b of s.backends) {
      expect(await text(page, `backend-state-${b.pool}/${b.id}`)).toBe(b.up ? 'up' : 'down');
      expect(await number(page, `backend-active-${b.pool}/${b.id}`)).toBe(b.active_sessions);
    }
    expect(s.backends.reduce((n, b) => n + b.active_sessions, 0)).toBe(2);
    // One process, no workers: the cluster's table stays out of the way.
    expect(s.workers).toBeUndefined();
    expect(await page.getByRole('heading', { name: 'Workers' }).isVisible()).toBe(false);
    expect(await number(page, 'msgs-c2b')).toBe(s.messages.client_to_backend.messages);
    expect(await number(page, 'msgs-b2c')).toBe(s.messages.backend_to_client.messages);
    // One abnormal close in six is over the 5% threshold: the alert and its reason are shown.
    expect(s.status).toBe('alert');
    expect(await text(page, 'alert-status')).toBe(VERDICT[s.status]);
    expect(await text(page, 'alert-reason')).toContain('abnormal closes');
    expect(await page.getByTestId('alert-messages').locator('li').allTextContents()).toEqual(s.alerts.map((a) => a.message));
    expect(await page.locator('#health-live').getAttribute('aria-live')).toBe('polite');
    expect(await text(page, 'ping-client-count')).toBe(String(s.ping.client.count));
    // Session lengths come from /metrics: one per closed session.
    await page.waitForFunction(() => document.querySelector('[data-testid="session-count"]')?.textContent === '6', null, { timeout: 5000 });
    expect(await text(page, 'session-p50')).toMatch(/ms$/);
    expect(await text(page, 'connection')).toBe('Live');
    expect(await text(page, 'last-updated')).toMatch(/^updated \d/);
    expect(await page.getByTestId('disconnected').isVisible()).toBe(false);

    // The chart: one bar per code, sized by count, with a text alternative naming every code.
    const chart = page.getByRole('img', { name: /Bar chart of closes/ });
    expect(await chart.getAttribute('aria-label')).toContain('4001 application-defined: 2 (client 2, backend 0, proxy 0)');
    expect(await page.locator('#chart .bar').count()).toBe(3);
    const widths = await page.locator('#chart .bar rect.c').evaluateAll((rs) => rs.map((r) => r.getAttribute('width')));
    expect(widths).toEqual(['100%', '0%', `${(2 / 3) * 100}%`]); // 1000 (max, 3), 1011 (backend), 4001 (2 of 3)

    // Structure a screen reader relies on: landmarks, headings, named tables and regions.
    expect(await page.getByRole('banner').count()).toBe(1);
    expect(await page.getByRole('main').count()).toBe(1);
    expect(await page.getByRole('contentinfo').count()).toBe(1);
    expect(await page.getByRole('heading', { level: 1 }).allTextContents()).toEqual(['wstap status']);
    for (const name of ['Overview', 'Close-code alert', 'Close codes', 'Latency and session length', 'Backends', 'Synthetic monitors']) {
      expect(await page.getByRole('region', { name }).count(), name).toBe(1);
    }
    expect(await page.getByRole('table', { name: /Closes by code and initiator/ }).count()).toBe(1);
    expect(await page.getByRole('rowheader', { name: /^4001/ }).count()).toBe(1);
    expect(await page.locator('table:not(:has(caption))').count()).toBe(0);
    expect(await page.locator('thead th:not([scope="col"]), tbody th:not([scope="row"])').count()).toBe(0);
    expect(await page.locator('[style]').count()).toBe(0); // the CSP forbids inline style attributes
    expect(await lowContrast(page)).toEqual([]);

    const desktop = await screenshot(page, 'status-desktop');
    expect(desktop.width).toBe(1280);
    await page.emulateMedia({ colorScheme: 'dark' });
    expect(await lowContrast(page)).toEqual([]);
    await screenshot(page, 'status-desktop-dark');

    // Phone: no horizontal scrolling of the page, every figure still there.
    const phone = await newPage({ viewport: PHONE, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    await phone.page.goto(`${admin}/`);
    await phone.page.waitForFunction(() => document.querySelector('[data-testid="total-closes"]')?.textContent === '6', null, { timeout: 5000 });
    const shot = await screenshot(phone.page, 'status-phone');
    expect(shot.width).toBe(PHONE.width * 2);
    expect(await phone.page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
    expect(await phone.page.evaluate(overflowingTables)).toEqual([]);
    expect(await lowContrast(phone.page)).toEqual([]);

    // Traffic continues: two more sessions open, one more 4001; the page catches up on its own.
    await session(proxy);
    await session(proxy);
    await session(proxy, 4001);
    await rec.closes(7);
    await page.waitForFunction(
      () => {
        const t = (id: string) => document.querySelector(`[data-testid="${id}"]`)?.textContent;
        return t('active-sessions') === '4' && t('total-closes') === '7' && t('code-total-4001') === '3';
      },
      null,
      { timeout: 6000, polling: 100 },
    );
    const after = await status(admin);
    expect(after.active_sessions).toBe(4);
    expect(await number(page, 'code-client-4001')).toBe(after.by_initiator.client['4001']);
    expect(await page.locator('#chart .bar').count()).toBe(3);

    expect(problems).toEqual([]);
    expect(phone.problems).toEqual([]);
  });

  it('renders monitor results as text, and shows a visible disconnected state when /status fails', async () => {
    const window = new StatusWindow({ windowMs: 900_000, abnormalCloseRatio: 0.05, abnormalDisconnectRatio: 0.02 });
    const info = { id: 1, route: 'all', backend: 'b1', pool: 'main', openedAt: 0, clientIp: '127.0.0.1' };
    for (let i = 0; i < 9; i++) window.sessionClose(info, { code: 1000, initiator: 'client', durationS: 1, messagesC2B: 1, messagesB2C: 1 });
    window.ping(info, 'client', 0.0008);
    window.ping(info, 'backend', 0.0021);
    const last = (passed: boolean, error?: string) => ({
      monitor: 'x', url: 'ws://x', passed, startedAt: new Date().toISOString(), durationMs: 41, steps: [],
      connectionLatencyMs: 3.2, messageLatencyMs: passed ? 1.7 : null, pingLatencyMs: null, closeCode: 1000, ...(error ? { error } : {}),
    });
    const monitors = [
      { name: 'chat-echo', url: 'ws://chat', interval_s: 30, up: true, runs: 4, failures: 0, consecutive_failures: 0, last_result: last(true) },
      { name: '<img src=x onerror=alert(1)>', url: 'ws://evil', interval_s: 30, up: false, runs: 4, failures: 3, consecutive_failures: 3,
        last_result: last(false, 'steps[2] (receive): expected close 1000, got 1011') },
      { name: 'fresh', url: 'ws://fresh', interval_s: 30, up: null, runs: 0, failures: 0, consecutive_failures: 0, last_result: null },
    ];
    const server = createAdminServer({
      host: '127.0.0.1',
      port: 0,
      snapshot: () => ({
        uptimeS: 90_061,
        listening: true,
        draining: false,
        activeSessions: 0,
        pendingHandshakes: 0,
        backends: [{ pool: 'main', id: 'b1', url: 'ws://x', up: false, active: 0 }],
        routes: [{ name: 'all', pool: 'main', healthy: false }],
      }),
      statusReport: () => window.report(),
      monitors: () => monitors,
      // As a cluster primary reports them (workers: 2), one of them just restarted.
      workers: () => [
        { index: 0, pid: 4242, responding: true, active_sessions: 3, restarts: 0 },
        { index: 1, pid: 4250, responding: false, active_sessions: 0, restarts: 2 },
      ],
      logger: silentLogger(),
    });
    cleanups.push(() => server.close());
    const { port } = await server.listen();

    const { page, problems } = await newPage();
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForFunction(() => document.querySelector('[data-testid="alert-status"]')?.textContent === 'Healthy', null, { timeout: 5000 });
    expect(await text(page, 'alert-reason')).toBe('Abnormal closes and disconnects are within their thresholds.');
    expect(await text(page, 'uptime')).toBe('1d 1h 1m 1s');
    expect(await text(page, 'readiness')).toMatch(/^Not ready: route "all"/);
    expect(await text(page, 'backend-state-main/b1')).toBe('down');
    expect(await text(page, 'ping-client-p50')).toMatch(/ ms$/);
    expect(await text(page, 'session-count')).toBe('—'); // no /metrics handler on this server

    expect(await text(page, 'monitor-result-chat-echo')).toBe('passed');
    expect(await text(page, 'monitor-latency-chat-echo')).toBe('1.7 ms');
    expect(await text(page, 'monitor-error-chat-echo')).toBe('—');
    const evil = '<img src=x onerror=alert(1)>';
    expect(await text(page, `monitor-result-${evil}`)).toBe('failed3 failures in a row');
    expect(await text(page, `monitor-latency-${evil}`)).toBe('3.2 ms');
    expect(await text(page, `monitor-error-${evil}`)).toBe('steps[2] (receive): expected close 1000, got 1011');
    expect(await page.locator('img').count()).toBe(0); // a name is text, never markup
    expect(await text(page, 'monitor-result-fresh')).toBe('pending');
    expect(await page.getByRole('rowheader', { name: /^chat-echo/ }).count()).toBe(1);
    expect(await page.getByRole('heading', { name: 'Workers' }).isVisible()).toBe(true);
    expect(await text(page, 'worker-0')).toBe('worker 0pid 4242');
    expect(await text(page, 'worker-state-0')).toBe('answering');
    expect(await text(page, 'worker-active-0')).toBe('3');
    expect(await text(page, 'worker-state-1')).toBe('not answering');
    expect(await text(page, 'worker-restarts-1')).toBe('2');
    await screenshot(page, 'status-monitors');

    // The admin server goes away: the page says so, visibly and to assistive technology.
    await server.close();
    await page.waitForFunction(() => document.querySelector('[data-testid="connection"]')?.textContent === 'Disconnected', null, { timeout: 6000 });
    const banner = page.getByRole('alert');
    expect(await banner.isVisible()).toBe(true);
    expect(await banner.textContent()).toMatch(/^Disconnected: cannot load \/status \(network error\) since .+ The figures below are from /);
    expect(await page.title()).toBe('Disconnected · wstap status');
    expect(await text(page, 'monitor-result-chat-echo')).toBe('passed'); // the last figures stay
    await screenshot(page, 'status-disconnected');
    // Failed fetches are the network's doing, not the page's: nothing else went wrong.
    expect(problems.filter((p) => !/Failed to load resource|ERR_CONNECTION_REFUSED/.test(p))).toEqual([]);
  });

  it('fits a phone with the figures of a busy, long-running proxy: hour-long sessions, slow pings, counts in the millions', async () => {
    const window = new StatusWindow({ windowMs: 900_000, abnormalCloseRatio: 0.05, abnormalDisconnectRatio: 0.02 });
    const info = { id: 1, route: 'all', backend: 'b1', pool: 'main', openedAt: 0, clientIp: '127.0.0.1' };
    for (let i = 0; i < 12_345; i++) {
      window.sessionClose(info, { code: i % 4 === 0 ? 1001 : 1000, initiator: i % 3 === 0 ? 'backend' : 'client', durationS: 3600, messagesC2B: 1, messagesB2C: 1 });
      window.ping(info, 'client', 0.0999);
      window.ping(info, 'backend', 9.99);
    }
    // Session lengths since start, as /metrics has them: 123,456,789 sessions, most of them minutes to hours long.
    const total = 123_456_789;
    const buckets: [string, number][] = [['60', 10_000_000], ['600', 40_000_000], ['3600', 90_000_000], ['86400', total], ['+Inf', total]];
    const metrics = buckets.map(([le, n]) => `wstap_session_duration_bucket{le="${le}"} ${n}`).join('\n') + '\n';
    const server = createAdminServer({
      host: '127.0.0.1',
      port: 0,
      snapshot: () => ({
        uptimeS: 3_000_000,
        listening: true,
        draining: false,
        activeSessions: 123_456,
        pendingHandshakes: 12,
        backends: [{ pool: 'main', id: 'b1', url: 'ws://x', up: true, active: 123_456 }],
        routes: [{ name: 'all', pool: 'main', healthy: true }],
      }),
      statusReport: () => window.report(),
      metrics: (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
        res.end(metrics);
      },
      logger: silentLogger(),
    });
    cleanups.push(() => server.close());
    const { port } = await server.listen();

    // en-US: the counts awaited below are written with its separators, whatever the machine's locale.
    const phone = await newPage({ viewport: PHONE, deviceScaleFactor: 2, isMobile: true, hasTouch: true, locale: 'en-US' });
    await phone.page.goto(`http://127.0.0.1:${port}/`);
    await phone.page.waitForFunction(() => document.querySelector('[data-testid="session-count"]')?.textContent === '123M', null, { timeout: 5000 });
    await phone.page.waitForFunction(() => document.querySelector('[data-testid="ping-backend-count"]')?.textContent === '12,345', null, { timeout: 5000 });
    expect(await text(phone.page, 'session-p50')).toMatch(/^\d+\.\d min$/);
    expect(await text(phone.page, 'session-p99')).toMatch(/^\d+\.\d h$/);
    expect(await text(phone.page, 'ping-client-p50')).toMatch(/^\d+(\.\d)? ms$/); // the window's estimate of 99.9 ms
    expect(await text(phone.page, 'ping-backend-p50')).toMatch(/^\d+\.\d\d s$/);
    await screenshot(phone.page, 'status-phone-busy');
    expect(await phone.page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
    expect(await phone.page.evaluate(overflowingTables)).toEqual([]);
  });

  it('fails with the install command when Chromium is missing', async () => {
    await expect(launchBrowser('/nonexistent/chromium')).rejects.toThrow(/apt-get install chromium/);
  });
});
