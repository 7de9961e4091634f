/**
 * python-websockets (Debian's python3-websockets) as an independent peer: an echo server and a
 * scripted client from `test/fixtures/python/`. Always `/usr/bin/python3`: a `python3` found
 * earlier on PATH may lack the module. Every process started here is tracked; `killAll()` ends
 * them (call it in afterEach).
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

export const PYTHON = '/usr/bin/python3';
const FIXTURES = fileURLToPath(new URL('../fixtures/python/', import.meta.url));

const live = new Set<ChildProcessWithoutNullStreams>();

/** Undefined when python-websockets can be imported, else why not. */
export function pythonWebsocketsProblem(): string | undefined {
  const r = spawnSync(PYTHON, ['-c', 'import websockets; print(websockets.__version__)'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error) return `${PYTHON}: ${r.error.message}`;
  if (r.status !== 0) return `${PYTHON} cannot import websockets (apt-get install python3-websockets): ${r.stderr.trim()}`;
  return undefined;
}

function start(script: string, args: string[]): ChildProcessWithoutNullStreams {
  const proc = spawn(PYTHON, [FIXTURES + script, ...args], { stdio: 'pipe' });
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  return proc;
}

export interface PythonServer {
  readonly port: number;
  readonly url: string;
  readonly proc: ChildProcessWithoutNullStreams;
}

/** Start the echo server and wait for the port it prints. */
export async function pythonEchoServer(): Promise<PythonServer> {
  const proc = start('echo_server.py', []);
  let err = '';
  proc.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) resolve(Number(line.trim()));
    });
    proc.once('exit', (code) => reject(new Error(`echo_server.py exited (${code}) before printing its port: ${err}`)));
  });
  return { port, url: `ws://127.0.0.1:${port}`, proc };
}

export interface ClientSpec {
  readonly url: string;
  readonly subprotocols?: readonly string[];
  readonly messages: readonly ({ text: string } | { hex: string } | { fill: number; binary?: boolean })[];
  /** Hex payload of a ping to send after the messages. */
  readonly ping?: string;
  readonly close: readonly [number, string];
}

export interface ClientResult {
  readonly received: { binary: boolean; len: number; sha: string }[];
  readonly subprotocol: string | null;
  readonly extensions: string[];
  readonly pong?: boolean;
  readonly close_code: number;
  readonly close_reason: string;
}

/** Run the scripted client to its end; rejects with its stderr if it fails. */
export async function runPythonClient(spec: ClientSpec): Promise<ClientResult> {
  const proc = start('client.py', [JSON.stringify(spec)]);
  proc.stdin.end();
  let out = '';
  let err = '';
  proc.stdout.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const [code] = (await once(proc, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`client.py exited ${code}: ${err}`);
  return JSON.parse(out) as ClientResult;
}

/** Kill every python process still running and wait for them to exit. */
export async function killAll(): Promise<void> {
  await Promise.all(
    [...live].map(async (proc) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = once(proc, 'exit');
      proc.kill('SIGKILL');
      await exited;
    }),
  );
}
