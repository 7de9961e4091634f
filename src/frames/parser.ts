/**
 * The passive RFC 6455 frame tap: one per direction of a tunnel. It walks the bytes as they
 * pass, tells its sink which bytes may be forwarded now, and never buffers a data payload.
 *
 * What it holds back, and why:
 * - an incomplete frame header (at most 14 bytes), so that whatever is forwarded always ends
 *   either inside a payload or at a frame boundary: the proxy can then inject a control frame
 *   at a boundary, or refuse a frame whose header breaks a limit before any of it is sent;
 * - a whole control frame (at most 139 bytes) when it straddles chunks, so that the sink can
 *   read its payload (the close code, a ping nonce) and decide to drop it (the proxy's own
 *   pongs are cut out of the stream).
 *
 * A malformed stream is reported as violations and the bytes keep flowing: the endpoints decide
 * (SPEC §6). Where the framing itself is lost (reserved opcode, absurd length), the tap stops
 * parsing that direction and forwards everything as it comes.
 */
import { MAX_CONTROL_PAYLOAD, MAX_HEADER_BYTES, Opcode, type Violation, isValidCloseCode } from './constants.js';

export interface FrameSink {
  /** Bytes that may be written to the other side now, in order. */
  forward(buf: Buffer): void;
  /** A data message completed: its opcode (1 text, 2 binary) and payload bytes over all its frames. */
  message(opcode: number, size: number): void;
  /**
   * A whole control frame (payload ≤ 125 bytes) was read; `payload` is unmasked and only valid
   * during the call. Return false to drop the frame instead of forwarding it.
   */
  control(opcode: number, payload: Buffer): boolean;
  violation(kind: Violation): void;
  /** A data frame would take the message past `maxMessageBytes`; nothing of it was forwarded. */
  tooBig(): void;
}

export interface ParserOptions {
  /** Frames in this direction must be masked (client → backend) or must not be (backend → client). */
  readonly masked: boolean;
  /** permessage-deflate was negotiated: RSV1 is legal on the first frame of a data message. */
  readonly rsv1: boolean;
  /** An extension other than permessage-deflate was negotiated: RSV bits are not ours to judge. */
  readonly otherExtensions: boolean;
  /** 0 = unlimited. Checked against the declared lengths, before the frame is forwarded. */
  readonly maxMessageBytes: number;
}

const S_HEADER = 0;
/** A data frame's payload is passing. */
const S_PAYLOAD = 1;
/** An oversized control frame's payload is passing (its length is known, so framing holds). */
const S_CONTROL_PAYLOAD = 2;
/** A control frame is being assembled across chunks. */
const S_CONTROL = 3;
/** Framing lost: forward everything as it comes. */
const S_STOPPED = 4;
/** A limit refused a frame: forward nothing more (the tunnel is closing this direction). */
const S_DISCARD = 5;

/** 2^53: beyond it a JS number is no longer exact; `ws` refuses such lengths too. */
const MAX_SAFE_HI = 0x1fffff;

/**
 * The parser is its own sink: a subclass implements the `FrameSink` methods (the tunnel's flows
 * do, which saves an object and a field per direction of every session; an idle session should
 * cost as little as possible). `SinkParser` reports to a separate sink object instead.
 */
export abstract class FrameParser implements FrameSink {
  #state = S_HEADER;
  /**
   * Header bytes held while a header straddles chunks. Allocated the first time that happens:
   * most directions never need it.
   */
  #hdr: Buffer | null = null;
  /** Bytes held of a header (state S_HEADER) or of a control frame being assembled (S_CONTROL). */
  #held = 0;
  /** Payload bytes of the current frame still to pass. */
  #remaining = 0;
  /** A control frame being assembled across chunks (its opcode and header are in its bytes). */
  #ctrl: Buffer | null = null;
  /** Open data message: its opcode (0 = none), accumulated payload bytes, final frame seen. */
  #msgOpcode = 0;
  #msgSize = 0;
  #msgFin = false;
  /** Frames to emit at the next frame boundary. */
  #pending: Buffer[] | null = null;
  /**
   * The chunk being pushed (EMPTY outside `push`), and where its not-yet-forwarded bytes start.
   * While a chunk is set, the sink's callbacks run with part of it not forwarded yet, so the
   * state alone does not say where the forwarded bytes end: a frame injected from a callback is
   * queued for the next boundary instead.
   */
  #chunk: Buffer = EMPTY;
  #from = 0;

  // State is in #fields; the helper methods are `private`, not `#private`: a class with
  // #methods stores a brand in every instance, 8 bytes per direction of every session.
  constructor(private readonly opts: ParserOptions) {}

  abstract forward(buf: Buffer): void;
  abstract message(opcode: number, size: number): void;
  abstract control(opcode: number, payload: Buffer): boolean;
  abstract violation(kind: Violation): void;
  abstract tooBig(): void;

  /**
   * True when the bytes forwarded so far end at a frame boundary, so a frame may be written
   * after them. A held header or control frame counts: none of it has been forwarded yet.
   * False while a chunk is being pushed (from inside the sink's callbacks), except after a refusal.
   */
  get atBoundary(): boolean {
    const s = this.#state;
    // S_DISCARD is entered only at a boundary, and nothing is forwarded after it.
    if (s === S_DISCARD) return true;
    return this.#chunk === EMPTY && (s === S_HEADER || s === S_CONTROL);
  }

  /** True when the other side has received part of a frame it will never see the end of. */
  get midFrame(): boolean {
    const s = this.#state;
    return s === S_PAYLOAD || s === S_CONTROL_PAYLOAD || s === S_STOPPED;
  }

  /** A data message has begun and its final frame has not been seen. */
  get inMessage(): boolean {
    return this.#msgOpcode !== 0;
  }

  /** Parsing gave up on this direction (framing lost, or a limit refused a frame). */
  get stopped(): boolean {
    return this.#state >= S_STOPPED;
  }

  /**
   * Queue a frame to be forwarded at the next boundary. Returns true when the stream is at a
   * boundary now and the caller should write `frame` itself, right away. Once framing is lost
   * (`stopped` and not at a boundary) there is no next boundary: false, and nothing is queued.
   */
  inject(frame: Buffer): boolean {
    if (this.atBoundary) return true;
    if (this.#state !== S_STOPPED) (this.#pending ??= []).push(frame);
    return false;
  }

  /** Feed the next chunk read from the source socket. */
  push(chunk: Buffer): void {
    const state0 = this.#state;
    if (state0 === S_STOPPED) return this.forward(chunk);
    if (state0 === S_DISCARD) return;
    const len = chunk.length;
    this.#chunk = chunk;
    this.#from = 0;
    let pos = 0;
    while (pos < len) {
      switch (this.#state) {
        case S_PAYLOAD:
        case S_CONTROL_PAYLOAD: {
          const avail = len - pos;
          if (avail < this.#remaining) {
            this.#remaining -= avail;
            pos = len;
          } else {
            pos += this.#remaining;
            this.#remaining = 0;
            const data = this.#state === S_PAYLOAD;
            this.#state = S_HEADER;
            if (data) this.dataFrameEnd();
          }
          break;
        }
        case S_CONTROL: {
          const ctrl = this.#ctrl!;
          const n = Math.min(ctrl.length - this.#held, len - pos);
          chunk.copy(ctrl, this.#held, pos, pos + n);
          this.#held += n;
          pos += n;
          this.#from = pos;
          if (this.#held === ctrl.length) this.controlAssembled();
          break;
        }
        case S_HEADER: {
          if (this.#pending !== null) {
            this.emitUpTo(pos);
            this.flushPending();
          }
          if (this.#held === 0) {
            if (this.#msgOpcode === 0) {
              pos = this.wholeMessages(chunk, pos, len);
              if (pos >= len || this.#pending !== null) break;
            }
            const size = headerSize(chunk[pos + 1], len - pos);
            if (size === 0 || len - pos < size) {
              // Incomplete header: forward what precedes it and hold its bytes.
              this.emitUpTo(pos);
              chunk.copy((this.#hdr ??= Buffer.allocUnsafe(MAX_HEADER_BYTES)), 0, pos, len);
              this.#held = len - pos;
              pos = len;
              this.#from = len;
              break;
            }
            pos = this.header(chunk, pos, size, true);
          } else {
            // Complete a held header (the chunk starts with its missing bytes).
            const hdr = this.#hdr!;
            const need = headerSize(this.#held >= 2 ? hdr[1] : chunk[pos], MAX_HEADER_BYTES);
            const take = Math.min(need - this.#held, len - pos);
            chunk.copy(hdr, this.#held, pos, pos + take);
            this.#held += take;
            pos += take;
            this.#from = pos;
            if (this.#held < need) break;
            this.#held = 0;
            this.header(Buffer.from(hdr.subarray(0, need)), 0, need, false);
          }
          break;
        }
        case S_STOPPED:
          pos = len;
          break;
        default:
          // S_DISCARD
          this.#chunk = EMPTY;
          return;
      }
    }
    this.emitUpTo(len);
    this.#chunk = EMPTY;
    if (this.#pending !== null && this.atBoundary) this.flushPending();
  }

  /**
   * The common case, walked in one tight loop: unfragmented text and binary frames whose header
   * is whole in the chunk and breaks no rule or limit (length in 7 or 16 bits). Each is counted
   * as a message and skipped over (its bytes are forwarded with the rest of the chunk). Anything
   * else (control frames, fragments, 64-bit lengths, a header split across chunks, a payload
   * running past the chunk, any violation) stops the loop at that frame's first byte for the
   * general path to handle. Called at a frame boundary, with no data message open. Returns the
   * position where the general path takes over.
   */
  private wholeMessages(chunk: Buffer, pos: number, len: number): number {
    const o = this.opts;
    const maskBit = o.masked ? 0x80 : 0;
    const head = o.masked ? 6 : 2;
    // RSV bits this frame may carry: RSV1 with permessage-deflate; any with another extension.
    const rsvOk = o.otherExtensions ? 0x70 : o.rsv1 ? 0x40 : 0;
    const max = o.maxMessageBytes;
    while (len - pos >= 2) {
      const b0 = chunk[pos]!;
      const b1 = chunk[pos + 1]!;
      const opcode = b0 & 0x0f;
      // FIN set, text or binary, no RSV bit it may not have, masked as this direction must be.
      if ((b0 & 0x80) === 0 || (opcode !== Opcode.Text && opcode !== Opcode.Binary)) break;
      if ((b0 & 0x70 & ~rsvOk) !== 0 || (b1 & 0x80) !== maskBit) break;
      let length = b1 & 0x7f;
      let start = pos + head;
      if (length === 126) {
        if (len - pos < head + 2) break;
        length = (chunk[pos + 2]! << 8) | chunk[pos + 3]!;
        if (length < 126) break; // not minimal: the general path reports it
        start += 2;
      } else if (length === 127 || start > len) {
        break;
      }
      const end = start + length;
      if ((max > 0 && length > max) || end > len) break;
      pos = end;
      this.message(opcode, length);
      // The sink queued a frame for the next boundary: that is here, and the general path's.
      if (this.#pending !== null) break;
    }
    return pos;
  }

  /** Forward this chunk's unforwarded bytes up to `upTo`. */
  private emitUpTo(upTo: number): void {
    const from = this.#from;
    if (from < upTo) {
      const c = this.#chunk;
      this.forward(from === 0 && upTo === c.length ? c : c.subarray(from, upTo));
      this.#from = upTo;
    }
  }

  /**
   * Handle a complete header at `buf[start..start+size)`. `inChunk`: `buf` is the current chunk
   * (bytes after the header follow in it); otherwise `buf` is a held header whose bytes have not
   * been forwarded and the payload follows in the current chunk at `#from`.
   * Returns the chunk position after the header (meaningful when `inChunk`).
   */
  private header(buf: Buffer, start: number, size: number, inChunk: boolean): number {
    const b0 = buf[start]!;
    const b1 = buf[start + 1]!;
    const fin = (b0 & 0x80) !== 0;
    const rsv = b0 & 0x70;
    const opcode = b0 & 0x0f;
    const masked = (b1 & 0x80) !== 0;
    let length = b1 & 0x7f;
    const after = start + size;

    let tooLarge = false;
    if (length === 126) {
      length = buf.readUInt16BE(start + 2);
      // "the minimal number of bytes MUST be used to encode the length" (§5.2)
      if (length < 126) this.violation('non_minimal_length');
    } else if (length === 127) {
      const hi = buf.readUInt32BE(start + 2);
      // "the most significant bit MUST be 0" (§5.2); beyond 2^53 we cannot count exactly.
      if (hi > MAX_SAFE_HI) {
        tooLarge = true;
        length = Infinity;
      } else {
        length = hi * 0x1_0000_0000 + buf.readUInt32BE(start + 6);
        if (length <= 0xffff) this.violation('non_minimal_length');
      }
    }

    // Every check runs before deciding what to do with the frame, so that a frame with several
    // faults reports each of them (among them the one a receiver such as `ws` fails it for).
    // "If an unknown opcode is received, the receiving endpoint MUST _Fail the WebSocket
    // Connection_" (§5.2): whatever follows is not framing we can follow.
    const reserved = (opcode > 0x2 && opcode < 0x8) || opcode > 0xa;
    if (reserved) this.violation('reserved_opcode');
    // "A client MUST mask all frames that it sends to the server … A server MUST NOT mask any
    // frames that it sends to the client." (§5.1)
    if (masked !== this.opts.masked) this.violation(masked ? 'mask_forbidden' : 'mask_required');
    const isControl = opcode >= 0x8;
    if (rsv !== 0 && !this.opts.otherExtensions) {
      // RSV1 is the "Per-Message Compressed" bit: legal only on the first frame of a data
      // message when permessage-deflate was negotiated (RFC 7692 §6).
      if (!(rsv === 0x40 && this.opts.rsv1 && !isControl && opcode !== Opcode.Continuation)) {
        this.violation('reserved_bits');
      }
    }
    if (!reserved) {
      if (isControl) {
        // "All control frames MUST have a payload length of 125 bytes or less and MUST NOT be fragmented." (§5.5)
        if (!fin) this.violation('fragmented_control');
        if (length > MAX_CONTROL_PAYLOAD) this.violation('control_too_long');
      } else if (opcode === Opcode.Continuation) {
        if (this.#msgOpcode === 0) this.violation('unexpected_continuation');
      } else if (this.#msgOpcode !== 0) {
        this.violation('incomplete_message');
      }
    }
    if (tooLarge) {
      this.violation('length_too_large');
      // Over any limit: refuse it like any frame too big, rather than wave the rest through.
      if (this.opts.maxMessageBytes > 0) return this.refuse(start, inChunk);
    }
    if (reserved || tooLarge) return this.stopAt(buf, start, inChunk, after);

    if (isControl) {
      if (length > MAX_CONTROL_PAYLOAD) {
        // Its length is still known, so framing holds: let it pass like a payload.
        if (!inChunk) this.forward(buf);
        return this.payload(length, S_CONTROL_PAYLOAD, after);
      }
      const frameLen = size + length;
      if (inChunk) {
        if (buf.length - start >= frameLen) {
          // The whole control frame is in this chunk: decide on it in place.
          if (!this.controlFrame(opcode, buf, start + size, length, masked ? start + size - 4 : -1)) {
            this.emitUpTo(start);
            this.#from = start + frameLen;
          }
          return start + frameLen;
        }
        this.emitUpTo(start);
      }
      // Assemble it; nothing of it is forwarded until it is whole.
      const ctrl = Buffer.allocUnsafe(frameLen);
      const have = inChunk ? buf.length - start : size;
      buf.copy(ctrl, 0, start, start + have);
      this.#ctrl = ctrl;
      this.#held = have;
      this.#state = S_CONTROL;
      if (inChunk) this.#from = buf.length;
      if (have === frameLen) this.controlAssembled();
      return inChunk ? buf.length : after;
    }

    if (opcode !== Opcode.Continuation) {
      this.#msgOpcode = opcode;
      this.#msgSize = 0;
    }
    const max = this.opts.maxMessageBytes;
    // Refuse the frame before any of it is sent (SPEC: decided from the frame header).
    if (max > 0 && this.#msgSize + length > max) return this.refuse(start, inChunk);
    this.#msgSize += length;
    this.#msgFin = fin;
    if (!inChunk) this.forward(buf);
    return this.payload(length, S_PAYLOAD, after);
  }

  /** A payload of `length` bytes follows: `state` is S_PAYLOAD for a data frame, S_CONTROL_PAYLOAD for a control frame. */
  private payload(length: number, state: number, after: number): number {
    if (length === 0) {
      if (state === S_PAYLOAD) this.dataFrameEnd();
    } else {
      this.#remaining = length;
      this.#state = state;
    }
    return after;
  }

  private dataFrameEnd(): void {
    if (this.#msgFin) {
      const op = this.#msgOpcode;
      const size = this.#msgSize;
      this.#msgOpcode = 0;
      // A stray continuation after this must not count toward this message's limit.
      this.#msgSize = 0;
      if (op !== 0) this.message(op, size);
    }
  }

  private controlAssembled(): void {
    const ctrl = this.#ctrl!;
    const h = headerSize(ctrl[1], ctrl.length);
    this.#ctrl = null;
    this.#held = 0;
    this.#state = S_HEADER;
    const maskAt = (ctrl[1]! & 0x80) !== 0 ? h - 4 : -1;
    if (this.controlFrame(ctrl[0]! & 0x0f, ctrl, h, ctrl.length - h, maskAt)) this.forward(ctrl);
  }

  /** Unmask (when needed) a control frame's payload and hand it to the sink. */
  private controlFrame(opcode: number, buf: Buffer, at: number, length: number, maskAt: number): boolean {
    let p: Buffer;
    if (maskAt >= 0 && length > 0) {
      // Unmask into one shared scratch area: the payload is only valid during the sink call
      // (FrameSink.control's contract), so a pong per heartbeat allocates no memory of its own.
      p = UNMASKED.subarray(0, length);
      for (let i = 0; i < length; i++) p[i] = buf[at + i]! ^ buf[maskAt + (i & 3)]!;
    } else {
      p = buf.subarray(at, at + length);
    }
    if (opcode === Opcode.Close) {
      // "If there is a body, the first two bytes of the body MUST be a 2-byte unsigned integer
      // … representing a status code" (§5.5.1): a 1-byte body is invalid.
      if (length === 1) this.violation('bad_close_payload');
      else if (length >= 2 && !isValidCloseCode(p.readUInt16BE(0))) this.violation('invalid_close_code');
    }
    return this.control(opcode, p);
  }

  /**
   * Framing is lost at the frame starting at `start`: forward what precedes it, then the frames
   * queued for a boundary (this is the last one), then the header (if held) and everything after
   * it, unparsed.
   */
  private stopAt(buf: Buffer, start: number, inChunk: boolean, after: number): number {
    this.#state = S_STOPPED;
    this.#msgOpcode = 0;
    if (this.#pending !== null) {
      if (inChunk) this.emitUpTo(start);
      this.flushPending();
    }
    if (!inChunk) this.forward(buf);
    return inChunk ? this.#chunk.length : after;
  }

  /**
   * A limit refused the frame starting at `start` (nothing of it sent): forward what precedes
   * it and the frames queued for a boundary, then nothing more.
   */
  private refuse(start: number, inChunk: boolean): number {
    if (inChunk) this.emitUpTo(start);
    this.#from = this.#chunk.length;
    this.#state = S_DISCARD;
    if (this.#pending !== null) this.flushPending();
    this.tooBig();
    return this.#chunk.length;
  }

  private flushPending(): void {
    const list = this.#pending!;
    this.#pending = null;
    for (const f of list) this.forward(f);
  }
}

/**
 * A parser reporting to a separate sink object (the tunnel's flows are their own sinks instead).
 */
export class SinkParser extends FrameParser {
  constructor(
    private readonly sink: FrameSink,
    opts: ParserOptions,
  ) {
    super(opts);
  }

  forward(buf: Buffer): void {
    this.sink.forward(buf);
  }

  message(opcode: number, size: number): void {
    this.sink.message(opcode, size);
  }

  control(opcode: number, payload: Buffer): boolean {
    return this.sink.control(opcode, payload);
  }

  violation(kind: Violation): void {
    this.sink.violation(kind);
  }

  tooBig(): void {
    this.sink.tooBig();
  }
}

const EMPTY = Buffer.alloc(0);
/** Scratch for unmasked control payloads (≤ 125 bytes; see controlFrame). */
const UNMASKED = Buffer.allocUnsafeSlow(MAX_CONTROL_PAYLOAD);

/**
 * Size of a frame header from its second byte (undefined when not yet read) — 0 when unknown or
 * when fewer than 2 bytes are available (`avail`).
 */
function headerSize(b1: number | undefined, avail: number): number {
  if (b1 === undefined || avail < 2) return 0;
  const len7 = b1 & 0x7f;
  return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (b1 & 0x80 ? 4 : 0);
}
