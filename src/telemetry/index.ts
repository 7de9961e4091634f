/**
 * The telemetry module's public surface. The app needs {@link startTelemetry}; `src/monitor/`
 * needs {@link MonitorMetrics}; the admin server and `wstap status` need the report types.
 * Nothing outside `src/telemetry/` imports `@opentelemetry/*`.
 */
export { startTelemetry, type Telemetry, type TelemetryOptions } from './sdk.js';
export { TelemetryRecorder, type RecorderOptions } from './recorder.js';
export { StatusWindow, mergeWindowCounts, windowReport, type StatusWindowOptions } from './status-window.js';
export { MonitorRecorder, noopMonitorMetrics, type MonitorMetrics } from './monitor-metrics.js';
export { normalizeCloseCode, isAbnormalCloseCode, type CloseCodeMode } from './close-codes.js';
export type { MetricsHandler } from './prometheus.js';
export * from './names.js';
export type * from './status-types.js';
