/**
 * Tools of the fault suite (research §6, test/integration/faults/): a streaming frame reader
 * that hashes data payloads as they pass (so 200 MB can be checked for loss and reordering
 * without holding them), a reader throttle for slow clients and backends, RSS sampling of a
 * child process from /proc, a child `ws` server that a test can SIGKILL, bounded-concurrency
 * loops, and an HTTP GET that leaves no keep-alive socket behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, type Hash } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { Socket } from 'node:net';
import { ROOT } from './cli.js';

// ─── a streaming frame reader ─────────────────────────────────────────────────────────────────

export interface FrameHead {
  readonly fin: boolean;
  readonly rsv: number;
  readonly opcode: number;
  readonly masked: boolean;
  readonly length: number;
  /** Byte offset of the frame's first header byte in the stream fed so far. */
  readonly at: number;
}

export interface FrameReaderEvents {
  /** Every frame header, when it is complete. */
  onHead?(h: FrameHead): void;
  /** A whole control frame (unmasked payload). */
  onControl?(opcode: number, payload: Buffer, h: FrameHead): void;
  /** A data message completed (all its fragments): opcode and payload bytes. */
  onMessage?(opcode: number, size: number): void;
  /**
   * Given: text messages are kept apart (not hashed, not counted in `dataBytes`) and handed
   * here whole — for small side-channel messages in a binary stream.
   */
  onText?(text: string): void;
}

/**
 * Reads RFC 6455 frames from a byte stream fed in arbitrary chunks. Data payloads (opcodes 0, 1,
 * 2) are unmasked and fed to a SHA-256 as they pass, never stored; control payloads (≤ 125 bytes)
 * are assembled and handed to `onControl`.
 */
export class FrameReader {
  readonly hash: Hash = createHash('sha256');
  /** Data payload bytes seen. */
  dataBytes = 0;
  /** Stream bytes fed. */
  streamBytes = 0;
  messages = 0;
  frames = 0;
  readonly opcodes = new Map<number, number>();
  /** Close frames seen: their code (1005 when empty). */
  readonly closeCodes: number[] = [];
  #hdr = Buffer.alloc(14);
  #hdrHave = 0;
  #remaining = 0;
  #opcode = 0;
  #key: Buffer | null = null;
  #keyAt = 0;
  #ctrl: Buffer | null = null;
  #ctrlHave = 0;
  #head: FrameHead | undefined;
  #msgOpcode = 0;
  #msgSize = 0;
  #fin = false;
  #text: Buffer[] | null = null;

  constructor(private readonly ev: FrameReaderEvents = {}) {}

  /** A frame header or payload is partly read: the stream does not end at a frame boundary. */
  get midFrame(): boolean {
    return this.#hdrHave > 0 || this.#remaining > 0;
  }

  digest(): string {
    return this.hash.copy().digest('hex');
  }

  push(chunk: Buffer): void {
    let pos = 0;
    const len = chunk.length;
    while (pos < len) {
      if (this.#remaining > 0) {
        const n = Math.min(this.#remaining, len - pos);
        this.#payload(chunk.subarray(pos, pos + n));
        pos += n;
        this.#remaining -= n;
        if (this.#remaining === 0) this.#frameEnd();
        continue;
      }
      // Header bytes.
      this.#hdr[this.#hdrHave++] = chunk[pos++]!;
      const need = headerSize(this.#hdr, this.#hdrHave);
      if (need === 0 || this.#hdrHave < need) continue;
      this.#startFrame(this.streamBytes + pos - need);
    }
    this.streamBytes += len;
  }

  #startFrame(at0: number): void {
    const h = this.#hdr;
    const b0 = h[0]!;
    const b1 = h[1]!;
    let length = b1 & 0x7f;
    let at = 2;
    if (length === 126) {
      length = h.readUInt16BE(2);
      at = 4;
    } else if (length === 127) {
      length = Number(h.readBigUInt64BE(2));
      at = 10;
    }
    const masked = (b1 & 0x80) !== 0;
    // A zero key masks nothing: skip the byte loop (the bulk tests send such frames).
    this.#key = masked && h.readUInt32BE(at) !== 0 ? Buffer.from(h.subarray(at, at + 4)) : null;
    this.#keyAt = 0;
    this.#opcode = b0 & 0x0f;
    const head: FrameHead = { fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 7, opcode: this.#opcode, masked, length, at: at0 };
    this.#head = head;
    this.#hdrHave = 0;
    this.frames++;
    this.opcodes.set(head.opcode, (this.opcodes.get(head.opcode) ?? 0) + 1);
    this.ev.onHead?.(head);
    if (head.opcode >= 8) {
      this.#ctrl = Buffer.alloc(length);
      this.#ctrlHave = 0;
    } else {
      if (head.opcode !== 0) {
        this.#msgOpcode = head.opcode;
        this.#msgSize = 0;
      }
      this.#fin = head.fin;
    }
    this.#remaining = length;
    if (length === 0) this.#frameEnd();
  }

  #payload(part: Buffer): void {
    let data = part;
    if (this.#key !== null) {
      data = Buffer.allocUnsafe(part.length);
      const k = this.#key;
      const j = this.#keyAt;
      for (let i = 0; i < part.length; i++) data[i] = part[i]! ^ k[(j + i) & 3]!;
      this.#keyAt = (j + part.length) & 3;
    }
    if (this.#ctrl !== null) {
      data.copy(this.#ctrl, this.#ctrlHave);
      this.#ctrlHave += data.length;
      return;
    }
    this.#msgSize += data.length;
    if (this.#msgOpcode === 0x1 && this.ev.onText !== undefined) {
      (this.#text ??= []).push(Buffer.from(data));
      return;
    }
    this.hash.update(data);
    this.dataBytes += data.length;
  }

  #frameEnd(): void {
    const head = this.#head!;
    if (this.#ctrl !== null) {
      const p = this.#ctrl;
      this.#ctrl = null;
      if (head.opcode === 8) this.closeCodes.push(p.length >= 2 ? p.readUInt16BE(0) : 1005);
      this.ev.onControl?.(head.opcode, p, head);
      return;
    }
    if (this.#fin && this.#msgOpcode !== 0) {
      this.messages++;
      const op = this.#msgOpcode;
      this.#msgOpcode = 0;
      if (op === 0x1 && this.ev.onText !== undefined) {
        const text = Buffer.concat(this.#text ?? []).toString();
        this.#text = null;
        this.ev.onText(text);
      }
      this.ev.onMessage?.(op, this.#msgSize);
    }
  }
}

function headerSize(h: Buffer, have: number): number {
  if (have < 2) return 0;
  const b1 = h[1]!;
  const len7 = b1 & 0x7f;
  return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (b1 & 0x80 ? 4 : 0);
}

/** A masked frame header (FIN, given opcode) for a payload of `len` bytes, mask key all zero: the payload goes as is. */
export function zeroMaskHeader(opcode: number, len: number, fin = true): Buffer {
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const h = Buffer.alloc(2 + ext + 4);
  h[0] = (fin ? 0x80 : 0) | opcode;
  h[1] = 0x80 | (ext === 0 ? len : ext === 2 ? 126 : 127);
  if (ext === 2) h.writeUInt16BE(len, 2);
  else if (ext === 8) h.writeBigUInt64BE(BigInt(len), 2);
  return h;
}

/** An unmasked (server) frame header for a payload of `len` bytes. */
export function serverHeader(opcode: number, len: number, fin = true): Buffer {
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const h = Buffer.alloc(2 + ext);
  h[0] = (fin ? 0x80 : 0) | opcode;
  h[1] = ext === 0 ? len : ext === 2 ? 126 : 127;
  if (ext === 2) h.writeUInt16BE(len, 2);
  else if (ext === 8) h.writeBigUInt64BE(BigInt(len), 2);
  return h;
}

// ─── slow readers ─────────────────────────────────────────────────────────────────────────────

export interface Throttle {
  /** Bytes read so far. */
  readonly bytes: () => number;
  /** Times the socket was paused to hold the rate. */
  readonly pauses: () => number;
  stop(): void;
}

/**
 * Read `socket` at about `bytesPerSec`: after each chunk, if more has been read than the rate
 * allows by now, pause the socket until the budget catches up. The kernel buffers fill and the
 * sender sees backpressure. Adds its own 'data' listener; the caller reads with its own.
 */
export function throttle(socket: Socket, bytesPerSec: number): Throttle {
  let bytes = 0;
  let pauses = 0;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const t0 = performance.now();
  const onData = (b: Buffer): void => {
    bytes += b.length;
    const due = (bytes / bytesPerSec) * 1000 - (performance.now() - t0);
    if (due > 2 && timer === undefined && !stopped) {
      socket.pause();
      pauses++;
      timer = setTimeout(() => {
        timer = undefined;
        if (!stopped && !socket.destroyed) socket.resume();
      }, due);
    }
  };
  socket.on('data', onData);
  return {
    bytes: () => bytes,
    pauses: () => pauses,
    stop() {
      stopped = true;
      clearTimeout(timer);
      timer = undefined;
      socket.off('data', onData);
      if (!socket.destroyed) socket.resume();
    },
  };
}

// ─── memory of another process ────────────────────────────────────────────────────────────────

/** VmRSS of a process, in KiB (Linux /proc). */
export function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

export interface RssSampler {
  /** Stop sampling: the peak and the number of samples taken. */
  stop(): { peakKiB: number; samples: number; lastKiB: number };
}

/** Sample a process's RSS every `everyMs` (a bounded poll: RSS has no event). */
export function sampleRss(pid: number, everyMs = 25): RssSampler {
  let peak = 0;
  let last = 0;
  let samples = 0;
  const take = (): void => {
    try {
      last = rssKiB(pid);
    } catch {
      return; // the process is gone: the test will see it
    }
    samples++;
    if (last > peak) peak = last;
  };
  take();
  const t = setInterval(take, everyMs);
  return {
    stop() {
      clearInterval(t);
      take();
      return { peakKiB: peak, samples, lastKiB: last };
    },
  };
}

// ─── HTTP without keep-alive ──────────────────────────────────────────────────────────────────

/** GET a JSON document with a one-shot connection (no agent: no socket outlives the call). */
export function getJson<T = Record<string, unknown>>(url: string): Promise<{ status: number; body: T }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers: { connection: 'close' } }, (res) => {
      let s = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (s += c));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: (s ? JSON.parse(s) : {}) as T });
        } catch (e) {
          reject(new Error(`not JSON from ${url}: ${s.slice(0, 200)} (${String(e)})`));
        }
      });
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

// ─── child processes ──────────────────────────────────────────────────────────────────────────

export interface ChildServer {
  readonly child: ChildProcess;
  readonly port: number;
  readonly url: string;
  /** Lines the child printed on stdout after its port. */
  nextLine(): Promise<string>;
  /** Write a line to the child's stdin (started with `{ stdin: true }`). */
  send(line: string): void;
  /** SIGKILL (if still running) and wait for the exit. */
  kill(): Promise<void>;
}

const childServers = new Set<ChildProcess>();

/**
 * Run an ES module given as text in a child `node` (cwd: the repo, so `ws` resolves). It must
 * print the port it listens on as its first stdout line; later lines are handed to `nextLine`.
 */
export async function childServer(code: string, o: { stdin?: boolean } = {}): Promise<ChildServer> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { cwd: ROOT, stdio: [o.stdin ? 'pipe' : 'ignore', 'pipe', 'inherit'] });
  childServers.add(child);
  child.once('exit', () => childServers.delete(child));
  const lines: string[] = [];
  let waiters: ((l: string) => void)[] = [];
  let buf = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => {
    buf += s;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const w = waiters.shift();
      if (w) w(line);
      else lines.push(line);
    }
  });
  const nextLine = (): Promise<string> => {
    const l = lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    return new Promise((resolve, reject) => {
      waiters.push(resolve);
      child.once('exit', (c, s) => reject(new Error(`child exited (${c ?? s}) before printing a line`)));
    });
  };
  const port = Number(await nextLine());
  const kill = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = once(child, 'exit');
    child.kill('SIGKILL');
    await gone;
    waiters = [];
  };
  const send = (line: string): void => void child.stdin!.write(`${line}\n`);
  return { child, port, url: `ws://127.0.0.1:${port}`, nextLine, send, kill };
}

/** SIGKILL every child started by `childServer` that still runs (afterEach). */
export async function killChildServers(): Promise<void> {
  await Promise.all(
    [...childServers].map(async (c) => {
      if (c.exitCode !== null || c.signalCode !== null) return;
      const gone = once(c, 'exit');
      c.kill('SIGKILL');
      await gone;
    }),
  );
  childServers.clear();
}

// ─── loops ────────────────────────────────────────────────────────────────────────────────────

/** Run `fn` over `items` with at most `concurrency` in flight. */
export async function pool<T>(items: readonly T[], concurrency: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    for (let i = next++; i < items.length; i = next++) await fn(items[i]!, i);
  });
  await Promise.all(workers);
}

/** Resolves after `n` turns of the event loop (setImmediate), for "a little later" without a clock. */
export function ticks(n: number): Promise<void> {
  return new Promise((resolve) => {
    const step = (k: number): void => (k <= 0 ? resolve() : void setImmediate(() => step(k - 1)));
    step(n);
  });
}

/** Resolves true on the socket's next 'drain', false if it closes first (after a write() that returned false). */
export function drainOf(socket: Socket): Promise<boolean> {
  if (socket.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (ok: boolean): void => {
      socket.off('drain', onDrain);
      socket.off('close', onClose);
      resolve(ok);
    };
    const onDrain = (): void => done(true);
    const onClose = (): void => done(false);
    socket.on('drain', onDrain);
    socket.on('close', onClose);
  });
}

// ─── a wstap process ──────────────────────────────────────────────────────────────────────────

/** Poll (bounded) until `cond` holds: only for state of another process or a raw server, which have no event. */
export async function eventually(cond: () => boolean | Promise<boolean>, what: string | (() => string), ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Resolves once a running wstap's /status reports no session and no pending handshake. */
export function wstapIdle(admin: string, ms = 5000): Promise<void> {
  let last = '';
  return eventually(
    async () => {
      const s = (await getJson<{ active_sessions: number; pending_handshakes: number }>(`${admin}/status`)).body;
      last = `${s.active_sessions} sessions, ${s.pending_handshakes} handshakes`;
      return s.active_sessions === 0 && s.pending_handshakes === 0;
    },
    () => `wstap to report no session (${last})`,
    ms,
  );
}
