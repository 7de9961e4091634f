/**
 * The tunnel: after a valid 101, relay bytes both ways unchanged with backpressure, tap each
 * direction with a passive frame parser, and end the session through one teardown path.
 *
 * Ending, in RFC 6455 terms (research/protocol-and-reliability.md §1.5, §6 #8–9):
 * - a close frame passes through like any frame; its code and sender are recorded (the first
 *   one wins); once a leg's TCP ends after that, the FIN is passed on;
 * - a leg whose TCP ends (or errors) before it sent a close frame "dropped": 1006 is recorded
 *   for it, and the other leg gets a close frame — 1014 toward the client, 1001 toward the
 *   backend — at a frame boundary, or has its TCP closed if it is mid-frame;
 * - the proxy may end a session itself (limits, drain, dead legs) with close frames of its own,
 *   injected at frame boundaries;
 * - whichever way it ends, `timeouts.close` bounds the wait for the peers, then both sockets are
 *   destroyed; the session is reported exactly once, when both sockets have closed.
 */
import net, { type Socket } from 'node:net';
import { FrameParser, type ParserOptions } from '../frames/parser.js';
import { Opcode, type Violation } from '../frames/constants.js';
import { ABNORMAL, closeCodeOf, closeFrame } from '../frames/close.js';
import type { Direction, EventHub, Initiator, Leg, SessionInfo } from '../events.js';
import type { Logger } from '../log.js';
import { SessionBeat, type BeatHost, type HeartbeatSettings } from '../heartbeat/beat.js';
import { nowMs, type TimerWheel } from '../heartbeat/wheel.js';
import type { Backend } from '../balance/backend.js';

/**
 * What every session of one config shares. Build it once per config and pass the same object to
 * each session: a session keeps a reference to it, not a copy (per-session memory is what limits
 * how many idle sessions one process holds).
 */
export interface TunnelOptions {
  readonly hub: EventHub;
  readonly logger: Logger;
  readonly closeTimeoutMs: number;
  readonly maxMessageBytes: number;
  /** Called once when both sockets have closed and the session was reported. */
  readonly onEnd: (s: Session) => void;
  /** Heartbeats and idle timeout, on the proxy's shared timer. */
  readonly heartbeat: HeartbeatSettings;
  readonly wheel: TimerWheel;
}

/** The flow that reads from a socket, kept on the socket so that one shared listener serves all sessions. */
const kFlow = Symbol('wstap.flow');
type TunnelSocket = Socket & { [kFlow]: Flow };

function flowOf(sock: Socket): Flow {
  return (sock as TunnelSocket)[kFlow];
}

// Socket listeners shared by every session: per-session closures (and the contexts behind
// them) were about a tenth of an idle session's memory.
function onSocketData(this: Socket, chunk: Buffer): void {
  flowOf(this).onData(chunk);
}
function onSocketDrain(this: Socket): void {
  // The flow *writing* to this socket is the other one.
  flowOf(this).reverse.onDrain();
}
function onSocketError(this: Socket): void {
  const f = flowOf(this);
  f.session.legGone(f.srcLeg, true);
}
function onSocketEnd(this: Socket): void {
  const f = flowOf(this);
  f.session.legGone(f.srcLeg, false);
}
function onSocketClose(this: Socket): void {
  flowOf(this).session.socketClosed();
}
function onCloseTimeout(s: Session): void {
  s.closeTimedOut();
}

// ---- Tunnel reads into a reusable buffer (the mechanism behind net's `onread`) ----
//
// Node's default read path allocates a 64 KiB buffer per read (shrunk to what was read) and
// runs it through Readable.push and a 'data' event: in a flood of small frames that was 14% of
// the proxy's CPU in GC alone, and the stream machinery most of wstap's own time per message.
// `onread` makes a socket read into a buffer we hand it and call us directly — but Node takes
// it only when it creates the socket (`net.connect`), not for accepted sockets, and a backend
// socket made that way through an Agent of our own cost ~2.5 KB more RSS per idle session.
// So both sockets of a plain-TCP session switch to it when the tunnel starts (`readDirect`),
// through the same per-socket slots Node's `onread` option fills (found by probing, below);
// where they cannot be found, or for TLS sockets, the tunnel keeps the 'data' path.
//
// The catch: the buffer is reused for the next read, so nothing may still reference it when the
// callback returns — and `dst.write(subarray)` queues a reference whenever the destination
// cannot take the bytes at once (a partial write in flight, or writes buffered behind it). Hence:
// - one process-wide `SHARED_READ` buffer, whose reads are always copied out (right-sized)
//   before anyone sees them: tunnel reads smaller than BIG_READ. An idle session then holds no
//   read buffer of its own;
// - a socket that reads BIG_READ or more gets a buffer of its own (`Flow.readBuf`, BULK_READ
//   bytes), read in place with no copy and no allocation; when the destination kept a reference
//   to it after the read, or a read is small again, the socket goes back to the shared buffer
//   (and the queue keeps the old one alive until written).
// A socket can only be given another buffer when a read completes, so a flow whose burst ended
// with a big read keeps its buffer until its next read, however long it stays quiet. Hence a
// budget: at most `bulkReads.max` flows hold one at a time (64 MiB by default); past it, bulk
// reads go through the shared buffer and are copied, as small ones are.

/** Most bytes one read into the shared buffer takes: the size Node's own read path allocates. */
const READ_SIZE = 64 * 1024;
/**
 * Most bytes one read into a bulk stream's own buffer takes. Four times Node's (and nginx's
 * `proxy_buffer_size 64k`): a quarter of the reads, writes and callbacks per GB. Measured
 * against 64 KiB in alternating runs: 0.43 against 0.56 proxy core-seconds per GB in a flood of
 * 16 KiB frames, 0.53 against 0.60 for 64-byte frames.
 */
const BULK_READ = 256 * 1024;
/** Reads this large are taken in place, in a buffer of the socket's own; smaller ones are copied. */
const BIG_READ = 16 * 1024;
/** Where sockets without a buffer of their own read; copied out before use, so never referenced. */
const SHARED_READ = Buffer.allocUnsafeSlow(READ_SIZE);

/**
 * Flows holding a bulk read buffer of their own (`inUse`), and the most that may (`max`, 256 ×
 * 256 KiB = 64 MiB). @internal exported for the tests, which lower `max`.
 */
export const bulkReads = { inUse: 0, max: 256 };

/** Give a flow a bulk read buffer, if the budget allows. */
function takeBulk(flow: Flow): void {
  if (flow.readBuf !== null || bulkReads.inUse >= bulkReads.max) return;
  flow.readBuf = Buffer.allocUnsafeSlow(BULK_READ);
  bulkReads.inUse++;
}

/** The flow reads into the shared buffer again (its own stays alive while a write holds it). */
function dropBulk(flow: Flow): void {
  if (flow.readBuf === null) return;
  flow.readBuf = null;
  bulkReads.inUse--;
}

function copyOut(buf: Uint8Array, n: number): Buffer {
  const c = Buffer.allocUnsafe(n); // small sizes come from Node's pool: no allocation of their own
  c.set(n === buf.length ? buf : buf.subarray(0, n));
  return c;
}

/**
 * The buffer for the next read of the socket whose read was just handled. Node asks for it
 * without the socket, right after the read callback returned, so the callback leaves its
 * answer here.
 */
let nextRead: Buffer = SHARED_READ;

/** Where the next read lands (`onread.buffer`). */
function nextReadBuffer(): Uint8Array {
  const b = nextRead;
  nextRead = SHARED_READ;
  return b;
}

/** `n` bytes were read into `buf` (`onread.callback`). Called with the socket as `this`. */
function onTunnelRead(this: Socket, n: number, buf: Uint8Array): boolean {
  const flow = flowOf(this);
  if (n < BIG_READ) {
    dropBulk(flow);
    flow.onData(copyOut(buf, n));
  } else if (buf === SHARED_READ) {
    flow.onData(copyOut(buf, n));
    // A bulk stream: read the next chunks in place.
    if (!this.destroyed) takeBulk(flow);
  } else {
    flow.onData(n === buf.length ? (buf as Buffer) : (buf as Buffer).subarray(0, n));
    // Anything still queued toward the destination may point into `buf`: leave it to the queue.
    if (flow.dst.writableLength > 0 || this.destroyed) dropBulk(flow);
  }
  // Set last: onData may have run other sockets' code, never their reads.
  if (flow.readBuf !== null) nextRead = flow.readBuf;
  // Backpressure pauses the socket from onData (as with 'data' events): nothing to say here.
  return true;
}

/** net.Socket's own slots for `onread`: where a socket keeps its read buffer, generator and callback. */
interface ReadSlots {
  readonly buffer: symbol;
  readonly generator: symbol;
  readonly callback: symbol;
}

/**
 * Find the slots by making a socket with `onread` and seeing where our functions went (Node
 * keeps them under symbols it does not export). Undefined when this Node stores them otherwise.
 */
function findReadSlots(): ReadSlots | undefined {
  const buffer = (): Uint8Array => SHARED_READ;
  const callback = (): boolean => true;
  let probe: Socket;
  try {
    // `onread` is a Socket constructor option too (net.connect passes it on); @types/node omits it.
    probe = new net.Socket({ onread: { buffer, callback } } as net.SocketConstructorOpts);
  } catch {
    return undefined;
  }
  const slots: Partial<Record<keyof ReadSlots, symbol>> = {};
  const own = probe as unknown as Record<symbol, unknown>;
  for (const k of Object.getOwnPropertySymbols(probe)) {
    if (own[k] === buffer) slots.generator = k;
    else if (own[k] === callback) slots.callback = k;
    else if (own[k] === true && k.description === 'kBuffer') slots.buffer = k;
  }
  probe.destroy();
  const { buffer: b, generator: g, callback: c } = slots;
  return b && g && c ? { buffer: b, generator: g, callback: c } : undefined;
}

const readSlots = findReadSlots();

interface UserBufferHandle {
  useUserBuffer?(buf: Uint8Array): void;
}

/**
 * Make `sock` read into `SHARED_READ` (or its flow's own buffer) and call `onTunnelRead`, as if
 * it had been created with `onread`. Returns false, changing nothing, where that cannot be done
 * (a TLS socket, no handle, an unknown Node): the socket then goes on with 'data' events.
 * Bytes already pushed to its Readable side still come as 'data' events, before any direct read.
 */
export function readDirect(sock: Socket): boolean {
  const handle = (sock as unknown as { _handle: UserBufferHandle | null })._handle;
  if (readSlots === undefined || (sock as { encrypted?: boolean }).encrypted || typeof handle?.useUserBuffer !== 'function') {
    return false;
  }
  const slots = sock as unknown as Record<symbol, unknown>;
  slots[readSlots.buffer] = SHARED_READ;
  slots[readSlots.generator] = nextReadBuffer;
  slots[readSlots.callback] = onTunnelRead;
  handle.useUserBuffer(SHARED_READ);
  return true;
}

/**
 * Rebuild a socket's listener table as a plain object. Node removes a listener with `delete`,
 * which turns the table into a hash table for good; the HTTP server and client have added and
 * removed a dozen by the time the tunnel starts, so each socket of an idle session kept one of
 * ~260 bytes (a heap snapshot of 3,000 idle sessions: 710 bytes a session). The listeners and
 * their order stay as they are; only the table is new, shaped like the one Node's streams
 * start with.
 */
function compactListeners(sock: Socket): void {
  const emitter = sock as unknown as { _events?: Record<string | symbol, unknown> };
  const old = emitter._events;
  if (old === undefined || old === null) return;
  const fresh: Record<string | symbol, unknown> = {
    close: undefined,
    error: undefined,
    prefinish: undefined,
    finish: undefined,
    drain: undefined,
    data: undefined,
    end: undefined,
    readable: undefined,
  };
  for (const k of Reflect.ownKeys(old)) if (old[k] !== undefined) fresh[k] = old[k];
  emitter._events = fresh;
}

/** Parser options are the same for most sessions: share them instead of one object per flow. */
const parserOptionsCache = new Map<number, ParserOptions[]>();
function parserOptions(masked: boolean, rsv1: boolean, otherExtensions: boolean, maxMessageBytes: number): ParserOptions {
  let byBits = parserOptionsCache.get(maxMessageBytes);
  if (byBits === undefined) {
    if (parserOptionsCache.size > 16) parserOptionsCache.clear(); // configs come and go with reloads
    byBits = [];
    parserOptionsCache.set(maxMessageBytes, byBits);
  }
  const bits = (masked ? 1 : 0) | (rsv1 ? 2 : 0) | (otherExtensions ? 4 : 0);
  return (byBits[bits] ??= Object.freeze({ masked, rsv1, otherExtensions, maxMessageBytes }));
}

// Close-handshake state of both legs, as bits of one number: the client leg's bit is the flag,
// the backend leg's the flag shifted left by one (see `bit`).
/** A close frame was received from the leg. */
const CLOSE_FROM = 1;
/** A close frame was written toward the leg (passed through, or the proxy's own). */
const CLOSE_TO = 4;
/** The proxy wrote a close frame of its own toward the leg. */
const OUR_CLOSE_TO = 16;
/** The leg's TCP has ended (FIN or error): it is gone, whatever follows. */
const LEG_ENDED = 64;
// Session-wide bits, above both legs' (flag and flag << 1) range.
/** One of the two sockets has closed. */
const ONE_SOCKET_CLOSED = 256;
/** Both sockets closed and the session was reported. */
const ENDED = 512;

function bit(flag: number, leg: Leg): number {
  return leg === 'client' ? flag : flag << 1;
}

/**
 * One direction of the relay: source socket → parser → destination socket. A flow is its own
 * frame parser and the parser's sink (one object per direction instead of two). Which
 * direction it is follows from the session (`this === session.c2b`) rather than from fields of
 * its own: six fields less in each of the two flows of every session.
 */
class Flow extends FrameParser {
  /** Data messages seen in this direction. */
  messages = 0;
  /** `nowMs()` of the last bytes read from the source. */
  lastRecv = 0;
  /** `nowMs()` of the last time the destination drained a full write buffer. */
  dstDrainAt = 0;
  /** A write returned false: the source is paused until the destination drains. */
  #blocked = false;
  /** The source's own read buffer while it streams in bulk (sockets that `readDirect`). */
  readBuf: Buffer | null = null;

  constructor(
    readonly session: Session,
    parserOpts: ParserOptions,
  ) {
    super(parserOpts);
  }

  /** The socket this flow reads from. */
  get src(): Socket {
    const s = this.session;
    return this === s.c2b ? s.client : s.backend;
  }

  /** The socket this flow writes to. */
  get dst(): Socket {
    const s = this.session;
    return this === s.c2b ? s.backend : s.client;
  }

  get dir(): Direction {
    return this === this.session.c2b ? 'client_to_backend' : 'backend_to_client';
  }

  /** The leg this flow reads from. */
  get srcLeg(): Leg {
    return this === this.session.c2b ? 'client' : 'backend';
  }

  /** The leg this flow writes to. */
  get dstLeg(): Leg {
    return this === this.session.c2b ? 'backend' : 'client';
  }

  /** The flow of the other direction. */
  get reverse(): Flow {
    const s = this.session;
    return this === s.c2b ? s.b2c : s.c2b;
  }

  /** Bytes read from the source socket. */
  onData(chunk: Buffer): void {
    const s = this.session;
    this.lastRecv = nowMs();
    s.hub.bytes(s.info, this.dir, chunk.length);
    this.push(chunk);
    if (run.flow !== null) flushRun();
    if (this.#blocked) this.src.pause();
  }

  /** The destination socket drained. */
  onDrain(): void {
    this.dstDrainAt = nowMs();
    if (this.#blocked) {
      this.#blocked = false;
      this.src.resume();
    }
  }

  /** The source is paused until the destination drains. */
  get blocked(): boolean {
    return this.#blocked;
  }

  forward(buf: Buffer): void {
    const dst = this.dst;
    // Our heartbeat ping reaching its boundary (a cheap identity check, null when none waits).
    const beat = this.session.beat;
    if (beat !== undefined && beat.queuedToward(this.dstLeg) === buf && !beat.onForward(this.dstLeg)) return;
    if (dst.writable && !dst.write(buf)) this.#blocked = true;
  }

  message(opcode: number, size: number): void {
    this.messages++;
    // Called from push() inside onData, which reports the run when the chunk is done.
    if (run.flow === this && run.opcode === opcode && run.size === size) {
      run.count++;
      return;
    }
    if (run.flow !== null) flushRun();
    run.flow = this;
    run.opcode = opcode;
    run.size = size;
    run.count = 1;
  }

  control(opcode: number, payload: Buffer): boolean {
    if (opcode === Opcode.Close) return this.session.onCloseFrame(this, payload);
    const beat = this.session.beat;
    if (beat !== undefined) {
      // Our own pongs are cut out; everyone else's pings and pongs pass untouched.
      if (opcode === Opcode.Pong) return !beat.onPong(this.srcLeg, payload);
      if (opcode === Opcode.Ping) beat.onAppPing(this.dstLeg);
    }
    return true;
  }

  violation(kind: Violation): void {
    this.session.hub.violation(this.dir, kind);
  }

  tooBig(): void {
    this.session.onTooBig(this);
  }

  /** Write a frame of the proxy's own toward `dst`, at a frame boundary. */
  injectFrame(frame: Buffer): void {
    if (this.inject(frame)) this.forward(frame);
    // Framing toward dst is lost (garbage passed unparsed): no boundary will ever come, so
    // nothing can be appended safely. Close its TCP instead.
    else if (this.stopped && !this.atBoundary) this.dst.destroy();
  }
}

/**
 * Equal consecutive data messages of the read being handled, reported as one event when the
 * read is done (`Flow.onData`) or when a different message comes: in a flood of equal frames,
 * one `hub.message` per read instead of one per frame. Never kept across reads, so it lives
 * here, not in every flow.
 */
const run = { flow: null as Flow | null, opcode: 0, size: 0, count: 0 };

function flushRun(): void {
  const f = run.flow!;
  run.flow = null;
  const s = f.session;
  // lastRecv is the clock reading of the read these messages completed in.
  s.hub.message(s.info, f.dir, run.opcode === Opcode.Text ? 'text' : 'binary', run.size, f.lastRecv, run.count);
}

export class Session implements BeatHost {
  readonly info: SessionInfo;
  /** Heartbeats and idle checks; absent when both are off. */
  readonly beat: SessionBeat | undefined;
  readonly hub: EventHub;
  readonly c2b: Flow;
  readonly b2c: Flow;
  readonly #opts: TunnelOptions;
  /** First close frame: its code (-1 = none yet; 0 is a code a peer can send) and who sent it. */
  #code = -1;
  #initiator: Initiator = 'proxy';
  #reason: string | undefined;
  /**
   * CLOSE_FROM, CLOSE_TO, OUR_CLOSE_TO and LEG_ENDED bits of both legs, ONE_SOCKET_CLOSED and
   * ENDED: one number instead of a field each (8 bytes a field, in every session).
   */
  #state = 0;
  #closeTimer: NodeJS.Timeout | undefined;

  /**
   * @param server the server this session runs on (for the caller's `onEnd` bookkeeping)
   * @param extensions negotiated extension names from the 101
   */
  constructor(
    readonly client: Socket,
    readonly backend: Socket,
    info: SessionInfo,
    opts: TunnelOptions,
    readonly server: Backend,
    extensions: readonly string[],
  ) {
    this.info = info;
    this.hub = opts.hub;
    this.#opts = opts;
    const deflate = extensions.includes('permessage-deflate');
    const other = extensions.some((e) => e !== 'permessage-deflate');
    const max = opts.maxMessageBytes;
    this.c2b = new Flow(this, parserOptions(true, deflate, other, max));
    this.b2c = new Flow(this, parserOptions(false, deflate, other, max));
    const hb = opts.heartbeat;
    this.beat = hb.intervalMs > 0 || hb.idleMs > 0 ? new SessionBeat(this, opts.wheel, hb) : undefined;
  }

  // Helpers are `private`, not `#private`: #methods put a brand in every instance (8 bytes).
  private hasBit(flag: number, leg: Leg): boolean {
    return (this.#state & bit(flag, leg)) !== 0;
  }

  private setBit(flag: number, leg: Leg): void {
    this.#state |= bit(flag, leg);
  }

  // ---- BeatHost ----

  injectToward(leg: Leg, frame: Buffer): void {
    (leg === 'client' ? this.b2c : this.c2b).injectFrame(frame);
  }

  lastRecv(leg: Leg): number {
    return (leg === 'client' ? this.c2b : this.b2c).lastRecv;
  }

  lastProgress(leg: Leg): number {
    const from = leg === 'client' ? this.c2b : this.b2c;
    const to = leg === 'client' ? this.b2c : this.c2b;
    // While we do not read from the leg (backpressure from the other side) its pong cannot be
    // seen: that is not the leg's fault. A leg still draining what we send it is alive too.
    if (from.blocked) return performance.now();
    return Math.max(from.lastRecv, to.dstDrainAt);
  }

  accepting(leg: Leg): boolean {
    return !(leg === 'client' ? this.b2c : this.c2b).blocked;
  }

  get closing(): boolean {
    return this.#code >= 0 || this.ended;
  }

  onRtt(leg: Leg, seconds: number): void {
    this.hub.ping(this.info, leg, seconds);
  }

  onDead(leg: Leg): void {
    this.hub.pingTimeout(this.info, leg);
    this.legDead(leg, 'heartbeat_timeout');
  }

  onIdle(): void {
    this.close(1001, 'idle timeout', 'idle_timeout');
  }

  /**
   * Start relaying. `clientEarly` are bytes the client sent before the 101 (held until now);
   * `backendHead` are bytes the backend sent right after its 101.
   */
  start(clientEarly: readonly Buffer[], backendHead: Buffer): void {
    const { client, backend } = this;
    (client as TunnelSocket)[kFlow] = this.c2b;
    (backend as TunnelSocket)[kFlow] = this.b2c;
    for (const sock of [client, backend]) {
      sock.removeAllListeners('error');
      sock.removeAllListeners('data');
      sock.removeAllListeners('end');
      sock.removeAllListeners('close');
      sock.setNoDelay(true); // a no-op when already set (the listener and the dialler set it)
      sock.setTimeout(0);
      sock.on('error', onSocketError);
      sock.on('end', onSocketEnd);
      sock.on('close', onSocketClose);
      sock.on('drain', onSocketDrain);
      compactListeners(sock);
      readDirect(sock);
      // The address object cached by the handshake's `remoteAddress` (~50 bytes): the session
      // keeps the client's address in its info, and Node asks the handle again if anyone reads it.
      (sock as unknown as { _peername?: unknown })._peername = undefined;
    }
    this.hub.sessionOpen(this.info);
    if (backendHead.length > 0) this.b2c.onData(backendHead);
    for (const b of clientEarly) this.c2b.onData(b);
    client.on('data', onSocketData);
    backend.on('data', onSocketData);
    client.resume();
    backend.resume();
    const now = nowMs();
    this.c2b.lastRecv = now;
    this.b2c.lastRecv = now;
    this.beat?.start(now);
  }

  /** A close frame passed from `flow.srcLeg`. Returns whether to forward it. */
  onCloseFrame(flow: Flow, payload: Buffer): boolean {
    const from = flow.srcLeg;
    this.setBit(CLOSE_FROM, from);
    if (this.#code < 0) {
      this.#code = closeCodeOf(payload);
      this.#initiator = from;
    }
    this.armCloseTimer();
    // A close answering the proxy's own close is for the proxy, not for the other peer; and a
    // leg that already got the proxy's close must not get a second one. A peer's own closes
    // (even a second one) pass through untouched.
    if (this.hasBit(OUR_CLOSE_TO, from) || this.hasBit(OUR_CLOSE_TO, flow.dstLeg)) return false;
    this.setBit(CLOSE_TO, flow.dstLeg);
    return true;
  }

  /** A message from `flow.srcLeg` broke `limits.max_message_bytes`: 1009 to it, 1001 to the other. */
  onTooBig(flow: Flow): void {
    this.hub.error(this.info.route, this.info.backend, 'message_too_big');
    const toSender = flow.reverse;
    this.record(1009, 'proxy', 'message_too_big');
    this.sendClose(toSender, 1009, 'message too big');
    this.sendClose(flow, 1001, 'peer sent a message too big');
  }

  /**
   * End the session from the proxy's side: a close frame with `code` to each leg that has not
   * had one (at a frame boundary), then `timeouts.close` for the peers to finish.
   */
  close(code: number, reason: string, errorType?: string): void {
    if (this.ended) return;
    if (errorType !== undefined) this.hub.error(this.info.route, this.info.backend, errorType);
    this.record(code, 'proxy', reason);
    this.sendClose(this.b2c, code, reason);
    this.sendClose(this.c2b, code, reason);
  }

  /**
   * A leg is dead (no pong in time): record 1006 for it and end the session as if it dropped.
   */
  legDead(leg: Leg, errorType: string): void {
    if (this.ended) return;
    this.hub.error(this.info.route, this.info.backend, errorType);
    this.record(ABNORMAL, leg, errorType);
    const sock = leg === 'client' ? this.client : this.backend;
    sock.destroy();
  }

  /** Destroy both sockets now (the close timer, or process shutdown). */
  destroy(): void {
    this.client.destroy();
    this.backend.destroy();
  }

  get ended(): boolean {
    return (this.#state & ENDED) !== 0;
  }

  private record(code: number, initiator: Initiator, reason?: string): void {
    if (this.#code >= 0) return;
    this.#code = code;
    this.#initiator = initiator;
    this.#reason = reason;
  }

  private sendClose(flow: Flow, code: number, reason: string): void {
    const leg = flow.dstLeg;
    if (this.hasBit(CLOSE_TO, leg) || !flow.dst.writable) return;
    this.setBit(CLOSE_TO | OUR_CLOSE_TO, leg);
    flow.injectFrame(closeFrame(code, reason, leg === 'backend'));
    this.armCloseTimer();
  }

  private armCloseTimer(): void {
    if (this.#closeTimer !== undefined || this.ended) return;
    this.#closeTimer = setTimeout(onCloseTimeout, this.#opts.closeTimeoutMs, this);
    this.#closeTimer.unref();
  }

  /** @internal `timeouts.close` passed: give up on the peers. */
  closeTimedOut(): void {
    this.record(ABNORMAL, 'proxy', 'close_timeout');
    this.hub.error(this.info.route, this.info.backend, 'close_timeout');
    this.destroy();
  }

  /**
   * @internal A leg's TCP ended (FIN) or failed. After its close frame this is the normal end
   * and the FIN is passed on; before it, the leg dropped (1006) and the other leg is told at a
   * boundary.
   */
  legGone(leg: Leg, failed: boolean): void {
    const gone = leg === 'client' ? this.client : this.backend;
    const other = leg === 'client' ? this.backend : this.client;
    const toOther = leg === 'client' ? this.c2b : this.b2c;
    if (failed) gone.destroy();
    this.armCloseTimer();
    this.setBit(LEG_ENDED, leg);
    // When the other leg left first, this one ending is the consequence, not news for it.
    if (!this.hasBit(CLOSE_FROM, leg) && !this.hasBit(LEG_ENDED, toOther.dstLeg)) {
      this.record(ABNORMAL, leg);
      if (!this.hasBit(CLOSE_TO, toOther.dstLeg) && other.writable) {
        if (toOther.atBoundary) {
          this.setBit(CLOSE_TO | OUR_CLOSE_TO, toOther.dstLeg);
          // 1014 "Bad Gateway" toward the client; 1001 "going away" toward the backend.
          toOther.forward(closeFrame(leg === 'backend' ? 1014 : 1001, `${leg} went away`, leg === 'client'));
        } else {
          // Mid-frame: nothing may be appended to a partial frame. Close its TCP instead.
          other.destroy();
          return;
        }
      }
    }
    if (!other.destroyed) other.end();
  }

  /** @internal One of the two sockets closed. */
  socketClosed(): void {
    if ((this.#state & ONE_SOCKET_CLOSED) === 0) {
      this.#state |= ONE_SOCKET_CLOSED;
      // One socket is gone: make sure the other follows (it may be waiting on a peer).
      if (this.client.destroyed !== this.backend.destroyed) {
        const other = this.client.destroyed ? this.backend : this.client;
        if (!other.writableEnded) this.legGone(this.client.destroyed ? 'client' : 'backend', false);
      }
      return;
    }
    this.finish();
  }

  private finish(): void {
    if (this.ended) return;
    this.#state |= ENDED;
    if (this.#closeTimer !== undefined) clearTimeout(this.#closeTimer);
    this.beat?.stop();
    dropBulk(this.c2b);
    dropBulk(this.b2c);
    const code = this.#code < 0 ? ABNORMAL : this.#code;
    const initiator = this.#initiator;
    const durationS = (performance.now() - this.info.openedAt) / 1000;
    const event = {
      code,
      initiator,
      durationS,
      messagesC2B: this.c2b.messages,
      messagesB2C: this.b2c.messages,
      ...(this.#reason !== undefined ? { reason: this.#reason } : {}),
    };
    this.hub.sessionClose(this.info, event);
    if (code !== 1000 && code !== 1001) {
      this.#opts.logger.warn(
        {
          session: this.info.id,
          route: this.info.route,
          backend: this.info.backend,
          code,
          initiator,
          duration_s: Math.round(durationS * 1000) / 1000,
          messages_c2b: event.messagesC2B,
          messages_b2c: event.messagesB2C,
          ...(this.#reason !== undefined ? { reason: this.#reason } : {}),
        },
        'unexpected close',
      );
    }
    this.#opts.onEnd(this);
  }
}
