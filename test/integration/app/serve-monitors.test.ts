import { afterEach, describe, expect, it } from 'vitest';
import { App } from '../../../src/app.js';
import { silentLogger } from '../../../src/log.js';
import { echoBackend, testConfig, type Backend } from '../../helpers/proxy.js';

let app: App | undefined;
let backend: Backend | undefined;

afterEach(async () => {
  await app?.close();
  await backend?.close();
  app = backend = undefined;
});

describe('serve runs the config monitors', () => {
  it('reports their results in /status and on the monitor metrics', async () => {
    backend = await echoBackend();
    const config = testConfig({
      admin: { host: '127.0.0.1', port: 0 },
      backends: { main: { servers: [{ id: 'b1', url: backend.url }] } },
      routes: [{ name: 'all', match: { path: '/' }, backend: 'main' }],
      monitors: [
        {
          name: 'echo',
          url: backend.url,
          interval: 200,
          timeout: 150,
          steps: [
            { action: 'connect' },
            { action: 'send', message: 'hi' },
            { action: 'receive', timeout_ms: 100, assert_message_equals: 'hi' },
            { action: 'disconnect', expected_close_code: 1000 },
          ],
        },
      ],
    });
    app = await App.start(config, { logger: silentLogger() });
    const admin = app.addresses.admin!;
    type Doc = { monitors: { name: string; up: boolean; runs: number }[] };
    let doc: Doc | undefined;
    for (let i = 0; i < 100; i++) {
      doc = (await (await fetch(`http://127.0.0.1:${admin.port}/status`)).json()) as Doc;
      if ((doc.monitors[0]?.runs ?? 0) >= 2) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(doc!.monitors[0]).toMatchObject({ name: 'echo', up: true });
    expect(doc!.monitors[0]!.runs).toBeGreaterThanOrEqual(2);
    const metrics = await (await fetch(`http://127.0.0.1:${admin.port}/metrics`)).text();
    expect(metrics).toMatch(/wstap_monitor_up\{[^}]*wstap_monitor="echo"[^}]*\} 1/);
  });
});
