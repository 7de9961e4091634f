/**
 * Close-code normalisation shared by the recorder (`wstap.close.code`) and the /status window,
 * so that the metric and the health report always count the same buckets.
 */
import { CLOSE_CODE_OTHER, ERROR_TYPE_OTHER } from './names.js';

/** `telemetry.close_codes`: keep application codes verbatim, or fold them to 3000/4000. */
export type CloseCodeMode = 'exact' | 'grouped';

/**
 * Map the first close code of a session to its attribute value (SPEC §5):
 * - 1000–1015 (the IANA registry, including 1005 "no code" and 1006 "no close frame") keep
 *   their value;
 * - 3000–3999 and 4000–4999 (registered libraries/frameworks, private use) keep theirs in
 *   `exact` mode and become `3000` / `4000` in `grouped` mode;
 * - everything else — codes RFC 6455 §7.4.2 forbids on the wire (0–999, ≥ 5000) and the
 *   unassigned 1016–2999 — becomes {@link CLOSE_CODE_OTHER} (`0`), so a peer sending random
 *   codes cannot create unbounded series.
 */
export function normalizeCloseCode(code: number, mode: CloseCodeMode): number {
  if (!Number.isInteger(code)) return CLOSE_CODE_OTHER;
  if (code >= 1000 && code <= 1015) return code;
  if (code >= 3000 && code <= 4999) {
    if (mode === 'exact') return code;
    return code < 4000 ? 3000 : 4000;
  }
  return CLOSE_CODE_OTHER;
}

/** True for the codes the health report counts as abnormal (1006, 1011, 1012, 1013). */
export function isAbnormalCloseCode(code: number): boolean {
  return code === 1006 || code === 1011 || code === 1012 || code === 1013;
}

// `error.type` values are documented as a short snake_case list; anything else is a bug in a
// caller or a raw message leaking through, and must not become a series of its own.
const ERROR_TYPE_SHAPE = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * Keeps a low-cardinality string attribute low-cardinality: values of an unexpected shape, and
 * new values once `limit` distinct ones have been seen, are reported as `_OTHER`.
 */
export class BoundedLabel {
  readonly #seen = new Set<string>();

  constructor(readonly limit = 128) {}

  /** The value to put on the attribute. */
  of(value: string): string {
    if (this.#seen.has(value)) return value;
    if (!ERROR_TYPE_SHAPE.test(value) || this.#seen.size >= this.limit) return ERROR_TYPE_OTHER;
    this.#seen.add(value);
    return value;
  }
}
