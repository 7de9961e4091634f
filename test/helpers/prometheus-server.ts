/**
 * A real Prometheus server for end-to-end tests: the Debian `prometheus` binary, run in a temp
 * directory with a generated prometheus.yml that scrapes the given targets every 200 ms, on a
 * free loopback port. Waiting on an external process is the one place these tests poll, and
 * every poll is bounded.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from './traffic.js';

/** Where Debian (and CI) install it. */
export const PROMETHEUS_BIN = process.env.WSTAP_PROMETHEUS_BIN ?? '/usr/bin/prometheus';

/** Options of {@link startPrometheus}. */
export interface PrometheusOptions {
  /** `host:port` of each `/metrics` endpoint to scrape. */
  readonly targets: readonly string[];
  /** scrape_interval and evaluation_interval, ms (default 200). */
  readonly intervalMs?: number;
  /** Bound on start-up (ready), ms (default 15000). */
  readonly startTimeoutMs?: number;
}

/** One target as `/api/v1/targets` reports it. */
export interface TargetState {
  readonly scrapeUrl: string;
  readonly health: 'up' | 'down' | 'unknown';
  readonly lastError: string;
  /** Start of the last scrape, ms since the epoch (0 before the first). */
  readonly lastScrapeMs: number;
}

/** One element of an instant-vector query result. */
export interface VectorSample {
  readonly metric: Record<string, string>;
  readonly value: number;
}

/** A running Prometheus. */
export interface PrometheusServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** The stderr/stdout of the process so far (for failure messages). */
  output(): string;
  targets(): Promise<TargetState[]>;
  /**
   * Resolve once every target has been scraped successfully by a scrape that *started* after
   * `afterMs` (epoch ms), polling `/api/v1/targets` every 100 ms up to `timeoutMs`.
   */
  waitForScrape(afterMs: number, timeoutMs?: number): Promise<void>;
  /** An instant query (evaluated now); rejects unless the result is a vector. */
  query(promql: string): Promise<VectorSample[]>;
  /** SIGTERM, await exit (SIGKILL after 5 s), remove the temp dir. Idempotent. */
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Throws the install hint when the binary is missing: these tests fail, never skip. */
export function requirePrometheus(): string {
  if (!existsSync(PROMETHEUS_BIN)) {
    throw new Error(
      `Prometheus is not installed (${PROMETHEUS_BIN} is missing): run \`sudo apt-get install prometheus\` ` +
        '(CI installs it), or point WSTAP_PROMETHEUS_BIN at a prometheus binary',
    );
  }
  return PROMETHEUS_BIN;
}

function configYaml(targets: readonly string[], intervalMs: number): string {
  const iv = `${intervalMs}ms`;
  return [
    'global:',
    `  scrape_interval: ${iv}`,
    `  scrape_timeout: ${iv}`,
    `  evaluation_interval: ${iv}`,
    'scrape_configs:',
    '  - job_name: wstap',
    `    scrape_interval: ${iv}`,
    `    scrape_timeout: ${iv}`,
    '    metrics_path: /metrics',
    '    static_configs:',
    `      - targets: [${targets.map((t) => `'${t}'`).join(', ')}]`,
    '',
  ].join('\n');
}

interface Launched {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  readonly url: string;
}

/** Start Prometheus; retries on a new port when the free port was taken meanwhile. */
export async function startPrometheus(opts: PrometheusOptions): Promise<PrometheusServer> {
  const bin = requirePrometheus();
  const intervalMs = opts.intervalMs ?? 200;
  const startTimeoutMs = opts.startTimeoutMs ?? 15_000;
  const dir = await mkdtemp(path.join(tmpdir(), 'wstap-prometheus-'));
  const configFile = path.join(dir, 'prometheus.yml');
  await writeFile(configFile, configYaml(opts.targets, intervalMs));
  let out = '';

  const launch = async (attempt: number): Promise<Launched> => {
    const port = await freePort();
    const child = spawn(
      bin,
      [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${path.join(dir, `data-${attempt}`)}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--web.enable-lifecycle',
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const keep = (c: Buffer) => {
      out = (out + c.toString()).slice(-20_000);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const exited = new Promise<number | null>((resolve) => {
      child.once('exit', (code) => resolve(code));
      child.once('error', (err) => {
        out += `\nspawn error: ${err.message}`;
        resolve(-1);
      });
    });
    return { child, exited, url: `http://127.0.0.1:${port}` };
  };

  const kill = async (l: Launched): Promise<void> => {
    if (l.child.exitCode !== null || l.child.signalCode !== null) return;
    l.child.kill('SIGTERM');
    const timer = setTimeout(() => l.child.kill('SIGKILL'), 5000);
    await l.exited;
    clearTimeout(timer);
  };

  /** Wait for `/-/ready`; 'exited' if the process died first. */
  const ready = async (l: Launched): Promise<'ready' | 'exited'> => {
    let dead = false;
    void l.exited.then(() => (dead = true));
    const deadline = Date.now() + startTimeoutMs;
    while (Date.now() < deadline) {
      if (dead) return 'exited';
      try {
        const res = await fetch(`${l.url}/-/ready`, { signal: AbortSignal.timeout(1000) });
        await res.body?.cancel();
        if (res.ok) return 'ready';
      } catch {
        // not listening yet
      }
      await sleep(50);
    }
    throw new Error(`Prometheus did not become ready within ${startTimeoutMs} ms:\n${out}`);
  };

  let launched: Launched | undefined;
  try {
    for (let attempt = 1; launched === undefined; attempt++) {
      const l = await launch(attempt);
      let state: 'ready' | 'exited';
      try {
        state = await ready(l);
      } catch (err) {
        await kill(l);
        throw err;
      }
      if (state === 'ready') {
        launched = l;
      } else if (/address already in use/i.test(out) && attempt < 5) {
        out += `\n(attempt ${attempt}: port taken, retrying on another)\n`;
      } else {
        throw new Error(`Prometheus exited during start-up:\n${out}`);
      }
    }
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }

  const l = launched;
  const api = async (p: string): Promise<unknown> => {
    const res = await fetch(`${l.url}${p}`, { signal: AbortSignal.timeout(5000) });
    const body = (await res.json()) as { status: string; data?: unknown; error?: string };
    if (body.status !== 'success') throw new Error(`Prometheus ${p}: ${res.status} ${body.error ?? ''}`);
    return body.data;
  };
  let stopping: Promise<void> | undefined;

  const server: PrometheusServer = {
    url: l.url,
    output: () => out,
    async targets() {
      const data = (await api('/api/v1/targets?state=active')) as {
        activeTargets: Array<{ scrapeUrl: string; health: TargetState['health']; lastError: string; lastScrape: string }>;
      };
      return data.activeTargets.map((t) => ({
        scrapeUrl: t.scrapeUrl,
        health: t.health,
        lastError: t.lastError,
        lastScrapeMs: t.lastScrape.startsWith('0001-') ? 0 : Date.parse(t.lastScrape),
      }));
    },
    async waitForScrape(afterMs, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      let last: TargetState[] = [];
      while (Date.now() < deadline) {
        last = await server.targets();
        if (last.length === opts.targets.length && last.every((t) => t.health === 'up' && t.lastScrapeMs > afterMs)) return;
        await sleep(100);
      }
      throw new Error(`no successful scrape after ${new Date(afterMs).toISOString()} within ${timeoutMs} ms: ${JSON.stringify(last)}\n${out}`);
    },
    async query(promql) {
      const data = (await api(`/api/v1/query?query=${encodeURIComponent(promql)}`)) as {
        resultType: string;
        result: Array<{ metric: Record<string, string>; value: [number, string] }>;
      };
      if (data.resultType !== 'vector') throw new Error(`${promql}: expected a vector, got ${data.resultType}`);
      return data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
    },
    stop() {
      stopping ??= (async () => {
        await kill(l);
        await rm(dir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
  return server;
}
