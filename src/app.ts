/**
 * The composition root: builds the proxy, telemetry and admin server from a Config, and offers
 * start / reload / drain / close. Nothing imports this file but `cli.ts` and `index.ts`.
 */
import { EventHub } from './events.js';
import type { Config } from './config/types.js';
import type { Logger } from './log.js';
import { ProxyServer } from './proxy/server.js';
import { startTelemetry, type Telemetry } from './telemetry/sdk.js';
import { createAdminServer, type AdminServer } from './admin/server.js';
import { VERSION } from './version.js';
import { MonitorService } from './monitor/index.js';

export interface AppOptions {
  readonly logger: Logger;
  /** Extra observers (tests, the demo's traffic report). */
  readonly hub?: EventHub;
}

export interface Addresses {
  readonly proxy: { host: string; port: number };
  readonly admin?: { host: string; port: number };
}

export class App {
  readonly hub: EventHub;
  readonly proxy: ProxyServer;
  readonly telemetry: Telemetry;
  /** The config's synthetic monitors, run by `serve` too. */
  readonly monitors: MonitorService;
  readonly #admin: AdminServer | undefined;
  readonly #logger: Logger;
  #config: Config;
  #stopped = false;

  private constructor(config: Config, opts: AppOptions) {
    this.#config = config;
    this.#logger = opts.logger;
    this.hub = opts.hub ?? new EventHub();
    this.proxy = new ProxyServer({ config, hub: this.hub, logger: opts.logger });
    this.telemetry = startTelemetry({
      config,
      version: VERSION,
      snapshot: () => this.proxy.snapshot(),
      logger: opts.logger,
    });
    this.telemetry.attach(this.hub);
    this.monitors = new MonitorService(config.monitors, this.telemetry.monitors, opts.logger);
    this.#admin = config.admin.enabled
      ? createAdminServer({
          host: config.admin.host,
          port: config.admin.port,
          snapshot: () => this.proxy.snapshot(),
          statusReport: () => this.telemetry.statusWindow.report(),
          ...(this.telemetry.prometheusHandler ? { metrics: this.telemetry.prometheusHandler } : {}),
          monitors: () => this.monitors.results(),
          service: config.telemetry.service_name,
          version: VERSION,
          logger: opts.logger,
        })
      : undefined;
  }

  /**
   * Build and bind everything. On a bind error (port in use…) whatever was started is closed
   * again and the error is rethrown with the address in its message.
   */
  static async start(config: Config, opts: AppOptions): Promise<App> {
    const app = new App(config, opts);
    try {
      await app.#bind();
    } catch (err) {
      await app.close();
      throw err;
    }
    // After binding: monitors may well target this very proxy.
    app.monitors.start();
    return app;
  }

  async #bind(): Promise<void> {
    const c = this.#config;
    try {
      await this.proxy.listen();
    } catch (err) {
      throw new Error(`cannot listen on ${c.listen.host}:${c.listen.port}: ${describe(err)}`);
    }
    if (this.#admin) {
      try {
        await this.#admin.listen();
      } catch (err) {
        throw new Error(`cannot start the admin server on ${c.admin.host}:${c.admin.port}: ${describe(err)} (set admin.port, or admin.enabled: false)`);
      }
    }
  }

  get addresses(): Addresses {
    const a = this.proxy.address();
    return {
      proxy: { host: a?.address ?? this.#config.listen.host, port: a?.port ?? this.#config.listen.port },
      ...(this.#admin?.address ? { admin: this.#admin.address } : {}),
    };
  }

  get config(): Config {
    return this.#config;
  }

  /**
   * Apply a new config without dropping open sessions. A renewed listener certificate applies
   * to new connections; the listen address, turning TLS on or off, and the admin address are
   * bound at start: a change to them is logged and needs a restart.
   */
  reload(config: Config): void {
    const old = this.#config;
    if (old.listen.host !== config.listen.host || old.listen.port !== config.listen.port) {
      this.#logger.warn('listen address changed: it applies after a restart');
    }
    if ((old.listen.tls === undefined) !== (config.listen.tls === undefined)) {
      this.#logger.warn('listen.tls turned on or off: it applies after a restart');
    }
    if (old.admin.host !== config.admin.host || old.admin.port !== config.admin.port || old.admin.enabled !== config.admin.enabled) {
      this.#logger.warn('admin address changed: it applies after a restart');
    }
    this.#config = config;
    this.proxy.reload(config);
    this.telemetry.reload(config);
    void this.monitors.reload(config.monitors);
  }

  /** SIGTERM: stop accepting, let sessions end for `timeouts.drain`, close the rest, flush metrics. */
  async drain(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    const c = this.#config;
    await this.proxy.drain(c.timeouts.drain, c.shutdown.close_code);
    // Before the telemetry shutdown, so the monitors' last runs are flushed.
    await this.monitors.stop();
    await this.telemetry.shutdown(5000);
    await this.#admin?.close();
  }

  /** Stop everything now (tests, start errors). */
  async close(): Promise<void> {
    this.#stopped = true;
    await this.monitors.stop();
    await this.proxy.close();
    await this.#admin?.close();
    await this.telemetry.shutdown(1000);
  }
}

function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'EADDRINUSE') return 'the address is already in use';
  if (e.code === 'EACCES') return 'permission denied (ports below 1024 need privileges)';
  if (e.code === 'EADDRNOTAVAIL') return 'no such local address';
  return e.message ?? String(err);
}
