/**
 * Origin allow-list per route (SPEC §3 `routes[].origins`; RFC 6455 §10.2; research §3.3):
 * a listed origin upgrades, any other gets 403 before a backend is contacted, and a request
 * without Origin — a non-browser client — is allowed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { assertNoLeaks, closed, connect, nextMessage, refusedStatus, startProxy, testConfig, type RunningProxy } from '../../helpers/proxy.js';
import { crashGuard, trackedBackend, type TrackedBackend } from '../../helpers/backends.js';

crashGuard();

let p: RunningProxy | undefined;
let app: TrackedBackend | undefined;
let open: TrackedBackend | undefined;
const clients = new Set<WebSocket>();

afterEach(async () => {
  for (const ws of clients) ws.terminate();
  clients.clear();
  await p?.close();
  await app?.close();
  await open?.close();
  p = app = open = undefined;
});

const ALLOWED = 'https://app.example.com';

async function setup(): Promise<void> {
  app = await trackedBackend();
  open = await trackedBackend();
  p = await startProxy(
    testConfig({
      backends: {
        app: { servers: [{ id: 'app-1', url: app.url }] },
        open: { servers: [{ id: 'open-1', url: open.url }] },
      },
      routes: [
        { name: 'app', match: { path: '/app' }, backend: 'app', origins: [ALLOWED, 'http://localhost:3000'] },
        { name: 'open', match: { path: '/' }, backend: 'open' },
      ],
    }),
  );
}

async function roundTrip(url: string, origin?: string): Promise<void> {
  const ws = await connect(url, undefined, origin === undefined ? {} : { origin });
  clients.add(ws);
  const m = nextMessage(ws);
  ws.send('hi');
  expect((await m).data.toString()).toBe('hi');
  const c = closed(ws);
  ws.close(1000);
  await c;
}

async function noLeaks(): Promise<void> {
  await assertNoLeaks(p!);
  await app!.drained();
  await open!.drained();
}

describe('routes[].origins', () => {
  it('an allowed Origin upgrades (101) and reaches the backend with its Origin header', async () => {
    await setup();
    await roundTrip(`${p!.url}/app`, ALLOWED);
    await roundTrip(`${p!.url}/app`, 'http://localhost:3000');
    expect(app!.requests.map((r) => r.headers.origin)).toEqual([ALLOWED, 'http://localhost:3000']);
    await noLeaks();
  });

  it.each([
    ['another site', 'https://evil.example.com'],
    ['a suffix of the allowed host', 'https://app.example.com.evil.com'],
    ['the allowed host with another scheme', 'http://app.example.com'],
    ['the allowed host with another port', 'https://app.example.com:8443'],
    ['the "null" origin of sandboxed documents', 'null'],
  ])('%s (%s) gets 403 before any backend connection', async (_what, origin) => {
    await setup();
    const r = await refusedStatus(`${p!.url}/app`, { origin });
    expect(r.status).toBe(403);
    expect(r.headers.connection).toBe('close');
    expect(app!.accepted()).toBe(0);
    expect(open!.accepted()).toBe(0);
    expect(p!.rec.upgrades.at(-1)).toMatchObject({ route: 'app', status: 403, errorType: 'origin_denied' });
    expect(p!.rec.upgrades.at(-1)!.backend).toBeUndefined();
    await noLeaks();
  });

  it('no Origin header is allowed: a non-browser client (curl, a service) sends none, and could forge any', async () => {
    await setup();
    await roundTrip(`${p!.url}/app`);
    expect(app!.requests[0]!.headers.origin).toBeUndefined();
    await noLeaks();
  });

  it('the allow-list is per route: a route without origins accepts any Origin', async () => {
    await setup();
    await roundTrip(`${p!.url}/other`, 'https://evil.example.com');
    expect(open!.accepted()).toBe(1);
    expect(app!.accepted()).toBe(0);
    await noLeaks();
  });
});
