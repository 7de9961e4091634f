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
  /** The running CLI script (`process.argv[1]`): what cluster workers are started from. */
  readonly script?: string;
  /** Present when this process is a cluster worker: the IPC channel to the primary. */
  readonly parent?: ParentChannel;
}

/** A cluster worker's line to its primary (`workers:` above 1). */
export interface ParentChannel {
  /** The worker's slot, 0…workers-1 (a restarted worker takes the slot of the one it replaces). */
  readonly index: number;
  send(message: unknown): void;
  /** Messages from the primary; returns the function that stops listening. */
  onMessage(handler: (message: unknown) => void): () => void;
  /** The primary went away (the IPC channel closed). */
  onDisconnect(handler: () => void): () => void;
}

export type Command = (argv: readonly string[], io: CommandIO) => Promise<number>;

/** A usage problem: the CLI prints it with the command's help and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
