/**
 * What a command gets from the CLI instead of touching `process` itself: its output streams,
 * the environment, and a way to be told about signals. A command returns its exit code.
 */
export interface CommandIO {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly env: NodeJS.ProcessEnv;
  /** Register a handler for SIGTERM/SIGINT/SIGHUP; returns the function that removes it. */
  onSignal(signal: 'SIGTERM' | 'SIGINT' | 'SIGHUP', handler: () => void): () => void;
}

export type Command = (argv: readonly string[], io: CommandIO) => Promise<number>;

/** A usage problem: the CLI prints it with the command's help and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
