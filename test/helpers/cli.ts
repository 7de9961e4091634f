/**
 * End-to-end harness for the real CLI: build `dist/` once per test run, find free ports, spawn
 * `node dist/cli.js serve --config FILE`, read its JSON log lines from stderr, wait for a line,
 * and make sure no child outlives its test.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { deadPort } from './raw.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const CLI = join(ROOT, 'dist/cli.js');

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * `npx tsc -p tsconfig.build.json`, once per vitest run even when several e2e files (run in
 * parallel workers) ask for it: a lock directory serialises them and a stamp named after the
 * vitest main process says the build is done, so no file rewrites `dist/` under another's child.
 */
export async function buildOnce(): Promise<void> {
  const stamp = join(tmpdir(), `wstap-e2e-built-${process.ppid}`);
  const lock = join(tmpdir(), 'wstap-e2e-build.lock');
  if (existsSync(stamp)) return;
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // A lock left by a killed run: take it over after a minute.
      try {
        if (Date.now() - statSync(lock).mtimeMs > 60_000) rmSync(lock, { recursive: true, force: true });
      } catch {
        /* gone meanwhile */
      }
      if (Date.now() > deadline) throw new Error('timed out waiting for another e2e build');
      await sleep(100);
    }
  }
  try {
    if (existsSync(stamp)) return;
    await promisify(execFile)('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, timeout: 120_000 }).catch((err: { stdout?: string; message: string }) => {
      throw new Error(`build failed: ${err.stdout || err.message}`);
    });
    writeFileSync(stamp, String(Date.now()));
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** A port on 127.0.0.1 that was free a moment ago (listen on 0, close). */
export const freePort = deadPort;

export interface LogLine {
  readonly level?: number;
  readonly msg?: string;
  readonly [key: string]: unknown;
}

export interface Served {
  readonly child: ChildProcess;
  readonly port: number;
  readonly adminPort: number;
  readonly url: string;
  readonly admin: string;
  /** JSON lines read from stderr so far. */
  readonly lines: LogLine[];
  /** All of stderr so far. */
  stderr(): string;
  /** Resolves with the first line (already read or to come) for which `pred` holds. */
  waitForLog(pred: (l: LogLine) => boolean, what?: string, timeoutMs?: number): Promise<LogLine>;
  /** Resolves with the next line for which `pred` holds, ignoring the lines read so far. */
  nextLog(pred: (l: LogLine) => boolean, what?: string, timeoutMs?: number): Promise<LogLine>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children = new Set<ChildProcess>();

/** Kill every child still running (afterEach). */
export async function killChildren(): Promise<void> {
  const left = [...children];
  children.clear();
  await Promise.all(
    left.map(async (c) => {
      if (c.exitCode !== null || c.signalCode !== null) return;
      const gone = once(c, 'exit');
      c.kill('SIGKILL');
      await gone;
    }),
  );
}

/** Spawn `node dist/cli.js ARGS` with stdout/stderr captured; the child is tracked for `killChildren`. */
export function runCli(args: readonly string[]): {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
} {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once('close', (code, signal) => {
      children.delete(child);
      r({ code, signal });
    }),
  );
  return { child, stdout: () => out, stderr: () => err, exited };
}

/**
 * Write the config made by `yaml(port, adminPort)` to `file` and run `wstap serve` on it; resolves
 * once it logged "wstap listening". Ports are taken free and, if another process grabbed one in
 * between (EADDRINUSE), taken again.
 */
export async function serve(file: string, yaml: (port: number, adminPort: number) => string, timeoutMs = 10_000): Promise<Served> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const adminPort = await freePort();
    if (port === adminPort) continue;
    writeFileSync(file, yaml(port, adminPort));
    const run = runCli(['serve', '--config', file]);
    const lines: LogLine[] = [];
    let buf = '';
    const waiters = new Set<() => void>();
    run.child.stderr!.on('data', (s: string) => {
      buf += s;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          lines.push(JSON.parse(line) as LogLine);
        } catch {
          lines.push({ msg: line, raw: true });
        }
      }
      for (const w of [...waiters]) w();
    });
    let exitedNow = false;
    void run.exited.then(() => {
      exitedNow = true;
      for (const w of [...waiters]) w();
    });
    const find = (from: number, pred: (l: LogLine) => boolean, what: string, ms: number): Promise<LogLine> =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => done(new Error(`timed out waiting for log "${what}"; stderr:\n${run.stderr()}`)), ms);
        const check = (): void => {
          const hit = lines.slice(from).find(pred);
          if (hit) return done(undefined, hit);
          if (exitedNow) done(new Error(`wstap exited before logging "${what}"; stderr:\n${run.stderr()}`));
        };
        function done(err: Error | undefined, line?: LogLine): void {
          clearTimeout(timer);
          waiters.delete(check);
          if (err) reject(err);
          else resolve(line!);
        }
        waiters.add(check);
        check();
      });
    const served: Served = {
      child: run.child,
      port,
      adminPort,
      url: `ws://127.0.0.1:${port}`,
      admin: `http://127.0.0.1:${adminPort}`,
      lines,
      stderr: run.stderr,
      waitForLog: (pred, what = 'a line', ms = 10_000) => find(0, pred, what, ms),
      nextLog: (pred, what = 'a line', ms = 10_000) => find(lines.length, pred, what, ms),
      exited: run.exited,
    };
    try {
      await served.waitForLog((l) => l.msg === 'wstap listening', 'wstap listening', timeoutMs);
      return served;
    } catch (err) {
      await run.exited;
      if (attempt < 5 && /already in use/.test(run.stderr())) continue;
      throw err;
    }
  }
}

/** A fresh temp directory for a test's config files. */
export function tempDir(): { dir: string; file: (name: string) => string; remove: () => void } {
  const dir = join(tmpdir(), `wstap-e2e-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`);
  mkdirSync(dir, { recursive: true });
  return { dir, file: (name) => join(dir, name), remove: () => rmSync(dir, { recursive: true, force: true }) };
}
