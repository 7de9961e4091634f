/**
 * Reloading the hardening settings (SPEC §3: SIGHUP "reloads the config without dropping open
 * sessions"): new limits and head limits apply to what comes next, open sessions go on, and a
 * renewed listener certificate is served without a restart. (The CLI side — SIGHUP, watch,
 * invalid files — is in test/e2e/serve-reload.test.ts.)
 */
import { once } from 'node:events';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  assertNoLeaks,
  closed,
  connect,
  refusedStatus,
  simpleConfig,
  startProxy,
  testConfig,
  type RunningProxy,
} from '../../helpers/proxy.js';
import { crashGuard, trackedBackend, type TrackedBackend } from '../../helpers/backends.js';
import { echoes, end, useTracked } from '../../helpers/proxy-fixture.js';
import { RawClient, upgradeRequest } from '../../helpers/raw.js';
import { makeTestPki, type TestPki } from '../../helpers/tls-certs.js';

crashGuard();

let p: RunningProxy | undefined;
let be: TrackedBackend | undefined;
const { clients, raws, open } = useTracked(async () => {
  await p?.close();
  await be?.close();
  p = be = undefined;
});

async function headStatus(port: number, padding: number): Promise<number> {
  const c = await RawClient.connect(port);
  raws.add(c);
  c.write(upgradeRequest('/', { headers: [['X-Pad', 'p'.repeat(padding)]] }).text);
  const head = await c.head();
  c.socket.destroy();
  return head.status;
}

describe('reload: limits', () => {
  it('a lower max_connections applies to the next upgrade; the sessions already open go on', async () => {
    be = await trackedBackend();
    p = await startProxy(simpleConfig([be.url]));
    const a = await open(p.url);
    const b = await open(p.url);
    p.proxy.reload(simpleConfig([be.url], { limits: { max_connections: 2 } }));
    expect((await refusedStatus(p.url)).status).toBe(503);
    await echoes(a, 'a');
    await echoes(b, 'b');
    await Promise.all([end(a), end(b)]);
    await assertNoLeaks(p, []);
    await be.drained();
  });

  it('a new max_message_bytes applies to sessions opened after the reload', async () => {
    be = await trackedBackend();
    p = await startProxy(simpleConfig([be.url]));
    const before = await open(p.url);
    p.proxy.reload(simpleConfig([be.url], { limits: { max_message_bytes: 100 } }));
    const after = await open(p.url);
    // The session opened before keeps the limits it started with (none).
    await echoes(before, 'x'.repeat(500));
    const c = closed(after);
    after.send('y'.repeat(500));
    expect((await c).code).toBe(1009);
    await end(before);
    await assertNoLeaks(p);
    await be.drained();
  });

  it('a new limits.max_header_bytes applies to the next connections', async () => {
    be = await trackedBackend();
    p = await startProxy(simpleConfig([be.url], { limits: { max_header_bytes: 8192 } }));
    expect(await headStatus(p.port, 4000)).toBe(101);
    p.proxy.reload(simpleConfig([be.url], { limits: { max_header_bytes: 2048 } }));
    expect(await headStatus(p.port, 4000)).toBe(431);
    p.proxy.reload(simpleConfig([be.url], { limits: { max_header_bytes: 8192 } }));
    expect(await headStatus(p.port, 4000)).toBe(101);
    await assertNoLeaks(p);
    await be.drained();
  });

  it('a new timeouts.request_head applies to the next slow clients', async () => {
    be = await trackedBackend();
    p = await startProxy(simpleConfig([be.url], { timeouts: { request_head: '30s' } }));
    p.proxy.reload(simpleConfig([be.url], { timeouts: { request_head: '300ms' } }));
    const slow = await RawClient.connect(p.port);
    raws.add(slow);
    slow.write('GET / HTTP/1.1\r\n');
    const t0 = Date.now();
    await slow.closed;
    // The checking interval was set at start (min(1 s, request_head) then): ≤ ~1.3 s, not 30 s.
    expect(Date.now() - t0).toBeLessThan(5000);
    await assertNoLeaks(p);
  });
});

describe('reload: listen.tls', () => {
  let first: TestPki;
  let second: TestPki;
  let dir: string;

  beforeAll(() => {
    first = makeTestPki();
    second = makeTestPki();
    dir = mkdtempSync(join(tmpdir(), 'wstap-live-cert-'));
  });

  afterAll(() => {
    first?.remove();
    second?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function servedFingerprint(port: number): Promise<string> {
    const s = tls.connect({ host: '127.0.0.1', port, ca: [first.ca, second.ca] });
    s.on('error', () => {});
    await once(s, 'secureConnect');
    const fp = s.getPeerCertificate().fingerprint256;
    s.destroy();
    return fp;
  }

  it('a renewed certificate at the same paths is served to new connections after a reload; open sessions keep theirs', async () => {
    const cert = join(dir, 'live.pem');
    const key = join(dir, 'live-key.pem');
    copyFileSync(first.serverCertPath, cert);
    copyFileSync(first.serverKeyPath, key);
    const cfg = (): ReturnType<typeof testConfig> =>
      testConfig({
        listen: { host: '127.0.0.1', port: 0, tls: { cert, key } },
        backends: { main: { servers: [{ id: 'b1', url: be!.url }] } },
        routes: [{ name: 'all', match: { path: '/' }, backend: 'main' }],
      });
    be = await trackedBackend();
    p = await startProxy(cfg());
    const before = await servedFingerprint(p.port);
    const ws = await open(`wss://127.0.0.1:${p.port}/`, { ca: first.ca });

    // cert-manager, certbot…: new files at the same paths, then a reload.
    copyFileSync(second.serverCertPath, cert);
    copyFileSync(second.serverKeyPath, key);
    p.proxy.reload(cfg());
    const after = await servedFingerprint(p.port);
    expect(after).not.toBe(before);
    const fresh = await open(`wss://127.0.0.1:${p.port}/`, { ca: second.ca });
    await echoes(fresh, 'new cert');
    await echoes(ws, 'old cert, still open');
    await Promise.all([end(ws), end(fresh)]);
    await assertNoLeaks(p);
    await be.drained();
  });
});
