/**
 * Pre-built attribute objects. The SDK hashes the attribute object on every `add()`/`record()`,
 * and the per-message hooks are the hot path, so the objects are built once per
 * (route, backend) pair and shared by every session of that pair: no allocation per message,
 * and no per-session copies either (10k sessions on one route share one set). The pair also
 * holds the running message and byte totals that the observable counters report, and the
 * pair's `wstap.message.size` series when the recorder aggregates them.
 */
import type { Attributes } from '@opentelemetry/api';
import type { Direction, Initiator, Leg, MessageType } from '../events.js';
import { ATTR } from './names.js';
import type { AggregatedHistogram, HistogramSeries } from './aggregated-histogram.js';

/** The histograms a recorder aggregates itself (see instruments.ts); absent → SDK instruments. */
export interface RecorderHistograms {
  readonly messageSize: AggregatedHistogram;
  readonly sessionDuration: AggregatedHistogram;
  readonly sessionMessages: AggregatedHistogram;
  readonly handshakeDuration: AggregatedHistogram;
  readonly pingDuration: AggregatedHistogram;
}

/** Index of a direction in the pre-built arrays. */
export function directionIndex(dir: Direction): 0 | 1 {
  return dir === 'client_to_backend' ? 0 : 1;
}

const INITIATOR_INDEX: Readonly<Record<Initiator, number>> = { client: 0, backend: 1, proxy: 2 };
const DIRECTIONS: readonly Direction[] = ['client_to_backend', 'backend_to_client'];
const TYPES: readonly MessageType[] = ['text', 'binary'];
const LEGS: readonly Leg[] = ['client', 'backend'];

/** The attribute objects of one (route, backend) pair. */
export class PairAttributes {
  /** `wstap.route`, `wstap.backend`. */
  readonly base: Attributes;
  /** + `wstap.direction`, indexed by {@link directionIndex}. */
  readonly byDirection: readonly [Attributes, Attributes];
  /** + `wstap.direction`, `wstap.message.type`, indexed `direction * 2 + (binary ? 1 : 0)`. */
  readonly byMessage: readonly Attributes[];
  /** + `wstap.leg`, indexed client 0, backend 1. */
  readonly byLeg: readonly [Attributes, Attributes];
  /** Messages relayed so far, indexed like {@link byMessage} (reported by an observable counter). */
  readonly messageCounts = new Float64Array(4);
  /** Wire bytes relayed so far, indexed like {@link byDirection}. Float64: exact up to 2^53. */
  readonly ioBytes = new Float64Array(2);
  /**
   * `wstap.message.size` series, indexed like {@link byDirection} (attributes `byDirection[d]`);
   * null when the sizes go through the SDK instrument instead.
   */
  readonly messageSizes: readonly [HistogramSeries, HistogramSeries] | null;
  /** `wstap.session.messages` (attributes `base`), `wstap.ping.duration` by leg (`byLeg`); null likewise. */
  readonly sessionMessages: HistogramSeries | null;
  readonly pingDurations: readonly [HistogramSeries, HistogramSeries] | null;
  readonly #histograms: RecorderHistograms | undefined;
  /** Sessions opened so far on this pair (`wstap.connections`). */
  opened = 0;
  /** Sessions open now (`wstap.connections.active`); reported once the pair has had one. */
  active = 0;
  // Close attributes and counts, built at most once per (code, initiator) seen on this pair; the
  // code is already normalised, so the map stays small (≤ 17 codes × 3 initiators when grouped).
  readonly closes = new Map<number, CloseSeries>();

  constructor(
    readonly route: string,
    readonly backend: string,
    histograms?: RecorderHistograms,
  ) {
    this.#histograms = histograms;
    this.base = Object.freeze({ [ATTR.ROUTE]: route, [ATTR.BACKEND]: backend });
    const dirs = DIRECTIONS.map((d) => Object.freeze({ ...this.base, [ATTR.DIRECTION]: d }));
    this.byDirection = [dirs[0]!, dirs[1]!];
    const sizes = histograms?.messageSize;
    this.messageSizes = sizes ? [sizes.series(dirs[0]!), sizes.series(dirs[1]!)] : null;
    this.sessionMessages = histograms ? histograms.sessionMessages.series(this.base) : null;
    this.byMessage = DIRECTIONS.flatMap((d) =>
      TYPES.map((t) => Object.freeze({ ...this.base, [ATTR.DIRECTION]: d, [ATTR.MESSAGE_TYPE]: t })),
    );
    const legs = LEGS.map((l) => Object.freeze({ ...this.base, [ATTR.LEG]: l }));
    this.byLeg = [legs[0]!, legs[1]!];
    const pings = histograms?.pingDuration;
    this.pingDurations = pings ? [pings.series(legs[0]!), pings.series(legs[1]!)] : null;
  }

  /** The `wstap.closes` / `wstap.session.duration` series of a normalised code and initiator. */
  close(code: number, initiator: Initiator): CloseSeries {
    const key = code * 4 + INITIATOR_INDEX[initiator];
    let series = this.closes.get(key);
    if (series === undefined) {
      const attrs = Object.freeze({ ...this.base, [ATTR.CLOSE_CODE]: code, [ATTR.CLOSE_INITIATOR]: initiator });
      series = { attrs, count: 0, duration: this.#histograms ? this.#histograms.sessionDuration.series(attrs) : null };
      this.closes.set(key, series);
    }
    return series;
  }
}

/** One (pair, close code, initiator): its attributes and how many sessions ended so. */
export interface CloseSeries {
  readonly attrs: Attributes;
  count: number;
  /** Its `wstap.session.duration` series, when the recorder aggregates it. */
  readonly duration: HistogramSeries | null;
}

/**
 * Running totals of a counter whose attribute combinations are not known up front (upgrades by
 * status, backend selections by affinity outcome), keyed by a string of the attribute values.
 * Never evicted: a counter's totals must stay monotonic. The keys are bounded by the config
 * (routes × servers) times small label sets (HTTP statuses, bounded error types, 4 outcomes).
 */
export class CountedSeries {
  readonly #map = new Map<string, { readonly attrs: Attributes; count: number }>();

  /** Count one for `key`; `build` makes its attributes the first time. */
  add(key: string, build: () => Attributes): void {
    const entry = this.#map.get(key);
    if (entry !== undefined) entry.count++;
    else this.#map.set(key, { attrs: Object.freeze(build()), count: 1 });
  }

  values(): IterableIterator<{ readonly attrs: Attributes; readonly count: number }> {
    return this.#map.values();
  }
}

/**
 * A small bounded cache of attribute objects by string key, for the rare events (upgrades,
 * errors) whose attribute combinations are not known up front. Cleared when full: the values
 * are only an allocation saving, correctness never depends on a hit.
 */
export class AttributeCache {
  readonly #map = new Map<string, Attributes>();

  constructor(private readonly limit = 1024) {}

  get(key: string, build: () => Attributes): Attributes {
    let attrs = this.#map.get(key);
    if (attrs === undefined) {
      if (this.#map.size >= this.limit) this.#map.clear();
      attrs = Object.freeze(build());
      this.#map.set(key, attrs);
    }
    return attrs;
  }
}

/** Add `wstap.route` / `wstap.backend` only when known (an unrouted upgrade has neither). */
export function routeBackend(route: string | undefined, backend: string | undefined): Attributes {
  const attrs: Attributes = {};
  if (route !== undefined) attrs[ATTR.ROUTE] = route;
  if (backend !== undefined) attrs[ATTR.BACKEND] = backend;
  return attrs;
}
