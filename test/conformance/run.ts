/**
 * Running a conformance case twice — directly against the endpoint, then through wstap with
 * heartbeats every 5 ms — and checking: the two outcomes are identical; the direct one matches
 * what the case expects of a conforming endpoint; wstap recorded the close code and initiator the
 * endpoints saw, counted the violations the case contains (and no others), and left nothing open.
 */
import { expect } from 'vitest';
import type { Config } from '../../src/config/types.js';
import { tcpSocketsOpen } from '../helpers/backends.js';
import { assertNoLeaks, echoBackend, simpleConfig, startProxy, until, type Backend, type RunningProxy } from '../helpers/proxy.js';
import { seedOf, type BackendCase, type BackendKind, type ClientCase } from './cases.js';
import { runRawClient, runWsClient, scriptedBackend, type Outcome, type Role, type ScriptedBackend } from './harness.js';

/** Heartbeats every 5 ms (the wheel rounds them up to its 50 ms slots), pong deadline 2 s. */
export function proxyConfig(url: string): Config {
  return simpleConfig([url], { heartbeat: { interval: 5, timeout: 2000 } });
}

const SERVER_OPTIONS: Record<BackendKind, Parameters<typeof echoBackend>[0]> = {
  plain: {},
  deflate: { perMessageDeflate: { threshold: 0 } },
  'deflate-noctx': { perMessageDeflate: { threshold: 0, serverNoContextTakeover: true, clientNoContextTakeover: true } },
};

/** Heartbeat round trips wstap completed, per leg (its pongs came back and were cut out). */
export interface Rtts {
  client: number;
  backend: number;
}

function countRtts(p: RunningProxy): Rtts {
  const r: Rtts = { client: 0, backend: 0 };
  p.hub.subscribe({ ping: (_s, leg) => void r[leg]++ });
  return r;
}

export interface EchoEnv {
  readonly backend: Backend;
  readonly proxy: RunningProxy;
  readonly rtts: Rtts;
  close(): Promise<void>;
}

/** A `ws` echo server (`ws.send(data, { binary })`) and wstap in front of it. */
export async function echoEnv(kind: BackendKind): Promise<EchoEnv> {
  const backend = await echoBackend(SERVER_OPTIONS[kind]);
  const proxy = await startProxy(proxyConfig(backend.url));
  return {
    backend,
    proxy,
    rtts: countRtts(proxy),
    close: async () => {
      await proxy.close();
      await backend.close();
    },
  };
}

export interface FakeEnv {
  readonly fake: ScriptedBackend;
  readonly proxy: RunningProxy;
  readonly rtts: Rtts;
  close(): Promise<void>;
}

export async function fakeEnv(): Promise<FakeEnv> {
  const fake = await scriptedBackend();
  const proxy = await startProxy(proxyConfig(fake.url));
  return {
    fake,
    proxy,
    rtts: countRtts(proxy),
    close: async () => {
      await proxy.close();
      await fake.close();
    },
  };
}

/** Timers alive in this process (the proxy's heartbeat wheel, close timers, ws's close timers, ours). */
function timersOpen(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

/** No TCP socket left in this process (listeners aside). */
async function noSockets(): Promise<void> {
  await until(() => tcpSocketsOpen() === 0, 5000, `all TCP sockets to close (${tcpSocketsOpen()} open)`);
}

/** wstap's side of a first close frame. */
const initiatorOf = (by: Role): string => (by === 'client' ? 'client' : 'backend');

function uniqueSorted(xs: readonly string[]): string[] {
  return [...new Set(xs)].sort();
}

/** Resolve when the proxy reported `n` sessions closed, or fail after `ms`. */
async function sessionsClosed(p: RunningProxy, n: number, ms = 5000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      p.rec.closes(n),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`wstap reported ${p.rec.closed.length} sessions closed, waiting for ${n}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** What wstap reported for the session that just ended, from the indexes taken before it. */
function recorded(p: RunningProxy, at: { closed: number; violations: number }): { close: { code: number; initiator: string }; c2b: string[]; b2c: string[] } {
  expect(p.rec.closed.length, 'one session per run').toBe(at.closed + 1);
  const e = p.rec.closed[at.closed]!.e;
  const v = p.rec.violations.slice(at.violations);
  return {
    close: { code: e.code, initiator: e.initiator },
    c2b: uniqueSorted(v.filter((x) => x.dir === 'client_to_backend').map((x) => x.kind)),
    b2c: uniqueSorted(v.filter((x) => x.dir === 'backend_to_client').map((x) => x.kind)),
  };
}

function mark(p: RunningProxy): { closed: number; violations: number } {
  return { closed: p.rec.closed.length, violations: p.rec.violations.length };
}

/** For the slow cases: wstap completed a heartbeat round trip on each leg during the proxied run. */
function checkHeartbeats(id: string, rtts: Rtts, before: Rtts): void {
  expect({ client: rtts.client > before.client, backend: rtts.backend > before.backend }, `${id} heartbeat round trips on both legs`).toEqual({ client: true, backend: true });
}

export interface ClientResult {
  readonly direct: Outcome;
  readonly proxied: Outcome;
}

/** A raw client against the `ws` echo server: directly, then through wstap. */
export async function checkClientCase(env: EchoEnv, c: ClientCase): Promise<ClientResult> {
  const seed = seedOf(c.id);
  const opts = { seed, deadlineMs: c.deadlineMs ?? 5000, ...(c.offer !== undefined ? { extensions: c.offer } : {}) };
  const steps = c.steps();
  const timers0 = timersOpen();

  const direct = await runRawClient(env.backend.port, steps, opts);
  await until(() => env.backend.wss.clients.size === 0, 5000, 'the backend to drop the direct connection');
  await noSockets();

  const at = mark(env.proxy);
  const rtts0 = { ...env.rtts };
  const proxied = await runRawClient(env.proxy.port, steps, opts);
  await sessionsClosed(env.proxy, at.closed + 1);
  await assertNoLeaks(env.proxy, [env.backend]);
  await noSockets();

  // The point of it all: wstap is invisible.
  expect(proxied, `${c.id} through wstap vs direct`).toEqual(direct);

  // The case does what it says (on the direct run, against ws).
  const x = c.expect;
  if (x.frames) expect(direct.events.filter((e) => !e.startsWith('close')), `${c.id} frames received`).toEqual(x.frames);
  if (x.messages) expect(direct.events.filter((e) => e.startsWith('msg ') || e.startsWith('!')), `${c.id} messages received`).toEqual(x.messages);
  expect(direct.close?.code ?? null, `${c.id} close code received`).toBe(x.close);
  expect(direct.first?.by ?? null, `${c.id} first close sent by`).toBe(x.by);
  expect(direct.tcp, `${c.id} TCP ending`).toBe('fin');

  // wstap recorded what the endpoints saw, and counted the violations in the case.
  const r = recorded(env.proxy, at);
  expect(r.close, `${c.id} close recorded by wstap`).toEqual(direct.first ? { code: direct.first.code, initiator: initiatorOf(direct.first.by) } : { code: 1006, initiator: r.close.initiator });
  expect(r.c2b, `${c.id} violations counted client → backend`).toEqual(uniqueSorted(c.violations ?? []));
  expect(r.b2c, `${c.id} violations counted backend → client`).toEqual([]);
  if (c.heartbeats) checkHeartbeats(c.id, env.rtts, rtts0);
  await until(() => timersOpen() <= timers0, 2000, `${c.id}: timers left behind (${timersOpen()} > ${timers0})`);
  return { direct, proxied };
}

export interface BackendResult {
  readonly direct: { client: string[]; backend: Outcome };
  readonly proxied: { client: string[]; backend: Outcome };
}

/** A scripted raw backend in front of a `ws` client: directly, then through wstap. */
export async function checkBackendCase(env: FakeEnv, c: BackendCase): Promise<BackendResult> {
  env.fake.script = { steps: c.steps(), seed: seedOf(c.id) };
  const timers0 = timersOpen();

  const [dClient, dBackend] = await Promise.all([runWsClient(env.fake.url), env.fake.nextOutcome()]);
  await until(() => env.fake.open.size === 0, 5000, 'the fake backend to drop the direct connection');
  await noSockets();

  const at = mark(env.proxy);
  const rtts0 = { ...env.rtts };
  const [pClient, pBackend] = await Promise.all([runWsClient(env.proxy.url), env.fake.nextOutcome()]);
  await sessionsClosed(env.proxy, at.closed + 1);
  await assertNoLeaks(env.proxy);
  await until(() => env.fake.open.size === 0, 5000, 'the fake backend to drop the proxied connection');
  await noSockets();

  const direct = { client: dClient, backend: dBackend };
  const proxied = { client: pClient, backend: pBackend };
  expect(proxied, `${c.id} through wstap vs direct`).toEqual(direct);

  expect(dClient, `${c.id} what the ws client saw`).toEqual(c.client);
  expect(dBackend.first, `${c.id} first close`).toEqual(c.first);
  expect(dBackend.tcp, `${c.id} TCP ending`).toBe('fin');

  const r = recorded(env.proxy, at);
  expect(r.close, `${c.id} close recorded by wstap`).toEqual({ code: c.first.code, initiator: initiatorOf(c.first.by) });
  expect(r.b2c, `${c.id} violations counted backend → client`).toEqual(uniqueSorted(c.violations ?? []));
  expect(r.c2b, `${c.id} violations counted client → backend`).toEqual([]);
  if (c.heartbeats) checkHeartbeats(c.id, env.rtts, rtts0);
  await until(() => timersOpen() <= timers0, 2000, `${c.id}: timers left behind (${timersOpen()} > ${timers0})`);
  return { direct, proxied };
}
