#!/usr/bin/env node
/**
 * argv → command. The only file that touches `process`: exit codes, signals, and the last-resort
 * handlers that keep a peer's fault from ever crashing the proxy silently.
 */
import cluster from 'node:cluster';
import { ConfigError } from './config/load.js';
import { UsageError, type Command, type CommandIO, type ParentChannel } from './commands/io.js';
import { serveCommand, serveHelp } from './commands/serve.js';
import { validateCommand, validateHelp } from './commands/validate.js';
import { statusCommand, statusHelp } from './commands/status.js';
import { demoCommand, demoHelp } from './commands/demo.js';
import { checkCommand, checkHelp } from './commands/check.js';
import { monitorCommand, monitorHelp } from './commands/monitor.js';
import { stickyCheckCommand, stickyCheckHelp } from './commands/sticky-check.js';
import { VERSION } from './version.js';

const COMMANDS: Record<string, { run: Command; help: string; summary: string }> = {
  serve: { run: serveCommand, help: serveHelp, summary: 'run the proxy until SIGTERM/SIGINT' },
  validate: { run: validateCommand, help: validateHelp, summary: 'check a config file' },
  check: { run: checkCommand, help: checkHelp, summary: 'one synthetic WebSocket health check of a URL' },
  monitor: { run: monitorCommand, help: monitorHelp, summary: "run the config's synthetic monitors (--once: each once)" },
  'sticky-check': { run: stickyCheckCommand, help: stickyCheckHelp, summary: 'reconnect N times: do all reach the same backend?' },
  status: { run: statusCommand, help: statusHelp, summary: "print a running proxy's close-code health report" },
  demo: { run: demoCommand, help: demoHelp, summary: 'two echo backends, wstap in front, a little traffic' },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  return [
    `wstap ${VERSION} — a transparent WebSocket reverse proxy that measures every session`,
    '',
    'Usage: wstap <command> [options]',
    '',
    ...Object.entries(COMMANDS).map(([k, c]) => `  ${k.padEnd(width)}  ${c.summary}`),
    '',
    "Run 'wstap <command> --help' for a command's options.",
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const cmd = COMMANDS[name];
  if (cmd === undefined) {
    process.stderr.write(`wstap: unknown command "${name}"\n\n${usage()}\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${cmd.help}\n`);
    return 0;
  }
  const io: CommandIO = {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    onSignal(signal, handler) {
      process.on(signal, handler);
      return () => process.off(signal, handler);
    },
    ...(process.argv[1] !== undefined ? { script: process.argv[1] } : {}),
    ...(cluster.isWorker ? { parent: parentChannel() } : {}),
  };
  try {
    return await cmd.run(rest, io);
  } catch (err) {
    if (err instanceof UsageError || (err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`wstap ${name}: ${(err as Error).message}\n\n${cmd.help}\n`);
      return 2;
    }
    if (err instanceof ConfigError) {
      for (const p of err.problems) process.stderr.write(`${p}\n`);
      process.stderr.write(`wstap ${name}: invalid config (${err.problems.length} problem${err.problems.length === 1 ? '' : 's'})\n`);
      return 1;
    }
    process.stderr.write(`wstap ${name}: ${(err as Error).message}\n`);
    return 1;
  }
}

/** The IPC channel of a cluster worker (`wstap serve` with `workers:` above 1 forked us). */
function parentChannel(): ParentChannel {
  return {
    index: Number(process.env.WSTAP_WORKER_INDEX ?? 0),
    send(message) {
      // The primary may be gone already; a dead channel is reported through onDisconnect.
      if (process.connected) process.send?.(message);
    },
    onMessage(handler) {
      process.on('message', handler);
      return () => process.off('message', handler);
    },
    onDisconnect(handler) {
      process.on('disconnect', handler);
      return () => process.off('disconnect', handler);
    },
  };
}

// A peer's fault must never take the proxy down (SPEC §6). Anything that reaches here is a bug:
// log it loudly, keep serving.
process.on('uncaughtException', (err) => {
  process.stderr.write(`${JSON.stringify({ level: 50, msg: 'uncaught exception (bug: please report)', err: String(err?.stack ?? err) })}\n`);
});
process.on('unhandledRejection', (err) => {
  process.stderr.write(`${JSON.stringify({ level: 50, msg: 'unhandled rejection (bug: please report)', err: String((err as Error)?.stack ?? err) })}\n`);
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Let stdout/stderr flush, then leave even if a stray handle remains.
    setTimeout(() => process.exit(code), 50).unref();
  },
  (err: unknown) => {
    process.stderr.write(`wstap: ${String(err)}\n`);
    process.exit(1);
  },
);
