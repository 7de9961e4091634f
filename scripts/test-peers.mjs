#!/usr/bin/env node
// Runs before `npm test`: the integration tests talk to real peers from Debian —
// python3-websockets (an independent WebSocket implementation at /usr/bin/python3) and
// prometheus (a real scraper, with promtool), and chromium (the status page and a browser as a
// WebSocket client, driven by playwright-core). Installs them when missing and we are root with
// apt-get; otherwise says exactly what to run.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const missing = [];
if (spawnSync('/usr/bin/python3', ['-c', 'import websockets'], { stdio: 'ignore' }).status !== 0) missing.push('python3-websockets');
if (!existsSync('/usr/bin/prometheus') || !existsSync('/usr/bin/promtool')) missing.push('prometheus');
if (!existsSync('/usr/bin/chromium')) missing.push('chromium');
if (!existsSync('/usr/bin/openssl')) missing.push('openssl'); // throwaway TLS certificates

if (missing.length === 0) process.exit(0);
const cmd = `apt-get update && apt-get install -y --no-install-recommends ${missing.join(' ')}`;
const root = typeof process.getuid === 'function' && process.getuid() === 0;
if (!root || !existsSync('/usr/bin/apt-get')) {
  console.error(`The tests need Debian packages that are missing: ${missing.join(', ')}.\nInstall them with:\n  sudo sh -c '${cmd}'`);
  process.exit(1);
}
console.error(`test peers: installing ${missing.join(', ')} (apt-get)`);
try {
  execFileSync('sh', ['-c', cmd], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
} catch {
  console.error(`test peers: '${cmd}' failed`);
  process.exit(1);
}
