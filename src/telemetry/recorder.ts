/**
 * The OTel recorder: a {@link ProxyObserver} that turns core events into SPEC §5 measurements.
 * It only records; it never reads the core, never throws into it and holds nothing per session
 * but a WeakMap entry pointing at the attribute set its (route, backend) pair shares.
 *
 * Sessions are recognised by object identity: the core passes the same {@link SessionInfo}
 * object to every hook of one session (`Tunnel.info`), and a WeakMap cannot leak if a close
 * were ever missed. The per-chunk and per-message hooks first compare with the last session
 * seen: a chunk's `bytes` and the `message` calls it completes come one after another for the
 * same session, so the WeakMap is consulted about once per chunk instead of once per message.
 */
import type {
  Direction,
  Leg,
  MessageType,
  ProxyObserver,
  SessionCloseEvent,
  SessionInfo,
  UpgradeEvent,
} from '../events.js';
import type { Attributes, BatchObservableResult } from '@opentelemetry/api';
import type { Instruments } from './instruments.js';
import { ATTR, type AffinityOutcome } from './names.js';
import { AttributeCache, CountedSeries, PairAttributes, directionIndex, routeBackend, type RecorderHistograms } from './attribute-sets.js';
import { BoundedLabel, normalizeCloseCode, type CloseCodeMode } from './close-codes.js';
import type { HistogramSeries } from './aggregated-histogram.js';

/** Options of {@link TelemetryRecorder}. */
export interface RecorderOptions {
  /** `telemetry.close_codes` (default `exact`). */
  readonly closeCodes?: CloseCodeMode;
  /**
   * Aggregate the message, session, handshake and ping histograms here instead of recording
   * each measurement through the SDK instruments. Every reader must then export them through a
   * producer of each aggregate (`startTelemetry` does that); without it, a reader would not see
   * those metrics at all.
   */
  readonly histograms?: RecorderHistograms;
}

/** Records proxy events into the instruments of {@link createInstruments}. */
export class TelemetryRecorder implements ProxyObserver {
  readonly #i: Instruments;
  #closeCodes: CloseCodeMode;
  readonly #pairs = new Map<string, PairAttributes>();
  /** Session → its pair's attributes; set in sessionOpen, so message hooks never allocate. */
  readonly #sessions = new WeakMap<SessionInfo, PairAttributes>();
  /** Sessions first seen after their open (subscribed mid-flight): never decrement active for them. */
  readonly #adopted = new WeakSet<SessionInfo>();
  readonly #cache = new AttributeCache();
  readonly #upgrades = new CountedSeries();
  readonly #selections = new CountedSeries();
  readonly #errorTypes = new BoundedLabel();
  readonly #histograms: RecorderHistograms | undefined;
  /** `wstap.handshake.duration` series by route, backend and status (bounded like upgrades). */
  readonly #handshakes = new Map<string, HistogramSeries>();
  /** The session of the last per-chunk/per-message hook and its pair (see the file comment). */
  #lastSession: SessionInfo | undefined;
  #lastPair: PairAttributes | undefined;

  // Reports the running totals at each collection: the per-message and per-session hooks only
  // increment numbers (see `messages` in instruments.ts for the cost this saves).
  readonly #observe = (result: BatchObservableResult): void => {
    const { messages, io, connections, connectionsActive, closes, upgrades, backendSelections } = this.#i;
    for (const u of this.#upgrades.values()) result.observe(upgrades, u.count, u.attrs);
    for (const u of this.#selections.values()) result.observe(backendSelections, u.count, u.attrs);
    for (const pair of this.#pairs.values()) {
      if (pair.opened > 0) {
        result.observe(connections, pair.opened, pair.base);
        result.observe(connectionsActive, pair.active, pair.base);
      }
      for (const c of pair.closes.values()) result.observe(closes, c.count, c.attrs);
      for (let i = 0; i < 4; i++) {
        const n = pair.messageCounts[i]!;
        if (n > 0) result.observe(messages, n, pair.byMessage[i]);
      }
      for (let d = 0; d < 2; d++) {
        const n = pair.ioBytes[d]!;
        if (n > 0) result.observe(io, n, pair.byDirection[d]);
      }
    }
  };

  constructor(instruments: Instruments, options: RecorderOptions = {}) {
    this.#i = instruments;
    this.#closeCodes = options.closeCodes ?? 'exact';
    this.#histograms = options.histograms;
    instruments.meter.addBatchObservableCallback(this.#observe, observed(instruments));
  }

  /** Stop reporting the running totals (the instruments stay usable). */
  dispose(): void {
    this.#i.meter.removeBatchObservableCallback(this.#observe, observed(this.#i));
  }

  /** Apply a reloaded `telemetry.close_codes` (affects sessions closing from now on). */
  setCloseCodeMode(mode: CloseCodeMode): void {
    this.#closeCodes = mode;
  }

  upgrade(e: UpgradeEvent): void {
    const errorType = e.errorType === undefined ? undefined : this.#errorTypes.of(e.errorType);
    const key = `${e.route ?? ''}\0${e.backend ?? ''}\0${e.status}`;
    this.#upgrades.add(`${key}\0${errorType ?? ''}`, () => {
      const a = routeBackend(e.route, e.backend);
      a[ATTR.HTTP_STATUS] = e.status;
      if (errorType !== undefined) a[ATTR.ERROR_TYPE] = errorType;
      return a;
    });
    const handshakeAttrs = (): Attributes =>
      this.#cache.get(`h\0${key}`, () => {
        const a = routeBackend(e.route, e.backend);
        a[ATTR.HTTP_STATUS] = e.status;
        return a;
      });
    const h = this.#histograms?.handshakeDuration;
    if (h === undefined) {
      this.#i.handshakeDuration.record(e.durationS, handshakeAttrs());
      return;
    }
    let series = this.#handshakes.get(key);
    if (series === undefined) {
      series = h.series(handshakeAttrs());
      this.#handshakes.set(key, series);
    }
    series.record(e.durationS);
  }

  sessionOpen(s: SessionInfo): void {
    const pair = this.#pair(s.route, s.backend);
    this.#sessions.set(s, pair);
    pair.active++;
    pair.opened++;
  }

  message(s: SessionInfo, dir: Direction, type: MessageType, size: number, _at?: number, count = 1): void {
    const pair = s === this.#lastSession ? this.#lastPair! : this.#find(s);
    const d = directionIndex(dir);
    pair.messageCounts[d * 2 + (type === 'binary' ? 1 : 0)]! += count;
    const sizes = pair.messageSizes;
    if (sizes !== null) sizes[d].record(size, count);
    else for (let i = 0; i < count; i++) this.#i.messageSize.record(size, pair.byDirection[d]);
  }

  bytes(s: SessionInfo, dir: Direction, n: number): void {
    const pair = s === this.#lastSession ? this.#lastPair! : this.#find(s);
    pair.ioBytes[directionIndex(dir)]! += n;
  }

  sessionClose(s: SessionInfo, e: SessionCloseEvent): void {
    if (s === this.#lastSession) this.#lastSession = this.#lastPair = undefined;
    const known = this.#sessions.get(s);
    const pair = known ?? this.#pair(s.route, s.backend);
    if (known !== undefined && !this.#adopted.has(s)) pair.active--;
    this.#sessions.delete(s);
    const close = pair.close(normalizeCloseCode(e.code, this.#closeCodes), e.initiator);
    close.count++;
    const duration = Math.max(0, e.durationS);
    if (close.duration !== null) close.duration.record(duration);
    else this.#i.sessionDuration.record(duration, close.attrs);
    const messages = e.messagesC2B + e.messagesB2C;
    if (pair.sessionMessages !== null) pair.sessionMessages.record(messages);
    else this.#i.sessionMessages.record(messages, pair.base);
  }

  ping(s: SessionInfo, leg: Leg, rttS: number): void {
    const pair = this.#sessions.get(s) ?? this.#adopt(s);
    const l = leg === 'client' ? 0 : 1;
    if (pair.pingDurations !== null) pair.pingDurations[l].record(rttS);
    else this.#i.pingDuration.record(rttS, pair.byLeg[l]);
  }

  pingTimeout(s: SessionInfo, leg: Leg): void {
    const pair = this.#sessions.get(s) ?? this.#adopt(s);
    this.#i.pingTimeouts.add(1, pair.byLeg[leg === 'client' ? 0 : 1]);
  }

  error(route: string | undefined, backend: string | undefined, errorType: string): void {
    const type = this.#errorTypes.of(errorType);
    const attrs = this.#cache.get(`e\0${route ?? ''}\0${backend ?? ''}\0${type}`, () => {
      const a = routeBackend(route, backend);
      a[ATTR.ERROR_TYPE] = type;
      return a;
    });
    this.#i.errors.add(1, attrs);
  }

  violation(dir: Direction, errorType: string): void {
    const type = this.#errorTypes.of(errorType);
    const attrs = this.#cache.get(`v\0${dir}\0${type}`, () => ({ [ATTR.DIRECTION]: dir, [ATTR.ERROR_TYPE]: type }));
    this.#i.protocolViolations.add(1, attrs);
  }

  /**
   * A backend choice and its affinity outcome (`wstap.backend.selections`): the
   * {@link ProxyObserver.selection} hook, published by the proxy for each upgrade it routes.
   */
  selection(route: string, backend: string, affinity: AffinityOutcome): void {
    this.#selections.add(`${route}\0${backend}\0${affinity}`, () => ({
      [ATTR.ROUTE]: route,
      [ATTR.BACKEND]: backend,
      [ATTR.AFFINITY]: affinity,
    }));
  }

  #pair(route: string, backend: string): PairAttributes {
    const key = `${route}\0${backend}`;
    let pair = this.#pairs.get(key);
    if (pair === undefined) {
      // Never evicted: pairs are bounded by the config's routes × servers, and the running
      // totals they hold must stay monotonic for the counters built on them.
      pair = new PairAttributes(route, backend, this.#histograms);
      this.#pairs.set(key, pair);
    }
    return pair;
  }

  // The per-chunk/per-message lookup when the session is not the last one seen.
  #find(s: SessionInfo): PairAttributes {
    const pair = this.#sessions.get(s) ?? this.#adopt(s);
    this.#lastSession = s;
    this.#lastPair = pair;
    return pair;
  }

  // A session whose open this recorder did not see (it subscribed later): remember its pair so
  // later messages stay allocation-free, but mark it so its close does not decrement "active".
  #adopt(s: SessionInfo): PairAttributes {
    const pair = this.#pair(s.route, s.backend);
    this.#sessions.set(s, pair);
    this.#adopted.add(s);
    return pair;
  }
}

/** The observable instruments the recorder's batch callback reports. */
function observed(i: Instruments) {
  return [i.messages, i.io, i.connections, i.connectionsActive, i.closes, i.upgrades, i.backendSelections];
}
