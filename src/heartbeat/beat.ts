/**
 * Heartbeats of one session: the proxy pings each leg on its own and recognises the pongs, so
 * an operator can tell a slow client network from a slow backend, and a dead leg is found.
 *
 * The RFC traps (research/protocol-and-reliability.md §1.3–1.4), and what this does about them:
 * - "A Pong frame sent in response to a Ping frame must have identical 'Application data'":
 *   our pings carry a 12-byte payload (magic, a random word of the process's, 30 random bits
 *   of the ping's own), so an application's pong (often empty) is never mistaken for ours, and
 *   ours can be cut out of the stream.
 * - A peer "MAY elect to send a Pong frame for only the most recently processed Ping frame":
 *   no ping of ours goes toward a leg while an application ping toward it awaits its pong.
 * - "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame in response, unless it
 *   already received a Close frame": no ping once a close frame has passed either way.
 * - Pings go out at frame boundaries only (the parser defers them), masked toward the backend.
 * A leg that sends bytes is alive even if its pong is stuck behind a long frame it is sending,
 * and so is a slow reader still draining what we send it: the pong deadline runs from the later
 * of the ping and the leg's last sign of progress.
 */
import type { Leg } from '../events.js';
import { controlFrame, randomWord } from '../frames/close.js';
import { Opcode } from '../frames/constants.js';
import { nowMs, type TimerWheel, type Wakeable } from './wheel.js';

/** "wstp": marks the payload of the proxy's pings. */
const MAGIC = 0x77737470;
const PAYLOAD_LEN = 12;

const scratch = Buffer.allocUnsafe(PAYLOAD_LEN);
/**
 * The payload after the magic: this process's random word, then the ping's own 30 random bits.
 * 30 bits, not 32, so that a leg holds it as a small integer: a number past 2^31 would need a
 * heap number of its own in every session.
 */
const PROCESS_NONCE = randomWord();

export interface HeartbeatSettings {
  /** 0 = no heartbeats. */
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** 0 = no idle timeout. */
  readonly idleMs: number;
}

/** What the session offers its heartbeat. */
export interface BeatHost {
  /** Write a frame toward `leg` at the next frame boundary. */
  injectToward(leg: Leg, frame: Buffer): void;
  /** `performance.now()` of the last bytes read from `leg`. */
  lastRecv(leg: Leg): number;
  /** Like `lastRecv`, but also counting the leg draining what we send it (a slow reader is alive). */
  lastProgress(leg: Leg): number;
  /** Writes toward `leg` are not held back by backpressure (it takes what we send). */
  accepting(leg: Leg): boolean;
  /** A close frame has passed (or the proxy is closing): no more pings. */
  readonly closing: boolean;
  onRtt(leg: Leg, seconds: number): void;
  onDead(leg: Leg): void;
  onIdle(): void;
}

class LegBeat {
  /** The random part of our outstanding ping's payload. */
  nonce = 0;
  /** Our ping's frame while it waits in the parser for a boundary. */
  queued: Buffer | null = null;
  /**
   * When our outstanding ping was issued (0 = none outstanding): its pong deadline runs from
   * here, even while the ping waits behind a frame in progress — a leg that stopped reading
   * with full buffers would otherwise never let it out, and never be found dead.
   */
  sentAt = 0;
  /** When the ping actually went out on the wire: its round trip runs from here. */
  outAt = 0;
  nextPingAt = 0;
  /** An application ping toward this leg awaits its pong. */
  appPing = false;
}

export class SessionBeat implements Wakeable {
  wheelSlot = 0;
  readonly #client = new LegBeat();
  readonly #backend = new LegBeat();
  #stopped = false;

  constructor(
    private readonly host: BeatHost,
    private readonly wheel: TimerWheel,
    private readonly s: HeartbeatSettings,
  ) {}

  start(now: number): void {
    // The first ping comes at a random point of the first interval, not one interval after the
    // open: sessions opened together (a deploy, a reconnect storm, a load test) would otherwise
    // ping together for good, one burst of pings and pongs per interval that holds up every
    // message behind it (500 sessions opened at once, pinged every second: open-loop p99
    // 5.9–14.5 ms without this spread, 3.8–4.4 ms with it). Later pings follow every interval,
    // so the phases stay spread. Whole milliseconds (the wheel's slots are coarser anyway): a
    // small integer is stored in the object, a fraction in a heap number of its own — two per
    // session, for nothing.
    const first = this.s.intervalMs * (FIRST_PING_AT + (1 - FIRST_PING_AT) * Math.random());
    this.#client.nextPingAt = Math.ceil(now + first);
    this.#backend.nextPingAt = this.#client.nextPingAt;
    this.reschedule(now);
  }

  stop(): void {
    this.#stopped = true;
    this.wheel.cancel(this);
  }

  /** A pong arrived from `leg`. Returns true when it answers our ping (drop it). */
  onPong(leg: Leg, payload: Buffer): boolean {
    const b = this.legBeat(leg);
    if (
      b.sentAt !== 0 &&
      payload.length === PAYLOAD_LEN &&
      payload.readUInt32BE(0) === MAGIC &&
      payload.readUInt32BE(4) === PROCESS_NONCE &&
      payload.readUInt32BE(8) === b.nonce
    ) {
      const now = performance.now();
      this.host.onRtt(leg, (now - b.outAt) / 1000);
      b.sentAt = 0;
      b.outAt = 0;
      // The wheel holds this session at the pong deadline; bring it back to the next ping.
      this.reschedule(now);
      return true;
    }
    // Anyone else's pong: the application's ping toward this leg is answered.
    b.appPing = false;
    return false;
  }

  /** An application ping is passing toward `leg`. */
  onAppPing(leg: Leg): void {
    this.legBeat(leg).appPing = true;
  }

  /**
   * Our queued ping toward `leg` reached a frame boundary. Returns whether to write it: not
   * once a close frame has passed either way ("unless it already received a Close frame").
   */
  onForward(leg: Leg): boolean {
    const b = this.legBeat(leg);
    b.queued = null;
    if (this.host.closing) {
      b.sentAt = 0;
      return false;
    }
    b.outAt = performance.now();
    return true;
  }

  /** The leg's queued ping, for the flow's cheap identity check. */
  queuedToward(leg: Leg): Buffer | null {
    return this.legBeat(leg).queued;
  }

  // Helpers are `private`, not `#private`: #methods put a brand in every instance (8 bytes).

  wake(now: number): void {
    if (this.#stopped || this.host.closing) return;
    const s = this.s;
    if (s.idleMs > 0 && now - Math.max(this.host.lastRecv('client'), this.host.lastRecv('backend')) >= s.idleMs) {
      this.host.onIdle();
      return;
    }
    if (s.intervalMs > 0) {
      for (const leg of LEGS) {
        const b = this.legBeat(leg);
        if (b.sentAt !== 0) {
          if (now >= this.deadline(leg, b, now)) {
            this.host.onDead(leg);
            return;
          }
        } else if (b.queued === null && now >= b.nextPingAt) {
          b.nextPingAt = Math.ceil(now + s.intervalMs);
          if (!b.appPing) this.ping(leg, b);
        }
      }
    }
    this.reschedule(now);
  }

  private ping(leg: Leg, b: LegBeat): void {
    b.nonce = randomWord() >>> 2;
    scratch.writeUInt32BE(MAGIC, 0);
    scratch.writeUInt32BE(PROCESS_NONCE, 4);
    scratch.writeUInt32BE(b.nonce, 8);
    // Toward the backend the proxy speaks as a client: masked with a fresh key (§5.3).
    const frame = controlFrame(Opcode.Ping, scratch, leg === 'backend');
    b.queued = frame;
    b.sentAt = nowMs();
    // Written now (onForward runs synchronously), or when the frame in progress ends.
    this.host.injectToward(leg, frame);
  }

  /** When `leg` counts as dead if its pong has not come. */
  private deadline(leg: Leg, b: LegBeat, now: number): number {
    // A ping still waiting behind a frame that the leg keeps taking: the leg is alive.
    const progress = b.queued !== null && this.host.accepting(leg) ? now : this.host.lastProgress(leg);
    return Math.max(b.sentAt, progress) + this.s.timeoutMs;
  }

  private reschedule(now: number): void {
    if (this.#stopped) return;
    const s = this.s;
    let next = Infinity;
    if (s.idleMs > 0) next = Math.max(this.host.lastRecv('client'), this.host.lastRecv('backend')) + s.idleMs;
    if (s.intervalMs > 0) {
      for (const leg of LEGS) {
        const b = this.legBeat(leg);
        const t = b.sentAt !== 0 ? this.deadline(leg, b, now) : b.nextPingAt;
        if (t < next) next = t;
      }
    }
    if (next !== Infinity) this.wheel.schedule(this, Math.max(next, now + 1));
  }

  private legBeat(leg: Leg): LegBeat {
    return leg === 'client' ? this.#client : this.#backend;
  }
}

const LEGS: readonly Leg[] = ['client', 'backend'];
/** The earliest first ping, as a fraction of the interval (not in the busy moment of the open). */
const FIRST_PING_AT = 0.1;
