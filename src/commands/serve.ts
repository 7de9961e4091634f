/**
 * `wstap serve --config FILE`: run the proxy (and its admin server) until SIGTERM/SIGINT, then
 * drain and exit 0. SIGHUP — and a change of the file when `watch: true` — reloads the config;
 * an invalid new config is refused with its problems logged and the old one kept.
 */
import { watch, type FSWatcher } from 'node:fs';
import { parseArgs } from 'node:util';
import { App } from '../app.js';
import { checkConfigFile, loadConfigFile } from '../config/load.js';
import type { Config } from '../config/types.js';
import { createLogger, type Logger } from '../log.js';
import { UsageError, type CommandIO } from './io.js';

export const serveHelp = `Usage: wstap serve --config FILE

Run the proxy, the admin server and the config's monitors until SIGTERM or SIGINT, then drain
open sessions (timeouts.drain) and exit 0. SIGHUP reloads the config.`;

export async function serveCommand(argv: readonly string[], io: CommandIO): Promise<number> {
  const { values } = parseArgs({ args: [...argv], options: { config: { type: 'string', short: 'c' } }, strict: true });
  if (!values.config) throw new UsageError('--config FILE is required');
  const path = values.config;
  const config = loadConfigFile(path, io.env);
  const logger = createLogger({ level: config.log.level, format: config.log.format, destination: io.stderr });
  const app = await App.start(config, { logger });
  // Signal handlers first: whoever waits for "wstap listening" may send SIGTERM right away, and
  // the default action would kill the process without a drain.
  const done = runUntilSignal(app, path, io, logger);
  const a = app.addresses;
  logger.info(
    { proxy: `${a.proxy.host}:${a.proxy.port}`, ...(a.admin ? { admin: `http://${a.admin.host}:${a.admin.port}` } : {}) },
    'wstap listening',
  );
  return done;
}

/** Block until SIGTERM/SIGINT; reload on SIGHUP (and file change when `watch`). */
export function runUntilSignal(app: App, path: string | undefined, io: CommandIO, logger: Logger): Promise<number> {
  return new Promise<number>((resolve) => {
    let watcher: FSWatcher | undefined;
    let debounce: NodeJS.Timeout | undefined;
    const reload = (why: string): void => {
      if (path === undefined) return;
      const r = checkConfigFile(path, io.env);
      if (r.config === undefined) {
        for (const p of r.problems) logger.error({ problem: p }, 'config reload refused');
        logger.error({ trigger: why, problems: r.problems.length }, 'config reload refused: keeping the running config');
        if (!stopping) setWatch(app.config);
        return;
      }
      app.reload(r.config);
      setWatch(r.config);
      logger.info({ trigger: why }, 'config reloaded');
    };
    const setWatch = (c: Config): void => {
      if (path === undefined) return;
      if (c.watch && watcher === undefined) {
        try {
          watcher = watch(path, (event) => {
            // 'rename': the watched inode was replaced (an editor's or a ConfigMap's atomic save)
            // or removed; it will never change again. Watch the path anew after the reload.
            if (event === 'rename') {
              watcher?.close();
              watcher = undefined;
            }
            clearTimeout(debounce);
            debounce = setTimeout(() => reload('file change'), 200);
          });
        } catch (err) {
          logger.warn({ err: (err as Error).message }, 'config watch failed');
          return;
        }
        watcher.on('error', (err) => logger.warn({ err: err.message }, 'config watch failed'));
      } else if (!c.watch && watcher !== undefined) {
        watcher.close();
        watcher = undefined;
      }
    };
    setWatch(app.config);
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: closing now');
        void app.close().then(() => resolve(0));
        return;
      }
      stopping = true;
      logger.info({ signal, drain_ms: app.config.timeouts.drain }, 'draining');
      watcher?.close();
      clearTimeout(debounce);
      offs.forEach((f) => f());
      offs = [io.onSignal('SIGTERM', () => stop('SIGTERM')), io.onSignal('SIGINT', () => stop('SIGINT'))];
      void app.drain().then(() => {
        logger.info('drained, exiting');
        offs.forEach((f) => f());
        resolve(0);
      });
    };
    let offs = [
      io.onSignal('SIGTERM', () => stop('SIGTERM')),
      io.onSignal('SIGINT', () => stop('SIGINT')),
      io.onSignal('SIGHUP', () => reload('SIGHUP')),
    ];
  });
}
