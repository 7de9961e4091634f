/**
 * A CommandIO that captures stdout/stderr in strings and lets the test deliver signals, so a
 * command is driven exactly as the CLI drives it, minus `process`.
 */
import { Writable } from 'node:stream';
import type { CommandIO } from '../../../src/commands/io.js';

type Sig = 'SIGTERM' | 'SIGINT' | 'SIGHUP';

export interface CapturedIO extends CommandIO {
  readonly out: () => string;
  readonly err: () => string;
  /** Deliver a signal to every handler the command registered for it. */
  signal(sig: Sig): void;
  /** Handlers still registered (a command must remove its own before returning). */
  handlerCount(): number;
}

function sink(chunks: string[]): Writable {
  return new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
}

export function captureIO(env: NodeJS.ProcessEnv = {}): CapturedIO {
  const out: string[] = [];
  const err: string[] = [];
  const handlers = new Map<Sig, Set<() => void>>();
  return {
    stdout: sink(out),
    stderr: sink(err),
    env,
    out: () => out.join(''),
    err: () => err.join(''),
    onSignal(sig, handler) {
      let set = handlers.get(sig);
      if (set === undefined) handlers.set(sig, (set = new Set()));
      set.add(handler);
      return () => set.delete(handler);
    },
    signal(sig) {
      for (const h of [...(handlers.get(sig) ?? [])]) h();
    },
    handlerCount() {
      return [...handlers.values()].reduce((n, s) => n + s.size, 0);
    },
  };
}
