/**
 * TLS (SPEC §3 `listen.tls`, `backends.X.tls`; research §3.1, §3.5): wss on the listener with
 * the configured certificate, and wss to backends with certificate verification on by default
 * (`tls.ca` to trust a private CA, `tls.insecure` to skip it). The PKI is made at test time.
 */
import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { assertNoLeaks, closed, connect, nextMessage, refusedStatus, startProxy, testConfig, type RunningProxy } from '../../helpers/proxy.js';
import { crashGuard, trackedBackend, type TrackedBackend } from '../../helpers/backends.js';
import { makeTestPki, type TestPki } from '../../helpers/tls-certs.js';
import { tlsEchoBackend, type TlsEchoBackend } from '../../helpers/hardening.js';

crashGuard();

let pki: TestPki;
let p: RunningProxy | undefined;
let be: TrackedBackend | undefined;
let tbe: TlsEchoBackend | undefined;
const clients = new Set<WebSocket>();
const sockets = new Set<net.Socket>();

beforeAll(() => {
  pki = makeTestPki();
});

afterAll(() => pki?.remove());

afterEach(async () => {
  for (const ws of clients) ws.terminate();
  for (const s of sockets) s.destroy();
  clients.clear();
  sockets.clear();
  await p?.close();
  await be?.close();
  await tbe?.close();
  p = be = tbe = undefined;
});

async function echoAndClose(ws: WebSocket, text: string): Promise<void> {
  clients.add(ws);
  const m = nextMessage(ws);
  ws.send(text);
  expect((await m).data.toString()).toBe(text);
  const c = closed(ws);
  ws.close(1000);
  expect((await c).code).toBe(1000);
}

describe('listen.tls', () => {
  function tlsListenerConfig(backendUrl: string, extra: Record<string, unknown> = {}): ReturnType<typeof testConfig> {
    return testConfig({
      listen: { host: '127.0.0.1', port: 0, tls: { cert: pki.serverCertPath, key: pki.serverKeyPath } },
      backends: { main: { servers: [{ id: 'b1', url: backendUrl }] } },
      routes: [{ name: 'all', match: { path: '/' }, backend: 'main' }],
      ...extra,
    });
  }

  it('a wss:// client that trusts the CA upgrades and echoes; the backend is told X-Forwarded-Proto: https', async () => {
    be = await trackedBackend();
    p = await startProxy(tlsListenerConfig(be.url));
    const url = `wss://127.0.0.1:${p.port}/`;
    await echoAndClose(await connect(url, undefined, { ca: pki.ca }), 'over tls');
    await echoAndClose(await connect(`wss://localhost:${p.port}/`, undefined, { ca: pki.ca }), 'by name');
    expect(be.requests[0]!.headers['x-forwarded-proto']).toBe('https');
    await assertNoLeaks(p);
    await be.drained();
  });

  it('a client that does not trust the CA fails its TLS handshake; nothing reaches the backend', async () => {
    be = await trackedBackend();
    p = await startProxy(tlsListenerConfig(be.url));
    const ws = new WebSocket(`wss://127.0.0.1:${p.port}/`);
    clients.add(ws);
    const [err] = (await once(ws, 'error')) as [NodeJS.ErrnoException];
    expect(err.code).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY/);
    expect(be.accepted()).toBe(0);
    await assertNoLeaks(p);
  });

  it('the listener offers only http/1.1 over ALPN', async () => {
    be = await trackedBackend();
    p = await startProxy(tlsListenerConfig(be.url));
    const s = tls.connect({ host: '127.0.0.1', port: p.port, ca: pki.ca, ALPNProtocols: ['h2', 'http/1.1'] });
    sockets.add(s);
    await once(s, 'secureConnect');
    expect(s.alpnProtocol).toBe('http/1.1');
    s.destroy();
    await assertNoLeaks(p);
  });

  it('a TCP connection that never starts its TLS handshake is closed after timeouts.request_head', async () => {
    be = await trackedBackend();
    p = await startProxy(tlsListenerConfig(be.url, { timeouts: { request_head: '500ms' } }));
    const s = net.connect(p.port, '127.0.0.1');
    sockets.add(s);
    s.on('error', () => {});
    await once(s, 'connect');
    const t0 = Date.now();
    await once(s, 'close');
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(450);
    expect(took).toBeLessThan(5000);
    expect(be.accepted()).toBe(0);
    await assertNoLeaks(p);
  });

  it('plain HTTP sent to the TLS listener: the connection is closed at once, not held open', async () => {
    be = await trackedBackend();
    p = await startProxy(tlsListenerConfig(be.url));
    const s = net.connect(p.port, '127.0.0.1');
    sockets.add(s);
    s.on('error', () => {});
    await once(s, 'connect');
    const t0 = Date.now();
    s.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    await once(s, 'close');
    // Not the 10 s request_head, not a 5 s write guard: the TLS error ends it.
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(be.accepted()).toBe(0);
    await assertNoLeaks(p);
  });
});

describe('wss:// backends (backends.X.tls)', () => {
  function wssBackendConfig(tlsCfg: Record<string, unknown> | undefined): ReturnType<typeof testConfig> {
    return testConfig({
      backends: { secure: { servers: [{ id: 's1', url: tbe!.url }], ...(tlsCfg ? { tls: tlsCfg } : {}) } },
      routes: [{ name: 'all', match: { path: '/' }, backend: 'secure' }],
    });
  }

  it('with tls.ca set to the CA that signed the backend certificate: works', async () => {
    tbe = await tlsEchoBackend(pki.cert, pki.key);
    p = await startProxy(wssBackendConfig({ ca: pki.caCertPath }));
    await echoAndClose(await connect(p.url), 'to a wss backend');
    expect(tbe.sessions()).toBe(1);
    await assertNoLeaks(p);
    await tbe.drained();
  });

  it('without the CA (verification is on by default): 502, and no session on the backend', async () => {
    tbe = await tlsEchoBackend(pki.cert, pki.key);
    p = await startProxy(wssBackendConfig(undefined));
    const r = await refusedStatus(p.url);
    expect(r.status).toBe(502);
    expect(tbe.sessions()).toBe(0);
    expect(p.rec.upgrades.at(-1)).toMatchObject({ status: 502, backend: 's1' });
    await assertNoLeaks(p);
    await tbe.drained();
  });

  it('with tls.insecure: true (verification off): works', async () => {
    tbe = await tlsEchoBackend(pki.cert, pki.key);
    p = await startProxy(wssBackendConfig({ insecure: true }));
    await echoAndClose(await connect(p.url), 'unverified');
    expect(tbe.sessions()).toBe(1);
    await assertNoLeaks(p);
    await tbe.drained();
  });

  it('TLS on both sides: a wss client, wstap with listen.tls, a wss backend', async () => {
    tbe = await tlsEchoBackend(pki.cert, pki.key);
    p = await startProxy(
      testConfig({
        listen: { host: '127.0.0.1', port: 0, tls: { cert: pki.serverCertPath, key: pki.serverKeyPath } },
        backends: { secure: { servers: [{ id: 's1', url: tbe.url }], tls: { ca: pki.caCertPath } } },
        routes: [{ name: 'all', match: { path: '/' }, backend: 'secure' }],
      }),
    );
    await echoAndClose(await connect(`wss://127.0.0.1:${p.port}/`, undefined, { ca: pki.ca }), 'tls all the way');
    await assertNoLeaks(p);
    await tbe.drained();
  });
});
