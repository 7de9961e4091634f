/**
 * The catalogue of what the core reports. The proxy core calls an {@link EventHub}; telemetry,
 * the /status window and the logger subscribe to it. Nothing in the core imports telemetry, so
 * with no subscriber the core runs unchanged (each hook is a loop over an empty array).
 *
 * We use a typed observer rather than `node:diagnostics_channel` because the per-message hook
 * sits on the hot path: a direct call with positional arguments allocates nothing.
 */

export type Direction = 'client_to_backend' | 'backend_to_client';
export type Leg = 'client' | 'backend';
export type Initiator = 'client' | 'backend' | 'proxy';
export type MessageType = 'text' | 'binary';
/**
 * How a backend choice relates to the sticky key (`wstap.affinity`): `none` no key, `new` first
 * time this process saw the key, `hit` same server as last time, `moved` the key's first choice
 * was unavailable (or it changed server since last time).
 */
export type Affinity = 'none' | 'new' | 'hit' | 'moved';

/** Identity of one tunnelled session, fixed when the 101 has been validated. */
export interface SessionInfo {
  /** Process-unique, increasing id (never an attribute: logs only). */
  readonly id: number;
  readonly route: string;
  /** Server id within the pool (the `wstap.backend` attribute). */
  readonly backend: string;
  /** Pool name. */
  readonly pool: string;
  /** `performance.now()` when the session opened, in whole milliseconds. */
  readonly openedAt: number;
  /** Resolved client address (logs only, never a metric attribute). */
  readonly clientIp: string;
}

export interface UpgradeEvent {
  readonly route?: string;
  readonly backend?: string;
  /** Status answered to the client (101 on success). */
  readonly status: number;
  /** Low-cardinality failure reason (see README "Error codes"); absent on success. */
  readonly errorType?: string;
  /** Client upgrade received → answer written, seconds. */
  readonly durationS: number;
}

export interface SessionCloseEvent {
  /** Code of the first close frame (1005 without code, 1006 with no close frame at all). */
  readonly code: number;
  readonly initiator: Initiator;
  readonly durationS: number;
  /** Messages per direction over the session. */
  readonly messagesC2B: number;
  readonly messagesB2C: number;
  /** Set when the proxy ended the session itself (heartbeat_timeout, idle_timeout, drain, …). */
  readonly reason?: string;
}

export interface ProxyObserver {
  upgrade?(e: UpgradeEvent): void;
  sessionOpen?(s: SessionInfo): void;
  /**
   * `count` complete data messages (a fragmented message counts once) of one type and size
   * (payload bytes on the wire, each). The tunnel reports consecutive equal messages of one read
   * in one call, once that read has been handled (in a flood of equal frames: one call per read
   * instead of one per frame); `count` is 1 when absent. `at` is the `performance.now()` the
   * tunnel read for that chunk, so observers that need a time need not read the clock.
   */
  message?(s: SessionInfo, dir: Direction, type: MessageType, size: number, at?: number, count?: number): void;
  /** Wire bytes relayed (called per chunk). */
  bytes?(s: SessionInfo, dir: Direction, n: number): void;
  sessionClose?(s: SessionInfo, e: SessionCloseEvent): void;
  /** Round trip of a proxy ping on one leg, seconds. */
  ping?(s: SessionInfo, leg: Leg, rttS: number): void;
  pingTimeout?(s: SessionInfo, leg: Leg): void;
  /** An error outside the upgrade answer (e.g. heartbeat_timeout, idle_timeout, backend_reset). */
  error?(route: string | undefined, backend: string | undefined, errorType: string): void;
  /** A protocol violation seen by the passive parser. */
  violation?(dir: Direction, errorType: string): void;
  /** A server was chosen for an upgrade (before dialling it), with its affinity outcome. */
  selection?(route: string, backend: string, affinity: Affinity): void;
  /**
   * Health took a server out of rotation (`up` false) or put it back; called once per change.
   * `reason` is for logs (`active: connect ECONNREFUSED`, `passive: 3 failures in 10s`).
   */
  backendState?(pool: string, backend: string, up: boolean, reason: string): void;
}

type Hook = keyof ProxyObserver;

/** Fans events out to every subscribed observer. */
export class EventHub implements Required<ProxyObserver> {
  #observers: ProxyObserver[] = [];

  /** Subscribe; returns the function that unsubscribes. */
  subscribe(o: ProxyObserver): () => void {
    this.#observers = [...this.#observers, o];
    return () => {
      this.#observers = this.#observers.filter((x) => x !== o);
    };
  }

  get hasSubscribers(): boolean {
    return this.#observers.length > 0;
  }

  #each<K extends Hook>(k: K, call: (fn: NonNullable<ProxyObserver[K]>, o: ProxyObserver) => void): void {
    for (const o of this.#observers) {
      const fn = o[k];
      if (fn !== undefined) call(fn as NonNullable<ProxyObserver[K]>, o);
    }
  }

  upgrade(e: UpgradeEvent): void {
    this.#each('upgrade', (fn, o) => fn.call(o, e));
  }
  sessionOpen(s: SessionInfo): void {
    this.#each('sessionOpen', (fn, o) => fn.call(o, s));
  }
  message(s: SessionInfo, dir: Direction, type: MessageType, size: number, at?: number, count = 1): void {
    for (const o of this.#observers) o.message?.(s, dir, type, size, at, count);
  }
  bytes(s: SessionInfo, dir: Direction, n: number): void {
    for (const o of this.#observers) o.bytes?.(s, dir, n);
  }
  sessionClose(s: SessionInfo, e: SessionCloseEvent): void {
    this.#each('sessionClose', (fn, o) => fn.call(o, s, e));
  }
  ping(s: SessionInfo, leg: Leg, rttS: number): void {
    this.#each('ping', (fn, o) => fn.call(o, s, leg, rttS));
  }
  pingTimeout(s: SessionInfo, leg: Leg): void {
    this.#each('pingTimeout', (fn, o) => fn.call(o, s, leg));
  }
  error(route: string | undefined, backend: string | undefined, errorType: string): void {
    this.#each('error', (fn, o) => fn.call(o, route, backend, errorType));
  }
  violation(dir: Direction, errorType: string): void {
    this.#each('violation', (fn, o) => fn.call(o, dir, errorType));
  }
  selection(route: string, backend: string, affinity: Affinity): void {
    this.#each('selection', (fn, o) => fn.call(o, route, backend, affinity));
  }
  backendState(pool: string, backend: string, up: boolean, reason: string): void {
    this.#each('backendState', (fn, o) => fn.call(o, pool, backend, up, reason));
  }
}
