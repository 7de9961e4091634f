/**
 * `wstap serve` start errors (SPEC §2: "1 on a start error (port in use, bad config) with a
 * one-line cause"): the real process exits 1 and says why, naming the address or the problems.
 */
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildOnce, freePort, killChildren, runCli, tempDir } from '../helpers/cli.js';

let tmp: ReturnType<typeof tempDir>;
const servers = new Set<net.Server>();

beforeAll(async () => {
  await buildOnce();
  tmp = tempDir();
}, 120_000);

afterAll(() => tmp?.remove());

afterEach(async () => {
  await killChildren();
  for (const s of servers) await new Promise<void>((r) => s.close(() => r()));
  servers.clear();
});

/** A port held by a listener of ours for the duration of the test. */
async function busyPort(): Promise<number> {
  const s = net.createServer();
  servers.add(s);
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  return (s.address() as AddressInfo).port;
}

function config(port: number, adminPort: number): string {
  return `
listen: { host: 127.0.0.1, port: ${port} }
admin: { host: 127.0.0.1, port: ${adminPort} }
backends:
  main: { servers: [{ url: "ws://127.0.0.1:9" }] }
routes:
  - { backend: main }
`;
}

async function run(file: string): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const r = runCli(['serve', '--config', file]);
  const { code } = await r.exited;
  return { code, stderr: r.stderr(), stdout: r.stdout() };
}

describe('wstap serve start errors', () => {
  it('listen port in use: exit 1 with a one-line cause naming the address', async () => {
    const port = await busyPort();
    const file = tmp.file('busy.yaml');
    writeFileSync(file, config(port, await freePort()));
    const r = await run(file);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr.trimEnd().split('\n')).toEqual([`wstap serve: cannot listen on 127.0.0.1:${port}: the address is already in use`]);
    expect(r.stdout).toBe('');
  });

  it('admin port in use: exit 1 with a one-line cause naming the admin address', async () => {
    const adminPort = await busyPort();
    const file = tmp.file('busy-admin.yaml');
    writeFileSync(file, config(await freePort(), adminPort));
    const r = await run(file);
    expect(r.code, r.stderr).toBe(1);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^wstap serve: cannot start the admin server on 127\\.0\\.0\\.1:${adminPort}: the address is already in use`));
  });

  it('bad config: exit 1, each problem with its path, then a summary line', async () => {
    const file = tmp.file('bad.yaml');
    writeFileSync(file, `${config(await freePort(), await freePort())}limits: { max_conections: 1 }\nroutes:\n  - { backend: chat }\n`.replace(/routes:\n {2}- \{ backend: main \}\n/, ''));
    const r = await run(file);
    expect(r.code, r.stderr).toBe(1);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines, r.stderr).toContain('limits.max_conections: unknown key — did you mean "max_connections"?');
    expect(lines.at(-1)).toMatch(/^wstap serve: invalid config \(\d+ problems?\)$/);
  });

  it('a config file that does not exist: exit 1 with one line naming the file', async () => {
    const file = tmp.file('nope.yaml');
    const r = await run(file);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(file);
    expect(r.stderr.trimEnd().split('\n').length).toBeLessThanOrEqual(2);
  });

  it('TLS certificate files that do not exist: exit 1, the problem names listen.tls.cert', async () => {
    const file = tmp.file('tls.yaml');
    writeFileSync(file, config(await freePort(), await freePort()).replace(/port: (\d+) }/, 'port: $1, tls: { cert: missing.pem, key: missing-key.pem } }'));
    const r = await run(file);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^listen\.tls\.cert: /m);
  });
});
