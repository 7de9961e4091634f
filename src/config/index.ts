/**
 * The config module's public face: load a file into the frozen {@link Config} every other
 * module receives, or check it and list its problems (`wstap validate`).
 */
export type * from './types.js';
export { ConfigError } from './problems.js';
export { checkConfigFile, checkConfigText, loadConfigFile, parseConfigText, type CheckResult, type ParseOptions } from './load.js';
export { formatDuration, parseDuration } from './duration.js';
