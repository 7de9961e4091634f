/**
 * The cluster primary (`workers:` above 1): forks N `wstap serve` workers that share the proxy
 * listener through node:cluster, runs the one admin server for all of them, and carries reload,
 * drain and close to every worker. It proxies nothing itself.
 *
 * - Each worker is a whole proxy with its own `service.instance.id`; affinity needs no shared
 *   state (rendezvous hashing gives every worker the same answer for a key).
 * - /metrics is every worker's Prometheus text with a `worker` label; /status adds the workers'
 *   counts and close-code windows up and recomputes the alert, ping percentiles and rates.
 * - A worker that exits unexpectedly is restarted in its slot, after a back-off that grows while
 *   it keeps crashing. Its sessions are lost (their clients reconnect); the others carry on.
 * - Workers get the config as text from the primary, so a reload applies the same text
 *   everywhere and a restarted worker starts with the config the others run.
 */
import cluster, { type Worker } from 'node:cluster';
import { performance } from 'node:perf_hooks';
import type { Config } from '../config/types.js';
import type { Logger } from '../log.js';
import { createAdminServer, type AdminServer } from '../admin/server.js';
import type { WorkerStatus } from '../admin/status.js';
import { mergePrometheusText } from '../admin/merge-metrics.js';
import { sendMetrics } from '../telemetry/prometheus.js';
import { mergeWindowCounts, windowReport, type WindowCounts, type WindowReport } from '../telemetry/index.js';
import type { CoreSnapshot } from '../snapshot.js';
import { VERSION } from '../version.js';
import { mergeSnapshots } from './merge.js';
import { isToPrimary, type ToPrimary, type ToWorker, type WorkerStatusAnswer } from './protocol.js';

export interface PrimaryOptions {
  readonly config: Config;
  /** The config file's text, handed to every worker. */
  readonly text: string;
  readonly workers: number;
  readonly logger: Logger;
  /** What the workers run: node `exec` with `args` (the CLI's `serve --config FILE`). */
  readonly exec: string;
  readonly args: readonly string[];
  /** How long a worker may take to answer the admin server (default 2 s). */
  readonly askTimeoutMs?: number;
}

interface Slot {
  readonly index: number;
  worker: Worker | undefined;
  listening: boolean;
  restarts: number;
  /** Unexpected exits in a row (reset once a worker has run a minute): the back-off grows with it. */
  crashes: number;
  startedAt: number;
  restartTimer: NodeJS.Timeout | undefined;
}

/** A question to one worker: `done` with its answer, or undefined (timed out, worker gone, stopping). */
interface Pending {
  readonly slot: Slot;
  readonly done: (m: ToPrimary | undefined) => void;
}

const RESTART_BASE_MS = 500;
const RESTART_MAX_MS = 30_000;
const STABLE_MS = 60_000;

export class ClusterPrimary {
  readonly #opts: PrimaryOptions;
  readonly #log: Logger;
  readonly #slots: Slot[];
  readonly #admin: AdminServer | undefined;
  readonly #startedAt = performance.now();
  readonly #pending = new Map<number, Pending>();
  #config: Config;
  #text: string;
  /** The text the cluster started with: a restarted worker starts from it, then reloads (see #fork). */
  readonly #startText: string;
  #exited: Promise<void> | undefined;
  #nextId = 1;
  #stopping = false;
  #started = false;
  #onStartError: ((err: Error) => void) | undefined;
  #onAllListening: (() => void) | undefined;
  #onAllExited: (() => void) | undefined;
  #proxyAddress: { host: string; port: number } | undefined;
  #statusInFlight: Promise<readonly { slot: Slot; answer: WorkerStatusAnswer | undefined }[]> | undefined;

  private constructor(opts: PrimaryOptions) {
    this.#opts = opts;
    this.#config = opts.config;
    this.#text = opts.text;
    this.#startText = opts.text;
    this.#log = opts.logger;
    this.#slots = Array.from({ length: opts.workers }, (_, index) => ({
      index,
      worker: undefined,
      listening: false,
      restarts: 0,
      crashes: 0,
      startedAt: 0,
      restartTimer: undefined,
    }));
    const c = opts.config;
    this.#admin = c.admin.enabled
      ? createAdminServer({
          host: c.admin.host,
          port: c.admin.port,
          snapshot: () => this.#snapshot(),
          statusReport: () => this.#report(),
          monitors: () => this.#monitors(),
          workers: () => this.#workers(),
          ...(c.telemetry.prometheus ? { metrics: (req, res) => sendMetrics(req, res, this.#metrics(), this.#log) } : {}),
          service: c.telemetry.service_name,
          version: VERSION,
          logger: opts.logger,
        })
      : undefined;
  }

  /**
   * Fork the workers and wait until every one listens, then bind the admin server. If a worker
   * cannot start (bind error, bad config), everything started is stopped and the error thrown.
   */
  static async start(opts: PrimaryOptions): Promise<ClusterPrimary> {
    const p = new ClusterPrimary(opts);
    cluster.setupPrimary({ exec: opts.exec, args: [...opts.args], silent: false });
    try {
      await new Promise<void>((resolve, reject) => {
        p.#onAllListening = resolve;
        p.#onStartError = reject;
        for (const slot of p.#slots) p.#fork(slot);
      });
      if (p.#admin) {
        const c = opts.config;
        try {
          await p.#admin.listen();
        } catch (err) {
          throw new Error(`cannot start the admin server on ${c.admin.host}:${c.admin.port}: ${(err as Error).message} (set admin.port, or admin.enabled: false)`);
        }
      }
    } catch (err) {
      await p.close();
      throw err;
    }
    p.#started = true;
    return p;
  }

  get config(): Config {
    return this.#config;
  }

  get addresses(): { proxy: { host: string; port: number }; admin?: { host: string; port: number } } {
    const proxy = this.#proxyAddress ?? { host: this.#config.listen.host, port: this.#config.listen.port };
    return { proxy, ...(this.#admin?.address ? { admin: this.#admin.address } : {}) };
  }

  /** Apply a new, already validated config: every worker gets its text. */
  reload(config: Config, text: string): void {
    const old = this.#config;
    if (config.workers !== old.workers) this.#log.warn({ from: old.workers, to: config.workers }, 'workers changed: it applies after a restart');
    if (old.admin.host !== config.admin.host || old.admin.port !== config.admin.port || old.admin.enabled !== config.admin.enabled) {
      this.#log.warn('admin address changed: it applies after a restart');
    }
    this.#config = config;
    this.#text = text;
    for (const slot of this.#slots) this.#send(slot, { t: 'reload', text });
  }

  /** SIGTERM: every worker drains (`timeouts.drain`) and exits; then the admin server closes. */
  async drain(): Promise<void> {
    // A worker's own drain: timeouts.drain, then up to timeouts.close for the close handshakes,
    // pending handshakes, the monitors' stop and a final metrics flush of up to 5 s.
    const t = this.#config.timeouts;
    await this.#stop('drain', t.drain + t.close + 20_000);
  }

  /** Stop now: workers close their sessions at once. */
  async close(): Promise<void> {
    await this.#stop('close', 5_000);
  }

  async #stop(how: 'drain' | 'close', graceMs: number): Promise<void> {
    this.#stopping = true;
    // A second call (a second signal: close during a drain) waits for the same exits.
    const exited = (this.#exited ??= new Promise<void>((resolve) => (this.#onAllExited = resolve)));
    for (const slot of this.#slots) {
      clearTimeout(slot.restartTimer);
      slot.restartTimer = undefined;
      this.#send(slot, { t: how });
    }
    this.#checkAllExited();
    // A worker that does not finish in time (stuck, or never got the message) is killed.
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        for (const slot of this.#slots) {
          if (slot.worker !== undefined) {
            this.#log.warn({ worker: slot.index, pid: slot.worker.process.pid }, 'worker did not stop in time: killing it');
            slot.worker.process.kill('SIGKILL');
          }
        }
        resolve();
      }, graceMs);
    });
    await Promise.race([exited, late]);
    await exited;
    clearTimeout(timer);
    for (const p of this.#pending.values()) p.done(undefined);
    this.#pending.clear();
    await this.#admin?.close();
  }

  #fork(slot: Slot): void {
    const worker = cluster.fork({ WSTAP_WORKER_INDEX: String(slot.index) });
    slot.worker = worker;
    slot.listening = false;
    slot.startedAt = performance.now();
    worker.on('message', (m: unknown) => {
      if (isToPrimary(m)) this.#onMessage(slot, worker, m);
    });
    // 'error' on a worker is an IPC failure (the channel closed under a send): the exit follows.
    worker.on('error', (err) => this.#log.debug({ worker: slot.index, err: err.message }, 'worker channel error'));
    worker.on('exit', (code, signal) => this.#onExit(slot, worker, code, signal));
  }

  #onMessage(slot: Slot, worker: Worker, m: ToPrimary): void {
    if (slot.worker !== worker) return;
    switch (m.t) {
      case 'ready':
        // Stopping: the new worker must not bind the listener again; it exits on 'close'.
        if (this.#stopping) return this.#send(slot, { t: 'close' });
        // Settings that apply only after a restart (listen address, exporters) must stay those
        // the other workers run: start from the cluster's first text, then reload to the current.
        this.#send(slot, { t: 'config', text: this.#startText, ...(this.#text !== this.#startText ? { reload: this.#text } : {}) });
        return;
      case 'listening':
        slot.listening = true;
        this.#proxyAddress ??= { host: m.host, port: m.port };
        if (this.#started) this.#log.info({ worker: slot.index, pid: worker.process.pid }, 'worker restarted and listening');
        if (this.#onAllListening !== undefined && this.#slots.every((s) => s.listening)) {
          this.#onAllListening();
          this.#onAllListening = undefined;
          // From here on a worker that exits is restarted, not a start failure.
          this.#onStartError = undefined;
        }
        return;
      case 'failed':
        if (this.#onStartError !== undefined) {
          this.#onStartError(new Error(m.message));
          this.#onStartError = undefined;
        } else {
          this.#log.error({ worker: slot.index, err: m.message }, 'worker failed to start');
        }
        return;
      case 'answer': {
        const p = this.#pending.get(m.id);
        this.#pending.delete(m.id);
        p?.done(m);
        return;
      }
    }
  }

  #onExit(slot: Slot, worker: Worker, code: number | null, signal: string | null): void {
    if (slot.worker !== worker) return;
    slot.worker = undefined;
    slot.listening = false;
    // Its unanswered questions will not be answered: let /status and /metrics go on without it.
    for (const [id, p] of this.#pending) {
      if (p.slot === slot) {
        this.#pending.delete(id);
        p.done(undefined);
      }
    }
    if (this.#stopping) {
      this.#checkAllExited();
      return;
    }
    if (this.#onStartError !== undefined) {
      this.#onStartError(new Error(`worker ${slot.index} exited during start (code ${code}, signal ${signal})`));
      this.#onStartError = undefined;
      return;
    }
    if (!this.#started && this.#onAllListening !== undefined) return; // start already failed
    slot.crashes = performance.now() - slot.startedAt > STABLE_MS ? 1 : slot.crashes + 1;
    const delay = Math.min(RESTART_MAX_MS, RESTART_BASE_MS * 2 ** (slot.crashes - 1));
    this.#log.error({ worker: slot.index, pid: worker.process.pid, code, signal, restart_in_ms: delay }, 'worker exited unexpectedly: restarting it');
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      if (this.#stopping) return;
      slot.restarts++;
      this.#fork(slot);
    }, delay);
  }

  #checkAllExited(): void {
    if (this.#slots.every((s) => s.worker === undefined)) {
      this.#onAllExited?.();
      this.#onAllExited = undefined;
    }
  }

  #send(slot: Slot, m: ToWorker): void {
    const w = slot.worker;
    if (w === undefined || !w.isConnected()) return;
    try {
      w.send(m);
    } catch (err) {
      this.#log.debug({ worker: slot.index, err: (err as Error).message }, 'worker message not sent');
    }
  }

  /** Ask every listening worker; a worker that does not answer in time is left out. */
  #ask(what: 'status' | 'metrics'): Promise<{ slot: Slot; answer: ToPrimary | undefined }[]> {
    const timeoutMs = this.#opts.askTimeoutMs ?? 2000;
    return Promise.all(
      this.#slots
        .filter((s) => s.listening && s.worker !== undefined)
        .map(
          (slot) =>
            new Promise<{ slot: Slot; answer: ToPrimary | undefined }>((resolve) => {
              const id = this.#nextId++;
              const timer = setTimeout(() => {
                this.#pending.delete(id);
                resolve({ slot, answer: undefined });
              }, timeoutMs);
              this.#pending.set(id, {
                slot,
                done: (m) => {
                  clearTimeout(timer);
                  resolve({ slot, answer: m });
                },
              });
              this.#send(slot, { t: 'ask', id, what });
            }),
        ),
    );
  }

  /** One status round for all of /status's providers (they ask at the same moment). */
  #statusAnswers(): Promise<readonly { slot: Slot; answer: WorkerStatusAnswer | undefined }[]> {
    this.#statusInFlight ??= this.#ask('status')
      .then((list) => list.map(({ slot, answer }) => ({ slot, answer: answer !== undefined && 'status' in answer ? answer.status : undefined })))
      .finally(() => {
        this.#statusInFlight = undefined;
      });
    return this.#statusInFlight;
  }

  async #snapshot(): Promise<CoreSnapshot> {
    const answers = await this.#statusAnswers();
    const snaps = answers.flatMap((a) => (a.answer ? [a.answer.snapshot] : []));
    return mergeSnapshots(snaps, (performance.now() - this.#startedAt) / 1000, this.#stopping);
  }

  async #report(): Promise<WindowReport> {
    const answers = await this.#statusAnswers();
    const counts: WindowCounts[] = answers.flatMap((a) => (a.answer ? [a.answer.counts] : []));
    return windowReport(mergeWindowCounts(counts));
  }

  async #monitors(): Promise<readonly unknown[]> {
    const answers = await this.#statusAnswers();
    return answers.flatMap((a) => a.answer?.monitors ?? []);
  }

  async #workers(): Promise<readonly WorkerStatus[]> {
    const answers = await this.#statusAnswers();
    const byIndex = new Map(answers.map((a) => [a.slot.index, a.answer]));
    return this.#slots.map((s) => {
      const a = byIndex.get(s.index);
      return {
        index: s.index,
        pid: s.worker?.process.pid ?? 0,
        responding: a !== undefined,
        active_sessions: a?.snapshot.activeSessions ?? 0,
        restarts: s.restarts,
      };
    });
  }

  async #metrics(): Promise<string> {
    const answers = await this.#ask('metrics');
    const parts: { worker: string; text: string }[] = [];
    for (const { slot, answer } of answers) {
      if (answer === undefined || !('metrics' in answer)) {
        this.#log.warn({ worker: slot.index }, 'worker did not answer the metrics scrape in time: left out');
        continue;
      }
      if (answer.error !== undefined) this.#log.warn({ worker: slot.index, err: answer.error }, 'worker metrics collection failed: left out');
      if (answer.metrics !== null) parts.push({ worker: String(slot.index), text: answer.metrics });
    }
    if (parts.length === 0 && answers.length > 0) throw new Error('no worker answered the metrics scrape');
    return mergePrometheusText(parts);
  }
}
