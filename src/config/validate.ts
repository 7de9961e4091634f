/**
 * Cross-field and semantic checks, run after the schema has accepted the file's shape:
 * references between sections, uniqueness of names that become metric attributes, URL
 * schemes, host/origin/CIDR syntax, timer relations, TLS files. Every check reports a
 * problem line and carries on, so one `wstap validate` run lists everything at once.
 */
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import type { RawConfig, RawMonitor, RawPool } from './schema.js';
import { formatDuration } from './duration.js';
import { formatPath, problem } from './problems.js';
import { didYouMean } from './suggest.js';
import { checkHttpUrl, checkWsUrl, defaultServerId, TOKEN } from './urls.js';

/** Options for {@link validateConfig}. */
export interface ValidateOptions {
  /** Folder that relative file paths (TLS cert/key/ca) start from: the config file's folder. */
  readonly baseDir: string;
}

/** Every cross-field problem of a schema-valid config; empty when it is usable. */
export function validateConfig(cfg: RawConfig, opts: ValidateOptions): string[] {
  const out: string[] = [];
  checkListen(cfg, opts, out);
  checkBackends(cfg, opts, out);
  checkRoutes(cfg, out);
  cfg.trusted_proxies.forEach((p, i) => {
    const err = cidrError(p);
    if (err !== undefined) out.push(problem(`trusted_proxies[${i}]`, err.what, err.fix));
  });
  checkHeartbeat(cfg, out);
  checkTelemetry(cfg, out);
  checkMonitors(cfg.monitors, out);
  return out;
}

function checkListen(cfg: RawConfig, opts: ValidateOptions, out: string[]): void {
  checkHost('listen.host', cfg.listen.host, out);
  if (cfg.admin.enabled) {
    checkHost('admin.host', cfg.admin.host, out);
    if (cfg.admin.port !== 0 && cfg.admin.port === cfg.listen.port && hostsOverlap(cfg.admin.host, cfg.listen.host)) {
      out.push(problem('admin.port', `${cfg.admin.port} is also listen.port`, 'pick another port for the admin server (or set admin.enabled: false)'));
    }
  }
  const tls = cfg.listen.tls;
  if (tls === undefined) return;
  const cert = resolve(opts.baseDir, tls.cert);
  const key = resolve(opts.baseDir, tls.key);
  const certOk = checkReadable('listen.tls.cert', cert, opts, out);
  const keyOk = checkReadable('listen.tls.key', key, opts, out);
  if (certOk && keyOk) {
    // Loading the pair now turns "wrong key for this cert" into a validate-time problem
    // instead of a listener that fails at start (or, worse, at the first handshake).
    try {
      createSecureContext({ cert: readFileSync(cert), key: readFileSync(key) });
    } catch (e) {
      out.push(problem('listen.tls', `the certificate and key do not load together (${(e as Error).message})`, 'check that key belongs to cert and both are PEM files'));
    }
  }
}

/** A listen address is a host name or an IP, not a URL. */
function checkHost(path: string, host: string, out: string[]): void {
  if (/[/\s]/.test(host) || host.includes('://')) {
    out.push(problem(path, `${JSON.stringify(host)} is not a host name or IP address`, 'write e.g. 0.0.0.0, 127.0.0.1 or ::'));
  }
}

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '[::]']);
function hostsOverlap(a: string, b: string): boolean {
  return a === b || WILDCARD_HOSTS.has(a) || WILDCARD_HOSTS.has(b);
}

function checkReadable(path: string, file: string, opts: ValidateOptions, out: string[]): boolean {
  let why: string | undefined;
  try {
    if (!statSync(file).isFile()) why = 'not a file';
    else accessSync(file, constants.R_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (code ?? String(e));
  }
  if (why === undefined) return true;
  out.push(problem(path, `cannot read ${JSON.stringify(file)} (${why})`, `check the path; relative paths start from ${opts.baseDir}`));
  return false;
}

function checkBackends(cfg: RawConfig, opts: ValidateOptions, out: string[]): void {
  // Server ids are the `wstap.backend` metric attribute, so they must be unique across pools.
  const ids = new Map<string, string>();
  for (const [name, pool] of Object.entries(cfg.backends)) {
    const base = formatPath(['backends', name]);
    pool.servers.forEach((s, i) => {
      const path = `${base}.servers[${i}]`;
      const checked = checkWsUrl(s.url);
      if ('what' in checked) {
        out.push(problem(`${path}.url`, checked.what, checked.fix));
        return;
      }
      const explicit = s.id !== undefined;
      const id = s.id ?? defaultServerId(checked.url);
      if (explicit && !/^[^\s\u0000-\u001f]{1,128}$/.test(id)) {
        out.push(problem(`${path}.id`, `${JSON.stringify(id)} is not a usable id`, 'use up to 128 characters without spaces, e.g. chat-1'));
      }
      const first = ids.get(id);
      if (first !== undefined) {
        const fix = explicit
          ? 'server ids are metric attributes: give each server a unique id'
          : `the id defaults to the URL's host:port; give this server an explicit unique "id"`;
        out.push(problem(explicit ? `${path}.id` : path, `duplicate server id ${JSON.stringify(id)} (also ${first})`, fix));
      } else ids.set(id, explicit ? `${path}.id` : `${path}.url`);
    });
    checkHealth(base, pool, out);
    if (pool.tls.ca !== undefined) checkReadable(`${base}.tls.ca`, resolve(opts.baseDir, pool.tls.ca), opts, out);
    if (pool.id_header !== undefined && !TOKEN.test(pool.id_header)) {
      out.push(problem(`${base}.id_header`, `${JSON.stringify(pool.id_header)} is not a valid header name`, 'use letters, digits and dashes, e.g. X-Backend-Id'));
    }
  }
}

function checkHealth(base: string, pool: RawPool, out: string[]): void {
  const h = pool.health;
  if (h === undefined) return;
  if (h.timeout >= h.interval) {
    out.push(problem(`${base}.health.timeout`, `${formatDuration(h.timeout)} must be shorter than ${base}.health.interval (${formatDuration(h.interval)})`, 'lower the timeout or raise the interval'));
  }
  if (!h.path.startsWith('/')) {
    out.push(problem(`${base}.health.path`, `${JSON.stringify(h.path)} must start with "/"`, `write "/${h.path}"`));
  }
}

function checkRoutes(cfg: RawConfig, out: string[]): void {
  const pools = Object.keys(cfg.backends);
  const names = new Map<string, string>();
  cfg.routes.forEach((r, i) => {
    const base = `routes[${i}]`;
    if (!Object.hasOwn(cfg.backends, r.backend)) {
      const guess = didYouMean(r.backend, pools);
      out.push(problem(`${base}.backend`, `unknown backend ${JSON.stringify(r.backend)} (known: ${pools.join(', ')})`, guess === undefined ? undefined : `did you mean "${guess}"?`));
    }
    // Route names are the `wstap.route` metric attribute; unnamed routes are named after their backend.
    const name = r.name ?? r.backend;
    const first = names.get(name);
    if (first !== undefined) {
      const fix = r.name === undefined ? 'an unnamed route takes its backend\'s name: give this route a unique "name"' : 'give each route a unique name';
      out.push(problem(r.name === undefined ? base : `${base}.name`, `duplicate route name ${JSON.stringify(name)} (also ${first})`, fix));
    } else names.set(name, r.name === undefined ? base : `${base}.name`);

    const path = r.match.path;
    if (!path.startsWith('/')) out.push(problem(`${base}.match.path`, `${JSON.stringify(path)} must start with "/"`, `write "/${path}"`));
    if (r.match.host !== undefined) {
      const err = hostPatternError(r.match.host);
      if (err !== undefined) out.push(problem(`${base}.match.host`, err.what, err.fix));
    }
    if (r.origins !== undefined) {
      if (r.origins.length === 0) {
        out.push(problem(`${base}.origins`, 'an empty list refuses every browser', 'list the allowed origins, or remove "origins" to allow any'));
      }
      r.origins.forEach((o, j) => {
        const err = originError(o);
        if (err !== undefined) out.push(problem(`${base}.origins[${j}]`, err.what, err.fix));
      });
    }
  });
}

/** What is wrong with a value and how to fix it. */
export interface Fault {
  readonly what: string;
  readonly fix: string;
}

const LABEL = '[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?';
const HOST_NAME = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`, 'i');

/** `match.host`: an exact host name (or IP) or `*.suffix`, without port. */
export function hostPatternError(host: string): Fault | undefined {
  const q = JSON.stringify(host);
  if (host.includes('://')) {
    return { what: `${q} is a URL, not a host`, fix: `write only the host, e.g. "${host.replace(/^[a-z]+:\/\//i, '').split(/[/:]/)[0] ?? ''}"` };
  }
  if (host === '*') return { what: '"*" matches every host', fix: 'remove "host" to match any host' };
  const bare = host.startsWith('*.') ? host.slice(2) : host;
  if (/^\[[0-9a-f:.]+\]$/i.test(bare) && isIP(bare.slice(1, -1)) === 6 && bare === host) return undefined;
  const portless = /^(.*):(\d+)$/.exec(bare);
  if (portless !== null && HOST_NAME.test(portless[1] ?? '')) {
    return { what: `${q} has a port`, fix: `routes match the host name without its port: write "${host.slice(0, host.lastIndexOf(':'))}"` };
  }
  if (bare.includes('*')) return { what: `${q} is not a valid host pattern`, fix: 'a wildcard may only be a leading "*.", e.g. "*.example.com"' };
  if (!HOST_NAME.test(bare)) return { what: `${q} is not a valid host name`, fix: 'write an exact host like chat.example.com or a pattern like *.example.com' };
  return undefined;
}

/** An Origin allow-list entry must be a serialised origin, exactly as browsers send it. */
export function originError(o: string): Fault | undefined {
  const q = JSON.stringify(o);
  let url: URL;
  try {
    url = new URL(o);
  } catch {
    return { what: `${q} is not a full origin`, fix: `write scheme://host[:port], e.g. "https://${o.replace(/\/.*$/, '')}"` };
  }
  if (url.origin === 'null') return { what: `${q} is not a full origin`, fix: 'write scheme://host[:port], e.g. "https://app.example.com"' };
  if (url.origin !== o) return { what: `${q} is not an origin as browsers send it`, fix: `write "${url.origin}"` };
  return undefined;
}

/** `trusted_proxies` entries: an IPv4/IPv6 address or CIDR range. */
export function cidrError(s: string): Fault | undefined {
  const q = JSON.stringify(s);
  const [addr = '', prefix, ...rest] = s.split('/');
  const family = isIP(addr);
  if (family === 0 || rest.length > 0) {
    return { what: `${q} is not an IP address or CIDR range`, fix: 'write e.g. 10.0.0.0/8, 192.168.1.10 or fd00::/8' };
  }
  if (prefix === undefined) return undefined;
  const max = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > max) {
    return { what: `${q} is not a valid CIDR range`, fix: `an IPv${family} prefix length is 0–${max}` };
  }
  return undefined;
}

function checkHeartbeat(cfg: RawConfig, out: string[]): void {
  const { interval, timeout } = cfg.heartbeat;
  if (interval === 0) return;
  if (timeout === 0) {
    out.push(problem('heartbeat.timeout', 'must be more than 0 while heartbeats are on', 'e.g. 10s, or set heartbeat.interval: 0 to turn heartbeats off'));
  }
  // A timeout longer than the interval is fine: a leg never has two of our pings outstanding.
}

function checkTelemetry(cfg: RawConfig, out: string[]): void {
  const otlp = cfg.telemetry.otlp;
  if (otlp === undefined) return;
  if (otlp.endpoint !== undefined) {
    const checked = checkHttpUrl(otlp.endpoint);
    if ('what' in checked) out.push(problem('telemetry.otlp.endpoint', checked.what, checked.fix));
  }
  checkHeaderNames('telemetry.otlp.headers', otlp.headers, out);
}

function checkHeaderNames(base: string, headers: Readonly<Record<string, string>>, out: string[]): void {
  for (const name of Object.keys(headers)) {
    if (!TOKEN.test(name)) out.push(problem(`${base}[${JSON.stringify(name)}]`, 'is not a valid header name', 'use letters, digits and dashes, e.g. Authorization'));
  }
}

function checkMonitors(monitors: readonly RawMonitor[], out: string[]): void {
  const names = new Map<string, string>();
  monitors.forEach((m, i) => {
    const base = `monitors[${i}]`;
    // Monitor names are the `wstap.monitor` metric attribute.
    const first = names.get(m.name);
    if (first !== undefined) out.push(problem(`${base}.name`, `duplicate monitor name ${JSON.stringify(m.name)} (also ${first})`, 'give each monitor a unique name'));
    else names.set(m.name, `${base}.name`);

    const checked = checkWsUrl(m.url);
    if ('what' in checked) out.push(problem(`${base}.url`, checked.what, checked.fix));
    if (m.timeout > m.interval) {
      out.push(problem(`${base}.timeout`, `${formatDuration(m.timeout)} is longer than ${base}.interval (${formatDuration(m.interval)})`, 'runs would overlap: lower the timeout or raise the interval'));
    }
    checkHeaderNames(`${base}.headers`, m.headers, out);
    m.subprotocols.forEach((p, j) => {
      if (!TOKEN.test(p)) out.push(problem(`${base}.subprotocols[${j}]`, `${JSON.stringify(p)} is not a valid subprotocol name`, 'use a token without spaces or commas, e.g. chat.v1'));
    });
    m.steps.forEach((step, j) => {
      const path = `${base}.steps[${j}]`;
      if (step.action === 'receive' && step.assert_message_matches !== undefined) {
        try {
          new RegExp(step.assert_message_matches);
        } catch (e) {
          out.push(problem(`${path}.assert_message_matches`, `invalid regular expression: ${(e as Error).message.replace(/^Invalid regular expression: /, '')}`, 'write a JavaScript regular expression without the surrounding slashes'));
        }
      }
      if (step.action === 'wait' && (step.ms === undefined) === (step.duration === undefined)) {
        out.push(problem(path, step.ms === undefined ? 'wait needs "ms" or "duration"' : 'wait takes "ms" or "duration", not both', 'e.g. { action: wait, duration: 2s }'));
      }
    });
  });
}
