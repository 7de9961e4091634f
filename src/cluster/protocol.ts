/**
 * The messages between a cluster primary and its workers (`workers:` above 1), over node's
 * cluster IPC channel (JSON). The primary owns the config text and the admin server; a worker
 * owns a whole proxy (sessions, heartbeats, health checks, telemetry export with its own
 * `service.instance.id`) and answers the primary's questions about it.
 *
 *   worker  → primary  ready                  (the worker listens for messages now)
 *   primary → worker   config {text, reload?} (start with this config text, then reload to that one)
 *   worker  → primary  listening {host,port} | failed {message}
 *   primary → worker   reload {text} | drain | close
 *   primary → worker   ask {id, what}         → worker answers answer {id, …}
 */
import type { CoreSnapshot } from '../snapshot.js';
import type { WindowCounts } from '../telemetry/index.js';

export type ToWorker =
  /** Start with `text`; then, if given, reload to `reload` (what the running workers have now). */
  | { readonly t: 'config'; readonly text: string; readonly reload?: string }
  | { readonly t: 'reload'; readonly text: string }
  | { readonly t: 'drain' }
  | { readonly t: 'close' }
  | { readonly t: 'ask'; readonly id: number; readonly what: 'status' | 'metrics' };

/** What a worker tells /status about itself. */
export interface WorkerStatusAnswer {
  readonly snapshot: CoreSnapshot;
  readonly counts: WindowCounts;
  readonly monitors: readonly unknown[];
}

export type ToPrimary =
  | { readonly t: 'ready' }
  | { readonly t: 'listening'; readonly host: string; readonly port: number }
  | { readonly t: 'failed'; readonly message: string }
  | { readonly t: 'answer'; readonly id: number; readonly status: WorkerStatusAnswer }
  /** `text` is null when the worker's Prometheus reader is off; `error` when collection failed. */
  | { readonly t: 'answer'; readonly id: number; readonly metrics: string | null; readonly error?: string };

const TO_WORKER = new Set(['config', 'reload', 'drain', 'close', 'ask']);
const TO_PRIMARY = new Set(['ready', 'listening', 'failed', 'answer']);

function tagged(m: unknown): string | undefined {
  return typeof m === 'object' && m !== null && typeof (m as { t?: unknown }).t === 'string' ? (m as { t: string }).t : undefined;
}

/** Node's own cluster messages share the channel: keep only ours. */
export function isToWorker(m: unknown): m is ToWorker {
  return TO_WORKER.has(tagged(m) ?? '');
}

export function isToPrimary(m: unknown): m is ToPrimary {
  return TO_PRIMARY.has(tagged(m) ?? '');
}
