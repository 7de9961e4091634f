/**
 * Runs the status page's inline script against a minimal DOM (no browser in CI), fed with a real
 * /status document, so a runtime error in the page cannot go unnoticed.
 */
import { describe, expect, it } from 'vitest';
import vm from 'node:vm';
import { statusPageHtml } from '../../../src/admin/status-page.js';
import { buildStatusDocument, type StatusDocument } from '../../../src/admin/status.js';
import { StatusWindow } from '../../../src/telemetry/status-window.js';

class El {
  textContent = '';
  className = '';
  hidden = false;
  colSpan = 1;
  children: El[] = [];
  replaceChildren(): void {
    this.children = [];
  }
  append(c: El): void {
    this.children.push(c);
  }
  insertRow(): El {
    const r = new El();
    this.children.push(r);
    return r;
  }
  insertCell(): El {
    return this.insertRow();
  }
  text(): string {
    return [this.textContent, ...this.children.map((c) => c.text())].filter(Boolean).join(' | ');
  }
}

async function runPage(answer: () => Promise<{ ok: boolean; status: number; json(): Promise<unknown> }>) {
  const html = statusPageHtml();
  const script = /<script>([\s\S]*)<\/script>/.exec(html)![1]!;
  const ids = [...html.matchAll(/id="([^"]+)"/g)].map((m) => m[1]!);
  const elements = new Map(ids.map((id) => [id, new El()]));
  const timers: number[] = [];
  const context = vm.createContext({
    document: {
      getElementById: (id: string) => elements.get(id) ?? null,
      createElement: () => new El(),
    },
    fetch: (url: string) => {
      expect(url).toBe('./status');
      return answer();
    },
    setTimeout: (_fn: () => void, ms: number) => void timers.push(ms),
    Date,
    Math,
    Number,
    String,
    Object,
  });
  vm.runInContext(script, context);
  await new Promise((r) => setTimeout(r, 10));
  return { el: (id: string) => elements.get(id)!, timers };
}

function document(withTraffic: boolean): StatusDocument {
  const window = new StatusWindow({ windowMs: 900_000, abnormalCloseRatio: 0.05, abnormalDisconnectRatio: 0.02 });
  const s = { id: 1, route: 'chat', backend: 'chat-1', pool: 'chat', openedAt: 0, clientIp: '::1' };
  if (withTraffic) {
    window.sessionClose(s, { code: 1000, initiator: 'client', durationS: 1, messagesC2B: 0, messagesB2C: 0 });
    window.sessionClose(s, { code: 1006, initiator: 'backend', durationS: 1, messagesC2B: 0, messagesB2C: 0 });
    window.sessionClose(s, { code: 4321, initiator: 'backend', durationS: 1, messagesC2B: 0, messagesB2C: 0 });
    window.ping(s, 'client', 0.0004);
    window.message(s, 'client_to_backend', 'text', 12);
  }
  return buildStatusDocument({
    snapshot: {
      uptimeS: 3725,
      listening: true,
      draining: false,
      activeSessions: 1,
      pendingHandshakes: 0,
      backends: [{ pool: 'chat', id: 'chat-1', url: 'ws://x', up: true, active: 1 }],
      routes: [{ name: 'chat', pool: 'chat', healthy: true }],
    },
    report: window.report(),
    monitors: withTraffic ? [{ name: 'chat-health', healthy: false, error: 'expected close 1000, got 1011' }, 'odd'] : [],
    service: 'wstap',
    version: '1.0.0',
  });
}

describe('status page script', () => {
  it('renders an alerting document into the tables and polls again in 2 s', async () => {
    const doc = document(true);
    const { el, timers } = await runPage(async () => ({ ok: true, status: 200, json: async () => doc }));
    expect(el('verdict').textContent).toBe('Alert');
    expect(el('verdict').className).toBe('verdict alert');
    expect(el('uptime').textContent).toBe('1h 2m 5s');
    expect(el('alerts').children).toHaveLength(2);
    expect(el('no-alerts').hidden).toBe(true);
    expect(el('codes').children).toHaveLength(3);
    expect(el('codes').text()).toContain('abnormal closure (no close frame)');
    expect(el('codes').text()).toContain('application-defined');
    expect(el('backends').text()).toContain('chat-1 | up');
    expect(el('ping').text()).toContain('0.4');
    expect(el('monitors').text()).toContain('failing');
    expect(el('version').textContent).toBe('wstap 1.0.0');
    expect(timers).toEqual([2000]);
  });

  it('renders an idle document with empty-table notes', async () => {
    const doc = document(false);
    const { el } = await runPage(async () => ({ ok: true, status: 200, json: async () => doc }));
    expect(el('verdict').textContent).toBe('No data');
    expect(el('no-alerts').hidden).toBe(false);
    expect(el('codes').text()).toBe('No session closed in the window.');
    expect(el('monitors').text()).toBe('No synthetic monitor configured.');
  });

  it('says so when /status cannot be loaded, and keeps polling', async () => {
    const { el, timers } = await runPage(async () => ({ ok: false, status: 503, json: async () => ({}) }));
    expect(el('verdict').textContent).toBe('Unreachable');
    expect(el('updated').textContent).toBe('Cannot load /status: HTTP 503');
    expect(timers).toEqual([2000]);
  });
});
