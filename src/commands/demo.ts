/**
 * `wstap demo`: the zero-setup tour. Two local echo backends, wstap in front of them, a trickle
 * of synthetic sessions (some closing with application codes, some dropped), and the URLs to
 * look at. Runs until Ctrl-C.
 */
import { parseArgs } from 'node:util';
import { WebSocket } from 'ws';
import { App } from '../app.js';
import { parseConfigText } from '../config/load.js';
import { createLogger } from '../log.js';
import { startEchoServer, type EchoServer } from '../demo/echo-server.js';
import { runUntilSignal } from './serve.js';
import type { CommandIO } from './io.js';

export const demoHelp = `Usage: wstap demo [--port N] [--admin-port N] [--no-traffic]

Start two local echo backends, wstap in front of them (default ws://127.0.0.1:8080, admin
http://127.0.0.1:9090; a busy port falls back to a free one), and a little synthetic traffic.
Runs until Ctrl-C.`;

export async function demoCommand(argv: readonly string[], io: CommandIO): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: { port: { type: 'string', default: '8080' }, 'admin-port': { type: 'string', default: '9090' }, 'no-traffic': { type: 'boolean', default: false } },
    strict: true,
  });
  const logger = createLogger({ level: 'warn', format: 'pretty', destination: io.stderr });
  const backends: EchoServer[] = [await startEchoServer('echo-1'), await startEchoServer('echo-2')];
  const app = await startOnFreePorts(Number(values.port), Number(values['admin-port']), backends, logger);
  const a = app.addresses;
  const proxyUrl = `ws://127.0.0.1:${a.proxy.port}/`;
  const admin = a.admin ? `http://${a.admin.host}:${a.admin.port}` : undefined;
  io.stdout.write(
    [
      'wstap demo is running.',
      `  proxy        ${proxyUrl}   (two echo backends behind it: 127.0.0.1:${backends[0]!.port}, 127.0.0.1:${backends[1]!.port})`,
      ...(admin ? [`  status page  ${admin}/`, `  metrics      ${admin}/metrics`, `  status JSON  ${admin}/status`] : []),
      `  try it       npx wstap check ${proxyUrl} --send hello --expect hello`,
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );
  const traffic = values['no-traffic'] ? undefined : startTraffic(proxyUrl);
  const code = await runUntilSignal(app, undefined, io, logger);
  traffic?.stop();
  await Promise.all(backends.map((b) => b.close()));
  return code;
}

async function startOnFreePorts(port: number, adminPort: number, backends: readonly EchoServer[], logger: ReturnType<typeof createLogger>): Promise<App> {
  for (const [p, ap] of [[port, adminPort], [0, 0]] as const) {
    const config = parseConfigText(
      JSON.stringify({
        listen: { host: '127.0.0.1', port: p },
        admin: { host: '127.0.0.1', port: ap },
        backends: { echo: { servers: backends.map((b) => ({ id: b.id, url: `ws://127.0.0.1:${b.port}` })) } },
        routes: [{ name: 'echo', match: { path: '/' }, backend: 'echo' }],
        heartbeat: { interval: '5s', timeout: '3s' },
        timeouts: { drain: '2s' },
        alerts: { window: '5m' },
      }),
      { format: 'json', env: {} },
    );
    try {
      return await App.start(config, { logger });
    } catch (err) {
      if (p === 0) throw err;
    }
  }
  throw new Error('unreachable');
}

/** One short session a second: a few messages, mostly closed 1000, now and then 4001 or a drop. */
function startTraffic(url: string): { stop(): void } {
  let n = 0;
  const open = new Set<WebSocket>();
  const timer = setInterval(() => {
    const i = n++;
    const ws = new WebSocket(url);
    open.add(ws);
    ws.on('error', () => {});
    ws.on('close', () => open.delete(ws));
    ws.on('open', () => {
      for (let k = 0; k < 3; k++) ws.send(`demo message ${i}.${k}`);
      setTimeout(() => {
        if (i % 10 === 7) ws.terminate();
        else ws.close(i % 5 === 3 ? 4001 : 1000, 'demo');
      }, 300);
    });
  }, 1000);
  return {
    stop() {
      clearInterval(timer);
      for (const ws of open) ws.terminate();
    },
  };
}
