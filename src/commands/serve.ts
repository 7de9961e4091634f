/**
 * `wstap serve --config FILE`: run the proxy (and its admin server) until SIGTERM/SIGINT, then
 * drain and exit 0. SIGHUP — and a change of the file when `watch: true` — reloads the config;
 * an invalid new config is refused with its problems logged and the old one kept.
 */
import { watch, type FSWatcher } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { App } from '../app.js';
import { checkConfigFile, checkConfigText, ConfigError } from '../config/load.js';
import type { Config } from '../config/types.js';
import { createLogger, type Logger } from '../log.js';
import { ClusterPrimary } from '../cluster/primary.js';
import { isToWorker, type ToPrimary } from '../cluster/protocol.js';
import { UsageError, type CommandIO, type ParentChannel } from './io.js';

export const serveHelp = `Usage: wstap serve --config FILE

Run the proxy, the admin server and the config's monitors until SIGTERM or SIGINT, then drain
open sessions (timeouts.drain) and exit 0. SIGHUP reloads the config. With "workers: N" (or
auto) in the config, N proxy processes share the listener and this process runs the admin
server for all of them; signals go to this process.`;

/** What the signal loop drives: a single-process App, or a cluster primary. */
interface Runnable {
  readonly config: Config;
  reload(config: Config, text: string): void;
  drain(): Promise<void>;
  close(): Promise<void>;
}

export async function serveCommand(argv: readonly string[], io: CommandIO): Promise<number> {
  const { values } = parseArgs({ args: [...argv], options: { config: { type: 'string', short: 'c' } }, strict: true });
  if (!values.config) throw new UsageError('--config FILE is required');
  const path = values.config;
  if (io.parent !== undefined) return serveWorker(io.parent, path, io);
  const checked = checkConfigFile(path, io.env);
  if (checked.config === undefined) throw new ConfigError(checked.problems);
  const config = checked.config;
  const logger = createLogger({ level: config.log.level, format: config.log.format, destination: io.stderr });
  const workers = config.workers === 'auto' ? availableParallelism() : config.workers;
  if (workers > 1 && io.script === undefined) throw new Error('workers above 1 need the wstap CLI script to start workers from; run wstap serve from the command line');
  const runnable: Runnable & { addresses: App['addresses'] } =
    workers > 1
      ? await ClusterPrimary.start({ config, text: checked.text ?? '', workers, logger, exec: io.script ?? '', args: ['serve', '--config', path] })
      : await App.start(config, { logger });
  // Signal handlers first: whoever waits for "wstap listening" may send SIGTERM right away, and
  // the default action would kill the process without a drain.
  const done = runUntilSignal(runnable, path, io, logger);
  const a = runnable.addresses;
  logger.info(
    {
      proxy: `${a.proxy.host}:${a.proxy.port}`,
      ...(a.admin ? { admin: `http://${a.admin.host}:${a.admin.port}` } : {}),
      ...(workers > 1 ? { workers } : {}),
    },
    'wstap listening',
  );
  return done;
}

/**
 * A cluster worker: a whole proxy without an admin server (the primary runs it), started with
 * the config text the primary sends and answering the primary's questions. The primary carries
 * the signals: SIGINT/SIGHUP (a terminal sends them to the whole group) are left to it; a
 * SIGTERM sent to this worker alone drains it, and the primary starts another in its place.
 */
async function serveWorker(parent: ParentChannel, path: string, io: CommandIO): Promise<number> {
  const send = (m: ToPrimary): void => parent.send(m);
  const offs = [io.onSignal('SIGINT', () => {}), io.onSignal('SIGHUP', () => {})];
  let app: App | undefined;
  let logger: Logger | undefined;
  let stopping = false;
  let starting = false;
  let pendingReload: string | undefined;
  return new Promise<number>((resolve) => {
    const finish = (code: number): void => {
      offs.forEach((f) => f());
      resolve(code);
    };
    const reload = (target: App, text: string): void => {
      const config = parse(text);
      if (!('listen' in config)) {
        logger?.error({ problems: config }, 'config reload refused: keeping the running config');
        return;
      }
      target.reload(own(config));
      logger?.info('config reloaded');
    };
    const stop = (how: 'drain' | 'close'): void => {
      if (starting) {
        stopping = true; // App.start's continuation closes it
        return;
      }
      if (app === undefined) return finish(0);
      if (stopping && how === 'drain') return;
      stopping = true;
      const a = app;
      void (how === 'drain' ? a.drain() : a.close()).then(() => finish(0));
    };
    // A worker shows only itself in the primary's admin server; monitors run once, in worker 0.
    const own = (c: Config): Config => ({ ...c, admin: { ...c.admin, enabled: false }, monitors: parent.index === 0 ? c.monitors : [] });
    const parse = (text: string): Config | readonly string[] => {
      const r = checkConfigText(text, { path, env: io.env });
      return r.config ?? r.problems;
    };
    offs.push(
      io.onSignal('SIGTERM', () => stop('drain')),
      parent.onDisconnect(() => stop('drain')),
      parent.onMessage((m) => {
        if (!isToWorker(m)) return;
        switch (m.t) {
          case 'config': {
            if (app !== undefined || starting) return;
            const config = parse(m.text);
            if (!('listen' in config)) {
              send({ t: 'failed', message: `invalid config: ${config.join('; ')}` });
              return finish(1);
            }
            logger = createLogger({ level: config.log.level, format: config.log.format, destination: io.stderr }).child({ worker: parent.index });
            pendingReload = m.reload;
            starting = true;
            App.start(own(config), { logger }).then(
              (started) => {
                starting = false;
                app = started;
                if (stopping) return void started.close().then(() => finish(0));
                // A reload that came while starting (or the one the running workers have had).
                if (pendingReload !== undefined) reload(started, pendingReload);
                pendingReload = undefined;
                const a = started.addresses.proxy;
                send({ t: 'listening', host: a.host, port: a.port });
                logger?.debug({ proxy: `${a.host}:${a.port}` }, 'worker listening');
              },
              (err: unknown) => {
                send({ t: 'failed', message: (err as Error).message });
                finish(1);
              },
            );
            return;
          }
          case 'reload':
            if (app === undefined) pendingReload = m.text;
            else reload(app, m.text);
            return;
          case 'drain':
          case 'close':
            return stop(m.t);
          case 'ask': {
            const a = app;
            if (a === undefined) return;
            if (m.what === 'status') {
              send({ t: 'answer', id: m.id, status: { snapshot: a.proxy.snapshot(), counts: a.telemetry.statusWindow.counts(), monitors: a.monitors.results() } });
              return;
            }
            const text = a.telemetry.prometheusText;
            if (text === undefined) return send({ t: 'answer', id: m.id, metrics: null });
            text().then(
              (metrics) => send({ t: 'answer', id: m.id, metrics }),
              (err: unknown) => send({ t: 'answer', id: m.id, metrics: null, error: (err as Error).message }),
            );
            return;
          }
        }
      }),
    );
    send({ t: 'ready' });
  });
}

/** Block until SIGTERM/SIGINT; reload on SIGHUP (and file change when `watch`). */
export function runUntilSignal(app: Runnable, path: string | undefined, io: CommandIO, logger: Logger): Promise<number> {
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
      app.reload(r.config, r.text ?? '');
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
