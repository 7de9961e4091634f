/**
 * The structured logger (pino): one JSON object per line on stderr, so stdout stays free for
 * command output (`wstap check --json`, `wstap status`). `pretty` prints `level msg key=value`.
 */
import { pino, type Logger, type LevelWithSilent } from 'pino';
import { Writable } from 'node:stream';

export type { Logger };

export interface LogOptions {
  readonly level: LevelWithSilent;
  readonly format?: 'json' | 'pretty';
  /** Where lines go; default stderr. */
  readonly destination?: NodeJS.WritableStream;
}

/** Create the process logger. */
export function createLogger(opts: LogOptions): Logger {
  const dest = opts.destination ?? process.stderr;
  if (opts.format === 'pretty') {
    return pino({ level: opts.level, base: undefined, timestamp: false }, prettyStream(dest));
  }
  return pino({ level: opts.level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, dest);
}

/** A logger that drops everything: for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

function prettyStream(dest: NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      try {
        const { level, msg, time: _t, ...rest } = JSON.parse(chunk.toString()) as Record<string, unknown>;
        const kv = Object.entries(rest)
          .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
          .join(' ');
        dest.write(`${LEVELS[level as number] ?? level} ${String(msg ?? '')}${kv ? ' ' + kv : ''}\n`);
      } catch {
        dest.write(chunk);
      }
      cb();
    },
  });
}
