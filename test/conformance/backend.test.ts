/**
 * The other way round: a scripted raw backend (it completes the handshake, sends scripted frames
 * in any chopping, answers pings at its own frame boundaries) in front of a `ws` client, directly
 * and through wstap with heartbeats every 5 ms. What the ws client sees and what the backend gets
 * back must be identical; wstap records the close and counts violations of the backend's frames.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crashGuard } from '../helpers/backends.js';
import { backendCases } from './cases.js';
import { stats } from './harness.js';
import { checkBackendCase, fakeEnv, type FakeEnv } from './run.js';

crashGuard();

let env: FakeEnv | undefined;
beforeAll(async () => {
  env = await fakeEnv();
});
afterAll(async () => {
  await env?.close();
});

const GROUPS: [string, string][] = [
  ['b1', 'server framing'],
  ['b2', 'server pings and pongs'],
  ['b3', 'server reserved bits'],
  ['b4', 'server reserved opcodes'],
  ['b5', 'server fragmentation'],
  ['b6', 'server UTF-8'],
  ['b7', 'server close handling'],
  ['bx', 'server masking'],
];

for (const [g, name] of GROUPS) {
  describe(`${g}: ${name}`, () => {
    for (const c of backendCases.filter((x) => x.group === g)) {
      it(`${c.id} ${c.title}`, async () => {
        await checkBackendCase(env!, c);
      });
    }
  });
}

it('wstap pinged both the raw backend and the ws client along the way', () => {
  expect(stats.wstapPings).toBeGreaterThan(0);
  expect(stats.wsClientWstapPings).toBeGreaterThan(0);
});
