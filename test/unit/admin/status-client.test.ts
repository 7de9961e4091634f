import { afterEach, describe, expect, it } from 'vitest';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { silentLogger } from '../../../src/log.js';
import type { Initiator } from '../../../src/events.js';
import { createAdminServer, type AdminServer } from '../../../src/admin/server.js';
import { buildStatusDocument, type StatusDocument } from '../../../src/admin/status.js';
import { formatStatusReport, runStatusCommand, statusUrl } from '../../../src/admin/status-client.js';
import { StatusWindow } from '../../../src/telemetry/status-window.js';

const SNAPSHOT = {
  uptimeS: 7300,
  listening: true,
  draining: false,
  activeSessions: 4,
  pendingHandshakes: 0,
  backends: [
    { pool: 'chat', id: 'chat-1', url: 'ws://a', up: true, active: 4 },
    { pool: 'chat', id: 'chat-2', url: 'ws://b', up: false, active: 0 },
  ],
  routes: [{ name: 'chat', pool: 'chat', healthy: true }],
};

function windowWith(codes: Array<[number, Initiator]>): StatusWindow {
  const w = new StatusWindow({ windowMs: 900_000, abnormalCloseRatio: 0.05, abnormalDisconnectRatio: 0.02 });
  const s = { id: 1, route: 'chat', backend: 'chat-1', pool: 'chat', openedAt: 0, clientIp: '::1' };
  for (const [code, initiator] of codes) w.sessionClose(s, { code, initiator, durationS: 1, messagesC2B: 0, messagesB2C: 0 });
  return w;
}

function doc(codes: Array<[number, Initiator]>): StatusDocument {
  return buildStatusDocument({ snapshot: SNAPSHOT, report: windowWith(codes).report() });
}

describe('formatStatusReport', () => {
  it('prints an alert with its rules, codes and initiators', () => {
    const text = formatStatusReport(doc([[1000, 'client'], [1000, 'backend'], [1006, 'backend']]));
    expect(text).toContain('wstap status: ALERT (last 15m: 3 closes)');
    expect(text).toContain('abnormal closes      33%  1 of 3, threshold 5% (1006/1011/1012/1013)');
    expect(text).toContain('1006 disconnects     33%  1 of 3, threshold 2%');
    expect(text).toContain('  - abnormal_close_ratio: 33% of 3 closes in the last 15m were abnormal');
    expect(text).toContain('  - abnormal_disconnect_ratio: ');
    expect(text).toMatch(/1000 normal closure\s+2 {2}\(client 1, backend 1\)/);
    expect(text).toMatch(/1006 abnormal closure \(no close frame\)\s+1 {2}\(backend 1\)/);
    expect(text).toContain('sessions: 4 active · uptime 2h 1m · ready');
    expect(text).toContain('chat/chat-2  DOWN  0 active');
    expect(text).toContain('ping p50/p95/p99: client no samples · backend no samples');
    expect(text.endsWith('\n')).toBe(true);
  });

  it('prints healthy and no-data reports', () => {
    expect(formatStatusReport(doc([[1000, 'client']]))).toMatch(/^wstap status: HEALTHY \(last 15m: 1 close\)\n/);
    const idle = formatStatusReport(doc([]));
    expect(idle).toMatch(/^wstap status: NO DATA/);
    expect(idle).toContain('no session closed in the window');
    expect(idle).not.toContain('alerts:');
  });
});

describe('statusUrl', () => {
  it.each([
    ['http://127.0.0.1:9090', 'http://127.0.0.1:9090/status'],
    ['http://127.0.0.1:9090/', 'http://127.0.0.1:9090/status'],
    ['http://host:9090/admin', 'http://host:9090/admin/status'],
    ['https://host/admin/status', 'https://host/admin/status'],
  ])('%s → %s', (input, expected) => {
    expect(statusUrl(input).href).toBe(expected);
  });

  it('refuses non-http URLs', () => {
    expect(() => statusUrl('ws://x:1')).toThrow(/only http/);
    expect(() => statusUrl('not a url')).toThrow(/invalid admin URL/);
  });
});

describe('runStatusCommand', () => {
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    await Promise.all(closers.splice(0).map((c) => c()));
  });

  async function admin(window: StatusWindow): Promise<string> {
    const server: AdminServer = createAdminServer({
      host: '127.0.0.1',
      port: 0,
      snapshot: () => SNAPSHOT,
      statusReport: () => window.report(),
      logger: silentLogger(),
    });
    closers.push(() => server.close());
    const { port } = await server.listen();
    return `http://127.0.0.1:${port}`;
  }

  async function plain(handler: http.RequestListener): Promise<string> {
    const server = http.createServer(handler);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    closers.push(
      () =>
        new Promise((r) => {
          server.close(() => r());
          server.closeAllConnections();
        }),
    );
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  it('exits 0 when healthy or without data, 1 on alert', async () => {
    expect((await runStatusCommand(await admin(windowWith([[1000, 'client']]))))).toMatchObject({ exitCode: 0 });
    expect((await runStatusCommand(await admin(windowWith([]))))).toMatchObject({ exitCode: 0 });
    const alert = await runStatusCommand(await admin(windowWith([[1011, 'backend']])));
    expect(alert.exitCode).toBe(1);
    expect(alert.text).toMatch(/^wstap status: ALERT/);
  });

  it('exits 2 when nothing listens', async () => {
    const url = await plain(() => {});
    await closers.pop()!();
    const r = await runStatusCommand(url, 1000);
    expect(r.exitCode).toBe(2);
    expect(r.text).toContain('UNREACHABLE');
    expect(r.text).toContain('ECONNREFUSED');
  });

  it('exits 2 on a non-wstap answer, an HTTP error or no answer in time', async () => {
    const notWstap = await plain((_req, res) => res.end('{"hello":"world"}'));
    expect(await runStatusCommand(notWstap)).toMatchObject({ exitCode: 2 });
    const failing = await plain((_req, res) => {
      res.statusCode = 500;
      res.end('x');
    });
    expect((await runStatusCommand(failing)).text).toContain('answered HTTP 500');
    const silent = await plain(() => {});
    const started = Date.now();
    const r = await runStatusCommand(silent, 200);
    expect(r.exitCode).toBe(2);
    expect(r.text).toContain('no answer within 200 ms');
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
