/**
 * The differential conformance harness (research/protocol-and-reliability.md §4.3, §6 #10–11):
 * a raw WebSocket peer that can send any frame in any chopping and records, timing-independently,
 * what it gets back — used as a client against a `ws` echo server, and as a scripted fake backend
 * in front of a `ws` client — run once directly and once through wstap, whose outcomes must match.
 *
 * The peer behaves like a normal endpoint where the cases do not script otherwise:
 * - it answers every ping with a pong of the same payload, but only at a frame boundary of what
 *   IT sends (never inside one of its own frames: such replies wait for the end of the frame);
 * - it answers no ping once a close frame went either way (RFC 6455 §5.5.2);
 * - it echoes the first close frame it receives when it has not sent one (§5.5.1), then, as a
 *   server, closes the TCP connection once both close frames have passed (§7.1.1); as a client
 *   it waits for the server to close it first;
 * - with permessage-deflate negotiated it compresses what it is told to and inflates what it
 *   gets (RFC 7692, context takeover and window bits as negotiated), synchronously: a preset
 *   dictionary of the last window of data stands in for the sliding window of a long stream.
 *
 * wstap's own pings (12-byte payload starting with the ASCII magic `wstp`) are answered like any
 * ping but left out of the recorded outcome: they are the one thing allowed to differ.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net, { type AddressInfo, type Socket } from 'node:net';
import zlib from 'node:zlib';
import { WebSocket } from 'ws';
import { frame } from '../helpers/frames.js';
import { Prng, acceptKey, headEnd, headerValues, parseResponseHead, upgradeRequest } from '../helpers/raw.js';

// ─── frames ───────────────────────────────────────────────────────────────────────────────────

export const OP = { cont: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

const OPNAME: Readonly<Record<number, string>> = { 0: 'cont', 1: 'text', 2: 'binary', 8: 'close', 9: 'ping', 10: 'pong' };

/** A frame a script sends. Masking follows the peer's role unless `mask` says otherwise. */
export interface F {
  readonly op: number;
  readonly data?: Buffer | string;
  /** Default true. */
  readonly fin?: boolean;
  /** RSV bits as a number: 4 = RSV1, 2 = RSV2, 1 = RSV3. */
  readonly rsv?: number;
  /** Override the role's masking (a client that does not mask, a server that does). */
  readonly mask?: boolean;
  /** Length encoding (a non-minimal one included); default minimal. */
  readonly enc?: 7 | 16 | 64;
  /** A declared length other than the payload's (e.g. 2^63, with the MSB set). */
  readonly declared?: bigint;
}

/** How the bytes of one step are cut into writes. */
export type Chop =
  /** All frames of the step in one write. */
  | 'whole'
  /** One write per frame (the default). */
  | 'frame'
  /** One write per octet. */
  | 'octet'
  /** Fixed-size writes across the step's bytes. */
  | number
  /** Random sizes from the case's seeded PRNG (mostly tiny, sometimes large). */
  | 'random'
  /** Writes of `every` bytes with a pause between them (lets the proxy's pings land mid-frame). */
  | { readonly every: number; readonly pauseMs: number };

/** A message for permessage-deflate cases: compressed (RSV1) unless told not to, optionally fragmented. */
export interface M {
  readonly data: Buffer;
  readonly binary?: boolean;
  /** Fragment the (compressed) payload into frames of this many bytes. */
  readonly frag?: number;
  /** Default true when permessage-deflate was negotiated. */
  readonly compress?: boolean;
}

export type Step =
  | { readonly send: readonly F[]; readonly chop?: Chop }
  | { readonly msgs: readonly M[]; readonly chop?: Chop }
  /** Send a close frame, unless one was sent already (like an endpoint's `close()`). */
  | { readonly close: { readonly code?: number; readonly reason?: Buffer | string }; readonly chop?: Chop }
  /** Wait until `n` frames (close frames aside) were received, or a close frame came, or the TCP closed. */
  | { readonly wait: number }
  /** Wait until a close frame was received (or the TCP closed). */
  | { readonly waitClose: true }
  | { readonly pause: number };

/** A 12-byte payload starting with `wstp`: wstap's heartbeat nonce. */
export function isWstapNonce(payload: Buffer): boolean {
  return payload.length === 12 && payload[0] === 0x77 && payload[1] === 0x73 && payload[2] === 0x74 && payload[3] === 0x70;
}

/** A short, stable description of a payload: hex up to 32 bytes, else length and hash. */
export function payloadDesc(p: Buffer): string {
  return p.length <= 32 ? `${p.length}:${p.toString('hex')}` : `${p.length}:#${createHash('sha1').update(p).digest('hex').slice(0, 16)}`;
}

/** How a received frame is recorded: `text 5:68656c6c6f`, `cont… 3:…`, `text[rsv4] …`. */
export function frameDesc(opcode: number, payload: Buffer, fin = true, rsv = 0): string {
  const name = OPNAME[opcode] ?? `op${opcode}`;
  return `${name}${fin ? '' : '…'}${rsv !== 0 ? `[rsv${rsv}]` : ''} ${payloadDesc(payload)}`;
}

/** How a complete (inflated) message is recorded when permessage-deflate is on. */
export function msgDesc(binary: boolean, data: Buffer, compressed = true): string {
  return `msg ${binary ? 'binary' : 'text'}${compressed ? 'z' : ''} ${payloadDesc(data)}`;
}

/** The code a close payload carries, as wstap records it: 1005 when shorter than 2 bytes. */
export function closeCode(payload: Buffer): number {
  return payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
}

interface RxFrame {
  readonly fin: boolean;
  readonly rsv: number;
  readonly opcode: number;
  readonly masked: boolean;
  readonly payload: Buffer;
}

/** Incremental frame decoder: no quadratic re-concatenation on large frames. */
class FrameReader {
  #chunks: Buffer[] = [];
  #have = 0;
  #need = 2;
  /** Framing lost (absurd length): everything after is garbage. */
  lost = false;

  push(b: Buffer): RxFrame[] {
    if (this.lost) return [];
    this.#chunks.push(b);
    this.#have += b.length;
    if (this.#have < this.#need) return [];
    let buf = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks);
    const out: RxFrame[] = [];
    let pos = 0;
    for (;;) {
      const avail = buf.length - pos;
      if (avail < 2) {
        this.#need = 2;
        break;
      }
      const b0 = buf[pos]!;
      const b1 = buf[pos + 1]!;
      const len7 = b1 & 0x7f;
      const masked = (b1 & 0x80) !== 0;
      const hsize = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (masked ? 4 : 0);
      if (avail < hsize) {
        this.#need = hsize;
        break;
      }
      let len = len7;
      if (len7 === 126) len = buf.readUInt16BE(pos + 2);
      else if (len7 === 127) {
        const big = buf.readBigUInt64BE(pos + 2);
        if (big > 256n * 1024n * 1024n) {
          this.lost = true;
          out.push({ fin: true, rsv: 0, opcode: -1, masked, payload: Buffer.alloc(0) });
          this.#chunks = [];
          return out;
        }
        len = Number(big);
      }
      if (avail < hsize + len) {
        this.#need = hsize + len;
        break;
      }
      const payload = Buffer.from(buf.subarray(pos + hsize, pos + hsize + len));
      if (masked) {
        const key = buf.subarray(pos + hsize - 4, pos + hsize);
        for (let i = 0; i < len; i++) payload[i] = payload[i]! ^ key[i & 3]!;
      }
      out.push({ fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 7, opcode: b0 & 0x0f, masked, payload });
      pos += hsize + len;
    }
    buf = buf.subarray(pos);
    this.#chunks = buf.length > 0 ? [buf] : [];
    this.#have = buf.length;
    return out;
  }
}

// ─── permessage-deflate ───────────────────────────────────────────────────────────────────────

export interface DeflateParams {
  readonly serverNoContextTakeover: boolean;
  readonly clientNoContextTakeover: boolean;
  readonly serverMaxWindowBits: number;
  readonly clientMaxWindowBits: number;
}

/** The permessage-deflate parameters of a `Sec-WebSocket-Extensions` answer, or null. */
export function parseDeflate(header: string | undefined): DeflateParams | null {
  if (header === undefined) return null;
  const ext = header.split(',').map((e) => e.split(';').map((s) => s.trim()));
  const pmd = ext.find((e) => e[0] === 'permessage-deflate');
  if (!pmd) return null;
  const params = new Map<string, string | true>();
  for (const p of pmd.slice(1)) {
    const [k, v] = p.split('=').map((s) => s.trim());
    params.set(k!, v === undefined ? true : v.replace(/^"|"$/g, ''));
  }
  const bits = (k: string): number => {
    const v = params.get(k);
    return typeof v === 'string' ? Number(v) : 15;
  };
  return {
    serverNoContextTakeover: params.has('server_no_context_takeover'),
    clientNoContextTakeover: params.has('client_no_context_takeover'),
    serverMaxWindowBits: bits('server_max_window_bits'),
    clientMaxWindowBits: bits('client_max_window_bits'),
  };
}

const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
const WINDOW = 32 * 1024;

/** One side's compressor and decompressor, with context takeover as negotiated. */
class Deflate {
  #sent: Buffer = Buffer.alloc(0);
  #received: Buffer = Buffer.alloc(0);
  constructor(
    readonly p: DeflateParams,
    readonly role: Role,
  ) {}

  compress(data: Buffer): Buffer {
    const client = this.role === 'client';
    const bits = client ? this.p.clientMaxWindowBits : this.p.serverMaxWindowBits;
    const takeover = !(client ? this.p.clientNoContextTakeover : this.p.serverNoContextTakeover);
    const out = zlib.deflateRawSync(data, {
      finishFlush: zlib.constants.Z_SYNC_FLUSH,
      windowBits: bits,
      ...(takeover && this.#sent.length > 0 ? { dictionary: this.#sent } : {}),
    });
    if (takeover) this.#sent = tail(Buffer.concat([this.#sent, data]), 1 << bits);
    return out.length >= 4 && out.subarray(-4).equals(TAIL) ? out.subarray(0, -4) : out;
  }

  decompress(payload: Buffer): Buffer {
    const client = this.role === 'client';
    const takeover = !(client ? this.p.serverNoContextTakeover : this.p.clientNoContextTakeover);
    const out = zlib.inflateRawSync(Buffer.concat([payload, TAIL]), {
      finishFlush: zlib.constants.Z_SYNC_FLUSH,
      ...(takeover && this.#received.length > 0 ? { dictionary: this.#received } : {}),
    });
    if (takeover) this.#received = tail(Buffer.concat([this.#received, out]), WINDOW);
    return out;
  }
}

function tail(b: Buffer, n: number): Buffer {
  return b.length <= n ? b : Buffer.from(b.subarray(b.length - n));
}

// ─── the raw peer ─────────────────────────────────────────────────────────────────────────────

export type Role = 'client' | 'server';

/** Counters over every peer of the process (not compared: they show the harness was exercised). */
export const stats = {
  /** wstap pings received by raw peers. */
  wstapPings: 0,
  /** Replies (pongs, close echoes) that had to wait for the end of a frame the peer was sending. */
  repliesDeferred: 0,
  /** wstap pings a `ws` client received. */
  wsClientWstapPings: 0,
};

/** What a run of a case looked like from the raw peer: the part compared between runs. */
export interface Outcome {
  /** The `Sec-WebSocket-Extensions` of the 101 (raw clients only). */
  extensions?: string | null;
  /** Every frame received (wstap pings aside), inflated messages, and unmet waits, in order. */
  events: string[];
  /** The first close frame received: its code (1005 when empty) and reason (hex). */
  close: { code: number; reason: string } | null;
  /** Who sent the first close frame ('client' or 'server'), and its code; null when none. */
  first: { by: Role; code: number } | null;
  /** How the TCP connection ended: 'fin' (cleanly), 'reset:<code>', or 'timeout'. */
  tcp: string;
}

export class Peer {
  readonly events: string[] = [];
  close: Outcome['close'] = null;
  first: Outcome['first'] = null;
  tcp = 'open';
  sentClose = false;
  receivedClose = false;
  readonly closed: Promise<void>;
  readonly #reader = new FrameReader();
  readonly #deflate: Deflate | null;
  #replies: Buffer[] = [];
  #midFrame = false;
  #waiters: (() => void)[] = [];
  #isClosed = false;
  /** Fragments of the compressed message being received. */
  #rxMsg: { binary: boolean; compressed: boolean; parts: Buffer[] } | null = null;

  constructor(
    readonly socket: Socket,
    readonly role: Role,
    readonly prng: Prng,
    deflate: DeflateParams | null,
    initial: Buffer,
  ) {
    this.#deflate = deflate ? new Deflate(deflate, role) : null;
    socket.setNoDelay(true);
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.#isClosed = true;
        if (this.tcp === 'open') this.tcp = 'closed-without-fin';
        this.#wake();
        resolve();
      }),
    );
    socket.on('error', (e: NodeJS.ErrnoException) => {
      if (this.tcp === 'open' || this.tcp === 'fin') this.tcp = `reset:${e.code ?? e.message}`;
    });
    socket.on('end', () => {
      if (this.tcp === 'open') this.tcp = 'fin';
      // The other side is done: so are we (a client waits for exactly this).
      if (!socket.writableEnded) socket.end();
      this.#wake();
    });
    socket.on('data', (b: Buffer) => this.#onData(b));
    if (initial.length > 0) this.#onData(initial);
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  get outcome(): Outcome {
    return { events: [...this.events], close: this.close, first: this.first, tcp: this.tcp };
  }

  /** Frames received so far, close frames and notes aside. */
  get frameCount(): number {
    return this.events.filter((e) => !e.startsWith('close') && !e.startsWith('msg ') && !e.startsWith('!')).length;
  }

  // ---- receiving ----

  #onData(b: Buffer): void {
    for (const f of this.#reader.push(b)) this.#onFrame(f);
    this.#wake();
  }

  #onFrame(f: RxFrame): void {
    if (f.opcode === -1) {
      this.events.push('!garbage');
      return;
    }
    const p = f.payload;
    if (f.opcode === OP.ping) {
      if (isWstapNonce(p)) stats.wstapPings++;
      else this.events.push(frameDesc(f.opcode, p, f.fin, f.rsv));
      if (!this.sentClose && !this.receivedClose) this.#reply(this.#build({ op: OP.pong, data: p }));
      return;
    }
    this.events.push(frameDesc(f.opcode, p, f.fin, f.rsv));
    if (f.opcode === OP.close) {
      if (this.receivedClose) return;
      this.receivedClose = true;
      const code = closeCode(p);
      this.close = { code, reason: p.length > 2 ? p.subarray(2).toString('hex') : '' };
      if (this.first === null && p.length <= 125) this.first = { by: other(this.role), code };
      if (!this.sentClose) {
        // Echo the code (not the reason), like most endpoints.
        this.sentClose = true;
        this.#reply(this.#build({ op: OP.close, data: p.length >= 2 ? p.subarray(0, 2) : Buffer.alloc(0) }));
      }
      this.#maybeEnd();
      return;
    }
    if (this.#deflate !== null && (f.opcode === OP.text || f.opcode === OP.binary || f.opcode === OP.cont)) this.#onDeflateFrame(f);
  }

  #onDeflateFrame(f: RxFrame): void {
    if (f.opcode !== OP.cont) this.#rxMsg = { binary: f.opcode === OP.binary, compressed: (f.rsv & 4) !== 0, parts: [] };
    const m = this.#rxMsg;
    if (m === null) return;
    m.parts.push(f.payload);
    if (!f.fin) return;
    this.#rxMsg = null;
    const data = Buffer.concat(m.parts);
    if (!m.compressed) {
      this.events.push(msgDesc(m.binary, data, false));
      return;
    }
    try {
      this.events.push(msgDesc(m.binary, this.#deflate!.decompress(data)));
    } catch (e) {
      this.events.push(`!inflate-error ${(e as NodeJS.ErrnoException).code ?? ''}`);
    }
  }

  // ---- sending ----

  #build(f: F): Buffer {
    const masked = f.mask ?? this.role === 'client';
    // Replies are masked with keys of their own: the script's PRNG sequence stays the same whatever arrives.
    return frame({
      opcode: f.op,
      payload: f.data ?? Buffer.alloc(0),
      fin: f.fin ?? true,
      rsv: f.rsv ?? 0,
      mask: masked ? randomBytes(4) : false,
      ...(f.enc !== undefined ? { lengthEncoding: f.enc } : {}),
      ...(f.declared !== undefined ? { declaredLength: f.declared } : {}),
    });
  }

  #buildScripted(f: F): Buffer {
    const masked = f.mask ?? this.role === 'client';
    return frame({
      opcode: f.op,
      payload: f.data ?? Buffer.alloc(0),
      fin: f.fin ?? true,
      rsv: f.rsv ?? 0,
      mask: masked ? this.prng.bytes(4) : false,
      ...(f.enc !== undefined ? { lengthEncoding: f.enc } : {}),
      ...(f.declared !== undefined ? { declaredLength: f.declared } : {}),
    });
  }

  /** A pong or a close echo: now if we are between frames, else at the end of the current frame. */
  #reply(buf: Buffer): void {
    if (this.#midFrame) {
      stats.repliesDeferred++;
      this.#replies.push(buf);
      return;
    }
    if (this.socket.writable) this.socket.write(buf);
  }

  #flushReplies(): void {
    const list = this.#replies;
    this.#replies = [];
    for (const b of list) if (this.socket.writable) this.socket.write(b);
    this.#maybeEnd();
  }

  /** A server closes the TCP connection once close frames went both ways (§7.1.1). */
  #maybeEnd(): void {
    if (this.role === 'server' && this.sentClose && this.receivedClose && !this.#midFrame && this.#replies.length === 0) {
      if (!this.socket.writableEnded) this.socket.end();
    }
  }

  /** Write frames in the given chopping; replies go out only where one of the frames ends. */
  async send(specs: readonly F[], chop: Chop = 'frame'): Promise<void> {
    const frames = specs.map((f) => this.#buildScripted(f));
    const starts: number[] = [];
    const ends = new Set<number>();
    let total = 0;
    for (const f of frames) {
      starts.push(total);
      total += f.length;
      ends.add(total);
    }
    const all = frames.length === 1 ? frames[0]! : Buffer.concat(frames);
    const sizes = chopSizes(all.length, frames, chop, this.prng);
    const pause = typeof chop === 'object' ? chop.pauseMs : 0;
    let off = 0;
    for (let i = 0; i < sizes.length; i++) {
      if (!this.socket.writable) return;
      const size = sizes[i]!;
      // A close frame starting in this write: from now on we have sent a close.
      for (let k = 0; k < specs.length; k++) {
        const s = starts[k]!;
        if (s >= off && s < off + size && specs[k]!.op === OP.close) this.#markSentClose(specs[k]!);
      }
      this.#midFrame = true;
      const endAt = off + size;
      // A reply is waiting and one of our frames ends inside this write: send the reply there.
      if (this.#replies.length > 0) {
        for (const e of ends) {
          if (e > off && e < endAt && this.#replies.length > 0) {
            this.socket.write(all.subarray(off, e));
            off = e;
            this.#midFrame = false;
            this.#flushReplies();
            this.#midFrame = true;
          }
        }
      }
      this.socket.write(all.subarray(off, endAt));
      off = endAt;
      if (ends.has(off)) {
        this.#midFrame = false;
        this.#flushReplies();
      }
      if (i < sizes.length - 1) await (pause > 0 ? sleep(pause) : tick());
    }
    this.#midFrame = false;
    this.#flushReplies();
  }

  #markSentClose(f: F): void {
    const data = typeof f.data === 'string' ? Buffer.from(f.data) : (f.data ?? Buffer.alloc(0));
    // A close frame wstap can read: a control frame of ≤ 125 bytes, however malformed otherwise.
    const readable = data.length <= 125 && f.declared === undefined && (f.enc === undefined || f.enc === 7);
    if (readable && this.first === null && !this.receivedClose) this.first = { by: this.role, code: closeCode(data) };
    if (readable) this.sentClose = true;
  }

  /** Compress (as negotiated) and fragment messages, then send them. */
  async sendMessages(msgs: readonly M[], chop: Chop = 'frame'): Promise<void> {
    const frames: F[] = [];
    for (const m of msgs) {
      const compress = m.compress ?? this.#deflate !== null;
      const payload = compress ? this.#deflate!.compress(m.data) : m.data;
      const frag = m.frag ?? Math.max(payload.length, 1);
      const op = m.binary ? OP.binary : OP.text;
      for (let at = 0; at === 0 || at < payload.length; at += frag) {
        const last = at + frag >= payload.length;
        frames.push({ op: at === 0 ? op : OP.cont, data: payload.subarray(at, at + frag), fin: last, rsv: at === 0 && compress ? 4 : 0 });
      }
    }
    await this.send(frames, chop);
  }

  /** Resolves when `pred` holds or the connection is gone; returns whether it held. */
  until(pred: () => boolean): Promise<boolean> {
    return new Promise((resolve) => {
      const check = (): boolean => {
        if (pred()) return (resolve(true), true);
        if (this.#isClosed) return (resolve(false), true);
        return false;
      };
      if (check()) return;
      const w = (): void => {
        if (check()) this.#waiters = this.#waiters.filter((x) => x !== w);
      };
      this.#waiters.push(w);
    });
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }

  /** Run a script, then wait (at most until `deadline`) for the TCP connection to end. */
  async run(steps: readonly Step[], deadlineMs: number): Promise<Outcome> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), deadlineMs);
    });
    try {
      const script = (async (): Promise<void> => {
        for (const step of steps) {
          if ('send' in step) await this.send(step.send, step.chop);
          else if ('msgs' in step) await this.sendMessages(step.msgs, step.chop);
          else if ('close' in step) {
            if (this.sentClose) continue;
            const r = step.close.reason ?? '';
            const reason = typeof r === 'string' ? Buffer.from(r) : r;
            let data = Buffer.alloc(0);
            if (step.close.code !== undefined) {
              data = Buffer.alloc(2 + reason.length);
              data.writeUInt16BE(step.close.code, 0);
              reason.copy(data, 2);
            }
            await this.send([{ op: OP.close, data }], step.chop);
          } else if ('wait' in step) {
            const n = step.wait;
            const ok = await this.until(() => this.frameCount >= n || this.receivedClose);
            if (!ok || this.frameCount < n) this.events.push(`!wait-unmet ${n}`);
          } else if ('waitClose' in step) {
            if (!(await this.until(() => this.receivedClose))) this.events.push('!no-close');
          } else await sleep(step.pause);
        }
      })();
      const r = await Promise.race([script.then(() => Promise.race([this.closed, deadline])), deadline]);
      if (r === 'timeout') {
        this.events.push('!timeout');
        this.tcp = 'timeout';
        this.socket.destroy();
        await this.closed;
      }
    } finally {
      clearTimeout(timer);
    }
    return this.outcome;
  }
}

function other(r: Role): Role {
  return r === 'client' ? 'server' : 'client';
}

function chopSizes(total: number, frames: readonly Buffer[], chop: Chop, prng: Prng): number[] {
  const fixed = (n: number): number[] => {
    const out: number[] = [];
    for (let at = 0; at < total; at += n) out.push(Math.min(n, total - at));
    return out;
  };
  if (total === 0) return [];
  if (chop === 'whole') return [total];
  if (chop === 'frame') return frames.map((f) => f.length);
  if (chop === 'octet') return fixed(1);
  if (typeof chop === 'number') return fixed(chop);
  if (typeof chop === 'object') return fixed(chop.every);
  const out: number[] = [];
  for (let at = 0; at < total; ) {
    const r = prng.next();
    const n = Math.min(total - at, r < 0.3 ? prng.int(1, 3) : r < 0.6 ? prng.int(4, 40) : r < 0.9 ? prng.int(41, 2048) : prng.int(2049, 65536));
    out.push(n);
    at += n;
  }
  return out;
}

export function tick(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// ─── raw client ───────────────────────────────────────────────────────────────────────────────

/**
 * Open a raw WebSocket client to `port` (offering `extensions`, if any), run `steps`, and return
 * the outcome. The 101 must be valid (status, accept key); anything else throws.
 */
export async function runRawClient(port: number, steps: readonly Step[], o: { seed: number; extensions?: string; deadlineMs?: number }): Promise<Outcome> {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  socket.on('error', () => {});
  await once(socket, 'connect');
  const { text, key } = upgradeRequest('/', o.extensions !== undefined ? { headers: [['Sec-WebSocket-Extensions', o.extensions]] } : {});
  socket.write(text);
  const chunks: Buffer[] = [];
  const head = await new Promise<Buffer>((resolve, reject) => {
    const onData = (b: Buffer): void => {
      chunks.push(b);
      const all = Buffer.concat(chunks);
      if (headEnd(all) >= 0) {
        socket.off('data', onData);
        socket.off('close', onClose);
        socket.pause();
        resolve(all);
      }
    };
    const onClose = (): void => reject(new Error('closed before the 101'));
    socket.on('data', onData);
    socket.once('close', onClose);
  });
  const parsed = parseResponseHead(head);
  if (parsed.status !== 101 || headerValues(parsed, 'sec-websocket-accept')[0] !== acceptKey(key)) {
    socket.destroy();
    throw new Error(`no valid 101: ${parsed.text}`);
  }
  const ext = headerValues(parsed, 'sec-websocket-extensions')[0] ?? null;
  const peer = new Peer(socket, 'client', new Prng(o.seed), parseDeflate(ext ?? undefined), parsed.rest);
  socket.resume();
  const outcome = await peer.run(steps, o.deadlineMs ?? 5000);
  return { extensions: ext, ...outcome };
}

// ─── scripted fake backend ────────────────────────────────────────────────────────────────────

export interface ScriptedBackend {
  readonly port: number;
  readonly url: string;
  /** Sockets still open. */
  readonly open: Set<Socket>;
  /** The script (and seed) the next connection runs. */
  script: { steps: readonly Step[]; seed: number; deadlineMs?: number };
  /** Resolves with the outcome of the next connection to finish its script. */
  nextOutcome(): Promise<Outcome>;
  close(): Promise<void>;
}

/** A `net` server that completes the handshake (no extension), then plays the current script as a server. */
export async function scriptedBackend(): Promise<ScriptedBackend> {
  const open = new Set<Socket>();
  let waiters: ((o: Outcome) => void)[] = [];
  const done: Outcome[] = [];
  const b: ScriptedBackend = {
    port: 0,
    url: '',
    open,
    script: { steps: [], seed: 1 },
    nextOutcome: () => {
      const o = done.shift();
      if (o) return Promise.resolve(o);
      return new Promise((resolve) => waiters.push(resolve));
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
    socket.on('error', () => {});
    const chunks: Buffer[] = [];
    const onData = (c: Buffer): void => {
      chunks.push(c);
      const all = Buffer.concat(chunks);
      const end = headEnd(all);
      if (end < 0) return;
      socket.off('data', onData);
      const m = /^sec-websocket-key:\s*(\S+)\s*$/im.exec(all.subarray(0, end).toString('latin1'));
      if (!m) return void socket.destroy();
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(m[1]!)}\r\n\r\n`);
      const { steps, seed, deadlineMs } = b.script;
      const peer = new Peer(socket, 'server', new Prng(seed), null, all.subarray(end));
      void peer.run(steps, deadlineMs ?? 5000).then((o) => {
        const w = waiters.shift();
        if (w) w(o);
        else done.push(o);
      });
    };
    socket.on('data', onData);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return Object.assign(b, { port, url: `ws://127.0.0.1:${port}` });
}

// ─── a ws client, observed ────────────────────────────────────────────────────────────────────

/** What a `ws` client saw: messages, pings (wstap's aside), pongs, errors, and its close event. */
export async function runWsClient(url: string, deadlineMs = 5000): Promise<string[]> {
  const events: string[] = [];
  const ws = new WebSocket(url, { perMessageDeflate: false });
  ws.on('message', (data, isBinary) => void events.push(`message ${isBinary ? 'binary' : 'text'} ${payloadDesc(data as Buffer)}`));
  ws.on('ping', (d: Buffer) => {
    if (isWstapNonce(d)) stats.wsClientWstapPings++;
    else events.push(`ping ${payloadDesc(d)}`);
  });
  ws.on('pong', (d: Buffer) => void events.push(`pong ${payloadDesc(d)}`));
  ws.on('error', (e: NodeJS.ErrnoException) => void events.push(`error ${e.code ?? ''} ${e.message}`));
  ws.on('unexpected-response', (_req, res) => void events.push(`unexpected-response ${res.statusCode}`));
  let timer: NodeJS.Timeout | undefined;
  await new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      events.push('!timeout');
      ws.terminate();
    }, deadlineMs);
    ws.once('close', (code, reason) => {
      events.push(`close ${code} ${reason.toString('hex')}`);
      resolve();
    });
  });
  clearTimeout(timer);
  return events;
}
