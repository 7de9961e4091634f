/**
 * The synthetic monitors' side of the catalogue (`wstap.monitor.*`). Monitors live in
 * `src/monitor/`, which must not import `@opentelemetry/*`; they receive this small recorder
 * (or {@link noopMonitorMetrics} when telemetry is off).
 */
import type { Attributes } from '@opentelemetry/api';
import type { Instruments } from './instruments.js';
import { ATTR } from './names.js';

/** What a monitor run reports. Names are the configured monitor/step names (bounded by config). */
export interface MonitorMetrics {
  /** A whole run ended: `ok` sets `wstap.monitor.up` to 1 or 0; `durationS` feeds the histogram. */
  run(monitor: string, ok: boolean, durationS: number): void;
  /** One step ended (`step` is the step's action or name, e.g. `connect`, `receive`). */
  step(monitor: string, step: string, durationS: number): void;
}

/** A {@link MonitorMetrics} that records nothing. */
export const noopMonitorMetrics: MonitorMetrics = { run() {}, step() {} };

/** Records monitor results into the instruments. */
export class MonitorRecorder implements MonitorMetrics {
  readonly #runAttrs = new Map<string, Attributes>();
  readonly #stepAttrs = new Map<string, Attributes>();

  constructor(private readonly instruments: Instruments) {}

  run(monitor: string, ok: boolean, durationS: number): void {
    let attrs = this.#runAttrs.get(monitor);
    if (attrs === undefined) {
      attrs = Object.freeze({ [ATTR.MONITOR]: monitor });
      this.#runAttrs.set(monitor, attrs);
    }
    this.instruments.monitorUp.record(ok ? 1 : 0, attrs);
    this.instruments.monitorDuration.record(Math.max(0, durationS), attrs);
  }

  step(monitor: string, step: string, durationS: number): void {
    const key = `${monitor}\0${step}`;
    let attrs = this.#stepAttrs.get(key);
    if (attrs === undefined) {
      attrs = Object.freeze({ [ATTR.MONITOR]: monitor, [ATTR.MONITOR_STEP]: step });
      this.#stepAttrs.set(key, attrs);
    }
    this.instruments.monitorStepDuration.record(Math.max(0, durationS), attrs);
  }
}
