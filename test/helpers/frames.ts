/**
 * Byte-level helpers for the frame-tap tests: frames written as hex or built field by field,
 * every way of chunking them, a recording sink, a reference segmenter, a seeded PRNG, and `ws`'s
 * own Sender/Receiver as the oracle.
 */
import * as wsModule from 'ws';
import { SinkParser, type FrameSink, type ParserOptions } from '../../src/frames/parser.js';
import type { Violation } from '../../src/frames/constants.js';
import { Prng } from './raw.js';

// ─── bytes ────────────────────────────────────────────────────────────────────────────────────

/** `hex('81 05 48 65 6c 6c 6f')` → the bytes; whitespace (and `|` separators) ignored. */
export function hex(s: string): Buffer {
  const clean = s.replace(/[\s|]+/g, '');
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(clean)) throw new Error(`bad hex: ${s}`);
  return Buffer.from(clean, 'hex');
}

/** The RFC 6455 §5.7 example masking key. */
export const RFC_MASK = hex('37 fa 21 3d');

export interface FrameSpec {
  fin?: boolean;
  /** The three RSV bits as a number: 4 = RSV1, 2 = RSV2, 1 = RSV3. */
  rsv?: number;
  opcode: number;
  payload?: Buffer | string;
  /** true: mask with RFC_MASK; a Buffer: that 4-byte key; false/absent: unmasked. */
  mask?: boolean | Buffer;
  /** Force a length encoding (non-minimal encodings included). Default: the minimal one. */
  lengthEncoding?: 7 | 16 | 64;
  /** Declare a length other than the payload's (e.g. 2^52 with a few bytes after the header). */
  declaredLength?: number | bigint;
}

/** Build one frame with any header, valid or not. */
export function frame(spec: FrameSpec): Buffer {
  const payload = typeof spec.payload === 'string' ? Buffer.from(spec.payload, 'utf8') : (spec.payload ?? Buffer.alloc(0));
  const declared = BigInt(spec.declaredLength ?? payload.length);
  const enc = spec.lengthEncoding ?? (declared < 126n ? 7 : declared < 65536n ? 16 : 64);
  const key = spec.mask === true ? RFC_MASK : spec.mask === false || spec.mask === undefined ? null : spec.mask;
  const extLen = enc === 7 ? 0 : enc === 16 ? 2 : 8;
  const head = Buffer.alloc(2 + extLen + (key ? 4 : 0));
  head[0] = ((spec.fin ?? true) ? 0x80 : 0) | (((spec.rsv ?? 0) & 7) << 4) | (spec.opcode & 0x0f);
  if (enc === 7) {
    if (declared > 125n) throw new Error('7-bit length > 125');
    head[1] = Number(declared);
  } else if (enc === 16) {
    if (declared > 0xffffn) throw new Error('16-bit length > 65535');
    head[1] = 126;
    head.writeUInt16BE(Number(declared), 2);
  } else {
    head[1] = 127;
    head.writeBigUInt64BE(declared, 2);
  }
  if (key) {
    head[1] |= 0x80;
    key.copy(head, 2 + extLen);
  }
  const body = key ? maskBytes(payload, key) : payload;
  return Buffer.concat([head, body]);
}

/** XOR `data` with a 4-byte key (a copy; masking is its own inverse). */
export function maskBytes(data: Buffer, key: Buffer): Buffer {
  const out = Buffer.allocUnsafe(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i]! ^ key[i & 3]!;
  return out;
}

/** `n` bytes of a recognisable pattern (ASCII, so valid UTF-8 as well). */
export function filler(n: number, seed = 0): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = 0x41 + ((i + seed) % 26);
  return b;
}

// ─── chunkings ────────────────────────────────────────────────────────────────────────────────

/** Every split into two non-empty chunks (offsets 1 … len-1). */
export function splitAtEveryOffset(buf: Buffer): Buffer[][] {
  const out: Buffer[][] = [];
  for (let i = 1; i < buf.length; i++) out.push([buf.subarray(0, i), buf.subarray(i)]);
  return out;
}

/** Cut `buf` into chunks of the given sizes, in order; what is left over forms one last chunk. */
export function chop(buf: Buffer, sizes: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  let pos = 0;
  for (const size of sizes) {
    if (pos >= buf.length) break;
    out.push(buf.subarray(pos, Math.min(buf.length, pos + size)));
    pos += size;
  }
  if (pos < buf.length) out.push(buf.subarray(pos));
  return out;
}

/** One chunk per byte. */
export function byteByByte(buf: Buffer): Buffer[] {
  return chop(buf, new Array<number>(buf.length).fill(1));
}

/**
 * The chunkings every fixture is fed with: whole, split at every offset, and byte by byte. For
 * inputs over `fullUpTo` bytes the two-chunk splits are every offset within 24 bytes of a frame
 * edge (header start, payload start, frame end) plus every 997th offset — splitting a 64 KiB
 * payload at all 65 536 places only re-tests "skip payload bytes".
 */
export function chunkings(buf: Buffer, fullUpTo = 4096): { name: string; chunks: Buffer[] }[] {
  const out: { name: string; chunks: Buffer[] }[] = [{ name: 'whole', chunks: [buf] }];
  if (buf.length <= fullUpTo) {
    for (const chunks of splitAtEveryOffset(buf)) out.push({ name: `split@${chunks[0]!.length}`, chunks });
  } else {
    for (const at of splitOffsets(buf, fullUpTo)) out.push({ name: `split@${at}`, chunks: [buf.subarray(0, at), buf.subarray(at)] });
  }
  out.push({ name: 'byte-by-byte', chunks: byteByByte(buf) });
  return out;
}

/** The offsets `chunkings` splits at. */
export function splitOffsets(buf: Buffer, fullUpTo = 4096): number[] {
  if (buf.length <= fullUpTo) return Array.from({ length: Math.max(0, buf.length - 1) }, (_, i) => i + 1);
  const set = new Set<number>();
  const edges: number[] = [];
  for (const f of frameLayout(buf).frames) edges.push(f.start, f.payloadStart, Math.min(f.end, buf.length));
  for (const e of edges) for (let d = -24; d <= 24; d++) set.add(e + d);
  for (let i = 1; i < buf.length; i += 997) set.add(i);
  return [...set].filter((i) => i >= 1 && i < buf.length).sort((a, b) => a - b);
}

// ─── reference segmentation ───────────────────────────────────────────────────────────────────

export interface FrameBox {
  start: number;
  /** Where the header ends. */
  payloadStart: number;
  /** Where the frame ends (may lie beyond the buffer, or be Infinity once framing is lost). */
  end: number;
  opcode: number;
  length: number;
}

/**
 * Walk a byte stream frame by frame, the simple way (no chunking), stopping where the tap
 * stops: a reserved opcode or a 64-bit length beyond 2^53. `lostAt`: where framing was lost.
 */
export function frameLayout(buf: Buffer): { frames: FrameBox[]; lostAt: number | null } {
  const frames: FrameBox[] = [];
  let pos = 0;
  while (pos + 2 <= buf.length) {
    const b0 = buf[pos]!;
    const b1 = buf[pos + 1]!;
    const len7 = b1 & 0x7f;
    const hsize = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (b1 & 0x80 ? 4 : 0);
    if (pos + hsize > buf.length) break;
    const opcode = b0 & 0x0f;
    let length = len7;
    let lost = false;
    if (len7 === 126) length = buf.readUInt16BE(pos + 2);
    else if (len7 === 127) {
      const hi = buf.readUInt32BE(pos + 2);
      if (hi > 0x1fffff) lost = true;
      else length = hi * 2 ** 32 + buf.readUInt32BE(pos + 6);
    }
    if ((opcode > 2 && opcode < 8) || opcode > 10) lost = true;
    if (lost) {
      frames.push({ start: pos, payloadStart: pos + hsize, end: Infinity, opcode, length: NaN });
      return { frames, lostAt: pos + hsize };
    }
    frames.push({ start: pos, payloadStart: pos + hsize, end: pos + hsize + length, opcode, length });
    pos += hsize + length;
  }
  return { frames, lostAt: null };
}

/**
 * Why a forwarded prefix of `layout`'s stream may not end at `at`, or null when it may: never
 * inside a header, never inside a control frame of ≤ 125 bytes (held whole for the sink).
 */
export function badCut(layout: { frames: FrameBox[] }, at: number): string | null {
  for (const f of layout.frames) {
    if (f.start >= at) break;
    if (at < f.payloadStart) return `inside the header of the frame at ${f.start} (${f.start}..${f.payloadStart})`;
    if (f.opcode >= 8 && f.length <= 125 && at < f.end) return `inside the control frame at ${f.start} (${f.start}..${f.end})`;
  }
  return null;
}

// ─── running the tap ──────────────────────────────────────────────────────────────────────────

export const defaultOptions: ParserOptions = { masked: false, rsv1: false, otherExtensions: false, maxMessageBytes: 0 };

export interface RunHooks {
  /** Decide on a control frame (default: keep it). */
  control?: (opcode: number, payload: Buffer) => boolean;
  /** Called after chunk `i` was pushed; may inject. */
  afterChunk?: (i: number, tap: Tap) => void;
  /** Called from inside the sink callbacks (re-entrancy tests). */
  onMessage?: (tap: Tap) => void;
  onControl?: (tap: Tap) => void;
  onViolation?: (tap: Tap) => void;
  onTooBig?: (tap: Tap) => void;
}

/** A parser with a recording sink: the forwarded bytes, the callback log, the forward cut points. */
export class Tap {
  readonly parser: SinkParser;
  readonly out: Buffer[] = [];
  outLength = 0;
  /** Cumulative output length after each `forward` call. */
  readonly cuts: number[] = [];
  /** Callbacks in order, as short strings: `message 1 5`, `control 9 <hex>`, `violation <kind>`, `tooBig`. */
  readonly log: string[] = [];
  /**
   * Every `inject` call: `inputAt` = input bytes forwarded when it was made, `now` = what it
   * returned, `placedAt` = input bytes forwarded before the frame went out (null: never went out).
   */
  readonly injections: { frame: Buffer; inputAt: number; now: boolean; placedAt: number | null }[] = [];
  /** Input bytes forwarded so far (output minus injected frames). */
  inputOut = 0;
  /** Indexes in `out` of injected frames. */
  readonly #injectedOut = new Set<number>();
  /** Injected frames the tap has queued, by identity (it forwards the very same Buffer). */
  readonly #queued = new Map<Buffer, Tap['injections'][number]>();
  /** Tag appended to each log entry (the index of the frame being fed, in oracle runs). */
  tag: number | null = null;

  constructor(opts: Partial<ParserOptions> = {}, readonly hooks: RunHooks = {}) {
    const sink: FrameSink = {
      forward: (buf) => {
        const inj = this.#queued.get(buf);
        if (inj) {
          this.#queued.delete(buf);
          inj.placedAt = this.inputOut;
          this.#injectedOut.add(this.out.length);
        } else this.inputOut += buf.length;
        this.out.push(Buffer.from(buf)); // copy: the tap may hand out views of a chunk we reuse
        this.outLength += buf.length;
        this.cuts.push(this.outLength);
      },
      message: (opcode, size) => {
        this.#log(`message ${opcode} ${size}`);
        hooks.onMessage?.(this);
      },
      control: (opcode, payload) => {
        this.#log(`control ${opcode} ${payload.toString('hex')}`);
        const keep = hooks.control ? hooks.control(opcode, payload) : true;
        hooks.onControl?.(this);
        return keep;
      },
      violation: (kind: Violation) => {
        this.#log(`violation ${kind}`);
        hooks.onViolation?.(this);
      },
      tooBig: () => {
        this.#log('tooBig');
        hooks.onTooBig?.(this);
      },
    };
    this.parser = new SinkParser(sink, { ...defaultOptions, ...opts });
  }

  #log(s: string): void {
    this.log.push(this.tag === null ? s : `${this.tag}: ${s}`);
  }

  /** Inject like the tunnel does: write the frame now when the tap says so. */
  inject(frame: Buffer): boolean {
    const entry = { frame, inputAt: this.inputOut, now: false, placedAt: null as number | null };
    this.injections.push(entry);
    entry.now = this.parser.inject(frame);
    if (entry.now) {
      entry.placedAt = this.inputOut;
      this.#injectedOut.add(this.out.length);
      this.out.push(frame);
      this.outLength += frame.length;
    } else {
      this.#queued.set(frame, entry);
    }
    return entry.now;
  }

  /** The output with every injected frame cut out again (must equal the input). */
  get outputWithoutInjections(): Buffer {
    return Buffer.concat(this.out.filter((_, i) => !this.#injectedOut.has(i)));
  }

  feed(chunks: readonly Buffer[]): this {
    chunks.forEach((c, i) => {
      this.parser.push(c);
      this.hooks.afterChunk?.(i, this);
    });
    return this;
  }

  get output(): Buffer {
    return Buffer.concat(this.out);
  }
}

/** Feed `chunks` to a fresh tap. */
export function runTap(chunks: readonly Buffer[], opts: Partial<ParserOptions> = {}, hooks: RunHooks = {}): Tap {
  return new Tap(opts, hooks).feed(chunks);
}

// ─── seeded randomness ────────────────────────────────────────────────────────────────────────

/** The seeded mulberry32 of raw.ts, with the extras the property tests draw from. */
export class Rng extends Prng {
  bool(p = 0.5): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
  /** Printable ASCII (valid UTF-8 for text frames and close reasons). */
  ascii(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = 0x20 + Math.floor(this.next() * 95);
    return b;
  }
  /** A 4-byte masking key, sometimes all zero (which `ws` special-cases). */
  maskKey(): Buffer {
    return this.bool(0.05) ? Buffer.alloc(4) : this.bytes(4);
  }
}

/** Random chunking: mostly tiny chunks around headers, sometimes large ones. */
export function randomChunks(rng: Rng, buf: Buffer): Buffer[] {
  const sizes: number[] = [];
  let total = 0;
  while (total < buf.length) {
    const r = rng.next();
    const size = r < 0.4 ? rng.int(1, 3) : r < 0.75 ? rng.int(4, 20) : r < 0.95 ? rng.int(21, 300) : rng.int(301, 70_000);
    sizes.push(size);
    total += size;
  }
  return chop(buf, sizes);
}

/** Seeds for a property run: FRAMES_SEED pins one, otherwise `count` seeds derived from `base`. */
export function seeds(base: number, count: number): number[] {
  const pinned = process.env.FRAMES_SEED;
  if (pinned !== undefined && pinned !== '') return [Number(pinned) >>> 0];
  return Array.from({ length: count }, (_, i) => seedAt(base, i));
}

/** The `i`-th seed derived from `base` (what `seeds` lists). */
export function seedAt(base: number, i: number): number {
  return (Math.imul(base + i, 0x9e3779b1) ^ 0x5bd1e995) >>> 0;
}

/** Run `fn` for a seed; on failure, rethrow with the seed (and how to replay it) in the message. */
export function withSeed(seed: number, fn: (rng: Rng) => void): void {
  try {
    fn(new Rng(seed));
  } catch (err) {
    const e = err as Error;
    e.message = `[seed ${seed}; replay with FRAMES_SEED=${seed}] ${e.message}`;
    throw e;
  }
}

// ─── ws as the oracle ─────────────────────────────────────────────────────────────────────────

interface WsSenderStatic {
  frame(data: Buffer, options: { fin: boolean; opcode: number; mask: boolean; readOnly: boolean; rsv1: boolean; maskBuffer?: Buffer; generateMask?: (mask: Buffer) => void }): Buffer[];
}
interface WsReceiver {
  _write(chunk: Buffer, encoding: string, cb: (err?: Error | null) => void): void;
  on(event: 'message', fn: (data: Buffer, isBinary: boolean) => void): this;
  on(event: 'ping' | 'pong', fn: (data: Buffer) => void): this;
  on(event: 'conclude', fn: (code: number, reason: Buffer) => void): this;
}
interface WsReceiverStatic {
  new (options: { isServer: boolean; maxPayload?: number; skipUTF8Validation?: boolean }): WsReceiver;
}

/** `ws`'s internals; @types/ws does not declare them, the package exports them all the same. */
const wsInternals = wsModule as unknown as { Sender: WsSenderStatic; Receiver: WsReceiverStatic };
export const WsSender = wsInternals.Sender;
export const WsReceiver = wsInternals.Receiver;

/** A frame built by `ws` (`Sender.frame`), as one buffer. `data` is not modified. */
export function wsFrame(data: Buffer, o: { fin?: boolean; opcode: number; mask?: Buffer | null; rsv1?: boolean }): Buffer {
  const key = o.mask ?? null;
  const parts = WsSender.frame(Buffer.from(data), {
    fin: o.fin ?? true,
    opcode: o.opcode,
    mask: key !== null,
    readOnly: false,
    rsv1: o.rsv1 ?? false,
    ...(key ? { generateMask: (m: Buffer) => void key.copy(m) } : {}),
  });
  return Buffer.concat(parts);
}

export interface WsVerdict {
  /** Events in the tap's log format, each tagged with the index of the frame that produced it. */
  log: string[];
  error: { code: string; frame: number } | null;
  /** Index of the close frame after which `ws` stops reading, if any. */
  closedAt: number | null;
}

/**
 * Feed frames (or any pieces) one by one to a `ws` Receiver and record what it reports.
 * `isServer`: the Receiver expects masked frames (it is the backend reading the client).
 * UTF-8 is not validated: the tap never reads data payloads, so it cannot be compared there.
 */
export function wsVerdict(pieces: readonly Buffer[], o: { isServer: boolean; maxPayload?: number }): WsVerdict {
  const r = new WsReceiver({ isServer: o.isServer, maxPayload: o.maxPayload ?? 0, skipUTF8Validation: true });
  const log: string[] = [];
  let current = 0;
  let closedAt: number | null = null;
  r.on('message', (data, isBinary) => void log.push(`${current}: message ${isBinary ? 2 : 1} ${data.length}`));
  r.on('ping', (data) => void log.push(`${current}: control 9 ${data.toString('hex')}`));
  r.on('pong', (data) => void log.push(`${current}: control 10 ${data.toString('hex')}`));
  r.on('conclude', (code, reason) => {
    const payload = code === 1005 && reason.length === 0 ? Buffer.alloc(0) : Buffer.concat([u16(code), reason]);
    log.push(`${current}: control 8 ${payload.toString('hex')}`);
    closedAt = current;
  });
  let error: WsVerdict['error'] = null;
  for (let i = 0; i < pieces.length && error === null && closedAt === null; i++) {
    current = i;
    r._write(Buffer.from(pieces[i]!), 'buffer', (err) => {
      if (err) error = { code: (err as NodeJS.ErrnoException).code ?? 'UNKNOWN', frame: i };
    });
  }
  return { log, error, closedAt };
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n, 0);
  return b;
}

/** The violations (or `tooBig`) of the tap that correspond to each `ws` error code. */
export const wsErrorToTap: Readonly<Record<string, readonly string[]>> = {
  WS_ERR_UNEXPECTED_RSV_2_3: ['violation reserved_bits'],
  WS_ERR_UNEXPECTED_RSV_1: ['violation reserved_bits'],
  WS_ERR_INVALID_OPCODE: ['violation reserved_opcode', 'violation unexpected_continuation', 'violation incomplete_message'],
  WS_ERR_EXPECTED_FIN: ['violation fragmented_control'],
  // ws judges the 7-bit length field: a control frame with a 16/64-bit length of ≤ 125 fails
  // there too, where the tap reports the non-minimal encoding.
  WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH: ['violation control_too_long', 'violation bad_close_payload', 'violation non_minimal_length'],
  WS_ERR_EXPECTED_MASK: ['violation mask_required'],
  WS_ERR_UNEXPECTED_MASK: ['violation mask_forbidden'],
  WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH: ['violation length_too_large'],
  WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: ['tooBig'],
  WS_ERR_INVALID_CLOSE_CODE: ['violation invalid_close_code'],
};

/** Strip a `N: ` frame tag. */
export function untag(entry: string): string {
  return entry.replace(/^\d+: /, '');
}

// ─── the chunking invariants ──────────────────────────────────────────────────────────────────

export interface Expectation {
  /** What must come out (default: the input, unchanged). */
  output?: Buffer;
  /** The callback log (untagged). */
  log: readonly string[];
  /** `stopped` after the last chunk (default false). */
  stopped?: boolean;
}

/**
 * Feed `input` whole, split at every offset and byte by byte, and check for each chunking: the
 * forwarded bytes, the callback log, `stopped`, and that no `forward` call ever ends inside a
 * header or a short control frame of the output. Throws, naming the chunking, on the first miss.
 */
export function checkEveryChunking(
  input: Buffer,
  opts: Partial<ParserOptions>,
  want: Expectation,
  hooks: RunHooks = {},
): number {
  const output = want.output ?? input;
  const layout = frameLayout(output);
  const all = chunkings(input);
  for (const { name, chunks } of all) {
    const tap = runTap(chunks, opts, hooks);
    const got = tap.output;
    if (!got.equals(output)) {
      throw new Error(`${name}: forwarded ${got.length} bytes ${preview(got)}, expected ${output.length} bytes ${preview(output)}`);
    }
    if (JSON.stringify(tap.log) !== JSON.stringify(want.log)) {
      throw new Error(`${name}: log ${JSON.stringify(tap.log)}, expected ${JSON.stringify(want.log)}`);
    }
    if (tap.parser.stopped !== (want.stopped ?? false)) throw new Error(`${name}: stopped = ${tap.parser.stopped}`);
    for (const cut of tap.cuts) {
      const why = layout.lostAt !== null && cut > layout.lostAt ? null : badCut(layout, cut);
      if (why) throw new Error(`${name}: a forward call ended at ${cut}, ${why}`);
    }
  }
  return all.length;
}

function preview(b: Buffer): string {
  return b.length <= 64 ? `<${b.toString('hex')}>` : `<${b.subarray(0, 32).toString('hex')}…${b.subarray(-16).toString('hex')}>`;
}

/** Frame boundaries of a well-framed stream: every frame start, and the end of the last frame. */
export function boundaries(buf: Buffer): Set<number> {
  const set = new Set<number>();
  const { frames } = frameLayout(buf);
  for (const f of frames) set.add(f.start);
  const last = frames[frames.length - 1];
  if (last && Number.isFinite(last.end)) set.add(last.end);
  if (frames.length === 0) set.add(0);
  return set;
}

/**
 * Check a tap's injections against its input: the output minus the injected frames equals the
 * input; an inject that returned true was made at a boundary; one that returned false was made
 * off a boundary and its frame went out at the first boundary after that point. Throws on a miss.
 * `relaxed` (injections made from inside sink callbacks): a queued frame may go out at any later
 * boundary, and a "now" must still be at a boundary.
 */
export function checkInjections(tap: Tap, input: Buffer, label: string, relaxed = false): void {
  const stripped = tap.outputWithoutInjections;
  if (!stripped.equals(input)) throw new Error(`${label}: output minus injected frames differs from the input`);
  const bounds = boundaries(input);
  const sorted = [...bounds].sort((a, b) => a - b);
  for (const j of tap.injections) {
    const at = j.inputAt;
    if (j.now) {
      if (!bounds.has(at)) throw new Error(`${label}: inject returned true with ${at} input bytes forwarded, not a frame boundary`);
      continue;
    }
    if (!relaxed && bounds.has(at)) throw new Error(`${label}: inject returned false at a frame boundary (${at})`);
    const next = sorted.find((b) => b > at || (relaxed && b >= at));
    if (j.placedAt === null) {
      if (next !== undefined && next <= stripped.length && tap.inputOut >= next) {
        throw new Error(`${label}: frame injected at ${at} never went out though the boundary ${next} passed`);
      }
      continue;
    }
    if (!bounds.has(j.placedAt)) throw new Error(`${label}: frame injected at ${at} went out at ${j.placedAt}, not a boundary`);
    if (!relaxed && j.placedAt !== next) throw new Error(`${label}: frame injected at ${at} went out at ${j.placedAt}, expected ${next}`);
    if (relaxed && j.placedAt < at) throw new Error(`${label}: frame injected at ${at} went out earlier, at ${j.placedAt}`);
  }
}

// ─── stream generators (property tests and the fuzz script) ───────────────────────────────────

/** Message sizes worth hitting: the 7/16/64-bit length edges, weighted toward small ones. */
const EDGE_SIZES = [0, 0, 1, 2, 5, 124, 125, 126, 127, 128, 255, 256, 1000, 65535, 65536, 65537];

function messageSize(rng: Rng, big: boolean): number {
  const r = rng.next();
  if (r < 0.45) return rng.int(0, 40);
  if (r < 0.8) {
    const s = rng.pick(EDGE_SIZES);
    return s > 1000 && !big ? rng.int(0, 300) : s;
  }
  return rng.int(0, 600);
}

/** Cut `total` into `n` random sizes (some may be 0). */
function cutSizes(rng: Rng, total: number, n: number): number[] {
  const cuts = Array.from({ length: n - 1 }, () => rng.int(0, total)).sort((a, b) => a - b);
  const sizes: number[] = [];
  let prev = 0;
  for (const c of [...cuts, total]) {
    sizes.push(c - prev);
    prev = c;
  }
  return sizes;
}

const VALID_CLOSE_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999];

export interface GenOptions {
  /** Client → server: frames are masked. */
  masked: boolean;
  /** Allow 64 KiB messages. */
  big?: boolean;
  /** Upper bound on the number of messages. */
  maxMessages?: number;
}

/** A random control frame (ping/pong/close) built by `ws`'s Sender. */
function wsControl(rng: Rng, o: GenOptions, close: boolean): Buffer {
  const mask = o.masked ? rng.maskKey() : null;
  if (close) {
    const payload = rng.bool(0.2)
      ? Buffer.alloc(0)
      : Buffer.concat([u16(rng.pick(VALID_CLOSE_CODES)), rng.ascii(rng.bool(0.2) ? 123 : rng.int(0, 30))]);
    return wsFrame(payload, { opcode: 8, mask });
  }
  const size = rng.bool(0.2) ? rng.pick([0, 125]) : rng.int(0, 20);
  return wsFrame(rng.bytes(size), { opcode: rng.bool() ? 9 : 10, mask });
}

/**
 * A valid stream as frames, built by `ws`'s Sender: text and binary messages, fragmented or
 * not, with pings and pongs between frames and between messages, sometimes ending in a close.
 */
export function validFrames(rng: Rng, o: GenOptions): Buffer[] {
  const frames: Buffer[] = [];
  const n = rng.int(1, o.maxMessages ?? 6);
  for (let m = 0; m < n; m++) {
    if (rng.bool(0.25)) frames.push(wsControl(rng, o, false));
    const opcode = rng.bool() ? 1 : 2;
    const size = messageSize(rng, o.big ?? true);
    const parts = cutSizes(rng, size, rng.bool(0.5) ? 1 : rng.int(2, 5));
    const payload = opcode === 1 ? rng.ascii(size) : rng.bytes(size);
    let at = 0;
    parts.forEach((len, i) => {
      if (i > 0 && rng.bool(0.35)) frames.push(wsControl(rng, o, false));
      const last = i === parts.length - 1;
      frames.push(wsFrame(payload.subarray(at, at + len), { opcode: i === 0 ? opcode : 0, fin: last, mask: o.masked ? rng.maskKey() : null }));
      at += len;
    });
  }
  if (rng.bool(0.4)) frames.push(wsControl(rng, o, true));
  return frames;
}

/** The faults `invalidFrames` can plant. */
export const FAULTS = [
  'rsv1',
  'rsv2',
  'rsv3',
  'reserved_opcode',
  'wrong_mask',
  'control_no_fin',
  'control_too_long',
  'close_one_byte',
  'close_bad_code',
  'stray_continuation',
  'new_message_in_fragmented',
  'huge_length',
  'non_minimal',
  'too_big',
] as const;
export type Fault = (typeof FAULTS)[number];

/**
 * A stream with planted faults, frame by frame (built with `frame()`, which can write any
 * header). `maxPayload` is the limit to give both `ws` and the tap (the `too_big` fault needs
 * it). The faults are placed among valid frames, and the stream may go on after them.
 */
export function invalidFrames(rng: Rng, o: GenOptions): { frames: Buffer[]; faults: Fault[]; maxPayload: number } {
  const frames: Buffer[] = [];
  const faults: Fault[] = [];
  const maxPayload = rng.bool(0.3) ? rng.int(1, 400) : 0;
  let open = false; // a fragmented message is open
  const key = (): Buffer | false => (o.masked ? rng.maskKey() : false);
  const count = rng.int(2, 10);
  for (let k = 0; k < count; k++) {
    const r = rng.next();
    if (r < 0.35 || (maxPayload === 0 && r < 0.45)) {
      // A valid data frame, continuing or starting a message.
      const fin = rng.bool(0.6);
      const size = rng.bool(0.9) ? rng.int(0, 40) : rng.int(126, 300);
      frames.push(frame({ opcode: open ? 0 : rng.pick([1, 2]), fin, payload: rng.ascii(size), mask: key() }));
      open = !fin;
      continue;
    }
    if (r < 0.5) {
      frames.push(frame({ opcode: rng.pick([9, 10]), payload: rng.bytes(rng.int(0, 10)), mask: key() }));
      continue;
    }
    const fault: Fault = maxPayload > 0 && r < 0.6 ? 'too_big' : rng.pick(FAULTS.filter((f) => f !== 'too_big'));
    faults.push(fault);
    const data = (size: number, extra: Partial<FrameSpec> = {}): Buffer => {
      const spec: FrameSpec = { opcode: open ? 0 : rng.pick([1, 2]), fin: rng.bool(), payload: rng.ascii(size), mask: key(), ...extra };
      open = !spec.fin;
      return frame(spec);
    };
    switch (fault) {
      case 'rsv1':
      case 'rsv2':
      case 'rsv3': {
        const rsv = fault === 'rsv1' ? 4 : fault === 'rsv2' ? 2 : 1;
        frames.push(rng.bool() ? data(rng.int(0, 20), { rsv }) : frame({ opcode: 9, rsv, payload: rng.bytes(3), mask: key() }));
        break;
      }
      case 'reserved_opcode':
        frames.push(frame({ opcode: rng.pick([3, 4, 5, 6, 7, 11, 12, 13, 14, 15]), fin: rng.bool(), payload: rng.bytes(rng.int(0, 20)), mask: key() }));
        break;
      case 'wrong_mask':
        frames.push(rng.bool() ? data(rng.int(0, 20), { mask: o.masked ? false : rng.maskKey() }) : frame({ opcode: 10, payload: rng.bytes(4), mask: o.masked ? false : rng.maskKey() }));
        break;
      case 'control_no_fin':
        frames.push(frame({ opcode: rng.pick([8, 9, 10]), fin: false, payload: rng.bool() ? '' : hex('03 e8'), mask: key() }));
        break;
      case 'control_too_long':
        frames.push(frame({ opcode: rng.pick([8, 9, 10]), payload: Buffer.concat([hex('03 e8'), rng.ascii(rng.int(124, 300))]), mask: key() }));
        break;
      case 'close_one_byte':
        frames.push(frame({ opcode: 8, payload: rng.bytes(1), mask: key() }));
        break;
      case 'close_bad_code':
        frames.push(frame({ opcode: 8, payload: Buffer.concat([u16(rng.pick([0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535])), rng.ascii(rng.int(0, 10))]), mask: key() }));
        break;
      case 'stray_continuation':
        if (open) frames.push(frame({ opcode: 0, fin: true, payload: 'end', mask: key() }));
        frames.push(frame({ opcode: 0, fin: rng.bool(), payload: rng.ascii(rng.int(0, 10)), mask: key() }));
        open = false;
        break;
      case 'new_message_in_fragmented':
        if (!open) frames.push(frame({ opcode: rng.pick([1, 2]), fin: false, payload: 'start', mask: key() }));
        frames.push(frame({ opcode: rng.pick([1, 2]), fin: true, payload: rng.ascii(rng.int(0, 10)), mask: key() }));
        open = false;
        break;
      case 'huge_length': {
        const hi = rng.pick([0x200000n, 0x7fffffffn, 0x80000000n, 0xffffffffn]);
        frames.push(frame({ opcode: rng.pick([0, 1, 2, 8, 9, 3]), fin: rng.bool(), declaredLength: (hi << 32n) | BigInt(rng.int(0, 0xffff)), mask: key(), payload: rng.bytes(rng.int(0, 8)) }));
        break;
      }
      case 'non_minimal':
        frames.push(rng.bool() ? data(rng.int(0, 125), { lengthEncoding: rng.pick([16, 64] as const) }) : frame({ opcode: 9, payload: rng.bytes(5), lengthEncoding: 16, mask: key() }));
        break;
      case 'too_big':
        frames.push(data(maxPayload + rng.int(1, 50)));
        break;
    }
  }
  return { frames, faults, maxPayload };
}

/** Garbage: random bytes, or a valid stream with a few bytes flipped, dropped or inserted. */
export function garbage(rng: Rng, o: GenOptions): Buffer {
  if (rng.bool(0.3)) return rng.bytes(rng.int(0, 300));
  const b = Buffer.concat(validFrames(rng, { ...o, big: false }));
  const n = rng.int(1, 4);
  const out = Buffer.from(b);
  for (let i = 0; i < n && out.length > 0; i++) {
    const at = rng.int(0, out.length - 1);
    out[at] = out[at]! ^ (1 << rng.int(0, 7));
  }
  if (rng.bool(0.2)) return Buffer.concat([out.subarray(0, rng.int(0, out.length)), rng.bytes(rng.int(1, 20))]);
  return out;
}

/**
 * Compare the tap with `ws` on one stream given frame by frame. Each frame is pushed on its own
 * (randomly chunked), so every callback is tagged with its frame. Up to where `ws` stops (its
 * first error, or the close frame after which it reads nothing), the tap must report the same
 * events and no violation but `non_minimal_length` (`ws` does not check that one); at the frame
 * `ws` fails on, one of the tap's violations must match `ws`'s error. Returns the tap.
 */
export function compareWithWs(rng: Rng, frames: readonly Buffer[], o: { masked: boolean; maxPayload?: number }): { tap: Tap; verdict: WsVerdict } {
  const verdict = wsVerdict(frames, { isServer: o.masked, maxPayload: o.maxPayload ?? 0 });
  const tap = new Tap({ masked: o.masked, maxMessageBytes: o.maxPayload ?? 0 });
  frames.forEach((f, i) => {
    tap.tag = i;
    tap.feed(randomChunks(rng, f));
  });
  const tagOf = (e: string): number => Number(e.slice(0, e.indexOf(':')));
  const relevant = tap.log.filter((e) => !e.endsWith(' non_minimal_length'));
  const end = verdict.error ? verdict.error.frame : (verdict.closedAt ?? frames.length - 1) + 1;
  const before = relevant.filter((e) => tagOf(e) < end);
  if (JSON.stringify(before) !== JSON.stringify(verdict.log)) {
    throw new Error(`tap and ws disagree before frame ${end}:\n tap: ${JSON.stringify(before)}\n  ws: ${JSON.stringify(verdict.log)}${verdict.error ? `\n ws error: ${verdict.error.code}` : ''}\n frames: ${frames.map((f) => f.subarray(0, 16).toString('hex')).join(' | ')}`);
  }
  if (verdict.error) {
    const { code, frame: at } = verdict.error;
    const atErr = tap.log.filter((e) => tagOf(e) === at).map(untag);
    const allowed = wsErrorToTap[code];
    if (!allowed) throw new Error(`unmapped ws error ${code}`);
    if (!atErr.some((e) => allowed.includes(e))) {
      throw new Error(`ws failed frame ${at} with ${code}; the tap reported ${JSON.stringify(atErr)} there\n frame: ${frames[at]!.subarray(0, 24).toString('hex')}`);
    }
  }
  return { tap, verdict };
}

/**
 * The chunking-independence check on a whole stream: the output equals the input (or, when the
 * stream ends inside a header or a short control frame, the input minus that tail), and no
 * forward call ends inside a header or short control frame. Returns the tap.
 */
export function checkStream(chunks: readonly Buffer[], input: Buffer, opts: Partial<ParserOptions>): Tap {
  const tap = runTap(chunks, opts);
  const out = tap.output;
  if (tap.parser.stopped && (opts.maxMessageBytes ?? 0) > 0 && tap.log.includes('tooBig')) {
    if (!input.subarray(0, out.length).equals(out)) throw new Error('after tooBig: the output is not a prefix of the input');
    return tap;
  }
  if (!input.subarray(0, out.length).equals(out)) throw new Error(`the output (${out.length} bytes) is not a prefix of the input (${input.length} bytes)`);
  const held = input.length - out.length;
  if (held > 0 && !(held <= MAX_HELD && boundaries(input).has(out.length))) {
    throw new Error(`${held} bytes of the input were never forwarded (from ${out.length})`);
  }
  const layout = frameLayout(input);
  for (const cut of tap.cuts) {
    const why = layout.lostAt !== null && cut > layout.lostAt ? null : badCut(layout, cut);
    if (why) throw new Error(`a forward call ended at ${cut}, ${why}`);
  }
  return tap;
}

/** The most a tap ever holds back: a 14-byte header, or a whole 6 + 125-byte control frame. */
const MAX_HELD = 2 + 8 + 4 + 125;

/**
 * Compare the tap with `ws` on a stream whose frame boundaries are unknown (garbage), up to the
 * first close frame (after which `ws` reads nothing). If `ws` did not fail: the same events, and
 * no violation but `non_minimal_length` on data frames (which `ws` does not check). If it failed:
 * some run of consecutive violations, preceded only by `non_minimal_length` ones, comes after
 * exactly `ws`'s events and includes a match for `ws`'s error. Throws on a mismatch.
 */
export function compareLoosely(tap: Tap, input: Buffer, masked: boolean): WsVerdict {
  // An incomplete header at the very end is invisible to the tap (held until complete), while
  // ws judges a header's first two bytes as soon as it has them: leave that tail out for ws.
  const layout = frameLayout(input);
  const last = layout.frames[layout.frames.length - 1];
  const tailStart = last ? last.end : 0;
  const seen = layout.lostAt === null && tailStart < input.length ? input.subarray(0, tailStart) : input;
  const verdict = wsVerdict([seen], { isServer: masked });
  const all = tap.log.map(untag);
  // A close frame with a 1-byte body: ws fails it from its header, the tap once it is whole
  // (when it reads the body). Cut short at the end of the input, it is never whole.
  if (last && last.opcode === 8 && last.length === 1 && last.end > input.length) all.push('violation bad_close_payload');
  const closeAt = all.findIndex((e) => e.startsWith('control 8 '));
  const log = closeAt < 0 ? all : all.slice(0, closeAt + 1);
  const isViolation = (e: string): boolean => e.startsWith('violation') || e === 'tooBig';
  const NON_MINIMAL = 'violation non_minimal_length';
  const wsEvents = verdict.log.map(untag);
  const same = (a: readonly string[]): boolean => JSON.stringify(a) === JSON.stringify(wsEvents);
  const fail = (why: string): never => {
    throw new Error(`${why}\n tap: ${JSON.stringify(all)}\n  ws: ${JSON.stringify(wsEvents)} ${verdict.error?.code ?? ''}\n input: ${input.subarray(0, 48).toString('hex')}`);
  };
  if (!verdict.error) {
    const extra = log.filter((e) => isViolation(e) && e !== NON_MINIMAL);
    if (extra.length > 0) fail(`the tap reported ${JSON.stringify(extra)} where ws saw no error`);
    if (!same(log.filter((e) => !isViolation(e)))) fail('the events differ');
    return verdict;
  }
  const allowed = wsErrorToTap[verdict.error.code] ?? [];
  for (let i = 0; i < log.length; ) {
    if (!isViolation(log[i]!)) {
      i++;
      continue;
    }
    let j = i;
    while (j < log.length && isViolation(log[j]!)) j++;
    const run = log.slice(i, j);
    if (run.some((e) => allowed.includes(e)) && same(log.slice(0, i).filter((e) => !isViolation(e)))) return verdict;
    if (run.some((e) => e !== NON_MINIMAL)) break;
    i = j;
  }
  return fail(`ws failed with ${verdict.error.code}; the tap did not flag it at the same place`);
}
