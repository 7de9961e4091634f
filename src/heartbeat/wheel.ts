/**
 * One timer for every session: heartbeats, pong deadlines and idle checks of all sessions share
 * it, so 10k idle sessions cost one `setTimeout` and a few map operations per wake-up instead of
 * 10k intervals. Each session holds at most one entry (its next wake-up time); times are rounded
 * up to `granularityMs`, so sessions due within the same slot wake together.
 */

/**
 * `performance.now()` in whole milliseconds, for times kept per session (heartbeat, idle and
 * open clocks). A whole number stays a small integer inside the object; a fraction needs a heap
 * number of its own (16 bytes) per field of every session. Every store to such a field must go
 * through this: one fraction in one object turns the field into a boxed one for all of them.
 */
export function nowMs(): number {
  return Math.floor(performance.now());
}

export interface Wakeable {
  /** Called when the scheduled time has come; the item is no longer scheduled. */
  wake(now: number): void;
  /** The slot the item sits in (managed by the wheel; 0 = none). */
  wheelSlot: number;
}

export class TimerWheel {
  readonly #g: number;
  readonly #slots = new Map<number, Set<Wakeable>>();
  /** Slot numbers present in #slots, ascending. */
  #keys: number[] = [];
  #timer: NodeJS.Timeout | undefined;
  #timerSlot = Infinity;
  /** Inside #fire: schedule() leaves the timer to #fire, which arms it for the earliest slot. */
  #firing = false;
  readonly #now: () => number;

  constructor(granularityMs = 50, now: () => number = () => performance.now()) {
    this.#g = granularityMs;
    this.#now = now;
  }

  /** Wake `item` at `at` (ms on the wheel's clock, `performance.now()` by default). */
  schedule(item: Wakeable, at: number): void {
    const slot = Math.max(1, Math.ceil(at / this.#g));
    if (item.wheelSlot === slot) return;
    this.cancel(item);
    let set = this.#slots.get(slot);
    if (set === undefined) {
      set = new Set();
      this.#slots.set(slot, set);
      insertSorted(this.#keys, slot);
    }
    set.add(item);
    item.wheelSlot = slot;
    if (slot < this.#timerSlot && !this.#firing) this.#arm(slot);
  }

  cancel(item: Wakeable): void {
    const slot = item.wheelSlot;
    if (slot === 0) return;
    item.wheelSlot = 0;
    const set = this.#slots.get(slot);
    if (set === undefined) return;
    set.delete(item);
    if (set.size === 0) {
      this.#slots.delete(slot);
      removeSorted(this.#keys, slot);
    }
  }

  /** Items scheduled (for tests and the leak checks). */
  get size(): number {
    let n = 0;
    for (const s of this.#slots.values()) n += s.size;
    return n;
  }

  /** Drop every entry and the timer. */
  clear(): void {
    for (const set of this.#slots.values()) for (const i of set) i.wheelSlot = 0;
    this.#slots.clear();
    this.#keys = [];
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerSlot = Infinity;
  }

  #arm(slot: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timerSlot = slot;
    const delay = Math.max(0, slot * this.#g - this.#now());
    this.#timer = setTimeout(this.#fire, delay);
    this.#timer.unref();
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    this.#timerSlot = Infinity;
    const now = this.#now();
    const due = Math.floor(now / this.#g);
    // Items woken here reschedule themselves (a ping's pong deadline, the next ping). Were each
    // of those to arm the timer, the first would set it to its own slot even when items already
    // waiting are due sooner, and those would then wake only with it: up to a pong timeout late,
    // all in one burst (seen as pings every 500 ms in bunches of a hundred sessions, with every
    // message behind a bunch waiting for it). So the timer is armed once, after the loop.
    this.#firing = true;
    try {
      while (this.#keys.length > 0 && this.#keys[0]! <= due) {
        const slot = this.#keys.shift()!;
        const set = this.#slots.get(slot)!;
        this.#slots.delete(slot);
        for (const item of set) {
          item.wheelSlot = 0;
          try {
            item.wake(now);
          } catch {
            // A session's bug must not stop the others' heartbeats.
          }
        }
      }
    } finally {
      this.#firing = false;
    }
    if (this.#keys.length > 0) this.#arm(this.#keys[0]!);
  };
}

/** Index of the first element of sorted `a` that is not below `v`. */
function lowerBound(a: readonly number[], v: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function insertSorted(a: number[], v: number): void {
  a.splice(lowerBound(a, v), 0, v);
}

function removeSorted(a: number[], v: number): void {
  const i = lowerBound(a, v);
  if (a[i] === v) a.splice(i, 1);
}
