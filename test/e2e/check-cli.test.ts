/**
 * The built binary as a black box: `node dist/cli.js check …` exits 0 healthy, 1 unhealthy and
 * 2 on a usage error, and prints the JSON result on stdout. dist/ is rebuilt first when any
 * source file is newer than dist/cli.js.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, helloEcho, wsServer, type TestServer } from '../integration/monitor/servers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'dist', 'cli.js');

function newestSource(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestSource(p) : statSync(p).mtimeMs);
  }
  return newest;
}

function buildIfStale(): void {
  if (existsSync(CLI) && statSync(CLI).mtimeMs >= newestSource(join(ROOT, 'src'))) return;
  const started = Date.now();
  const r = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, encoding: 'utf8' });
  // tsc emits despite type errors; other folders may be mid-edit, so judge by what was written.
  const emitted = existsSync(join(ROOT, 'dist/commands/check.js')) && statSync(join(ROOT, 'dist/commands/check.js')).mtimeMs >= started - 1000;
  if (r.status !== 0 && !emitted) throw new Error(`build failed:\n${r.stdout}${r.stderr}`);
}

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

let server: TestServer;
beforeAll(async () => {
  buildIfStale();
  server = await wsServer(helloEcho('e2e'));
}, 120_000);
afterAll(async () => {
  await server?.close();
});

describe('wstap check (built CLI)', () => {
  it('exits 0 healthy, 1 unhealthy, 2 on a usage error', async () => {
    const ok = await runCli(['check', server.url, '--send', '{"type":"ping"}', '--expect', 'pong', '--json']);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ url: server.url, healthy: true, messageReceived: true, closeCode: 1000, error: null });

    const port = await freePort();
    const refused = await runCli(['check', `ws://127.0.0.1:${port}/`]);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain(`error: connection refused (ECONNREFUSED 127.0.0.1:${port})`);

    const badTimeout = await runCli(['check', server.url, '--timeout', 'soon']);
    expect(badTimeout.code).toBe(2);
    expect(badTimeout.stderr).toMatch(/^wstap check: --timeout must be a whole number, got "soon"\n\nUsage: wstap check URL/);

    const badUrl = await runCli(['check', 'localhost:8080']);
    expect(badUrl.code).toBe(2);
  });
});
