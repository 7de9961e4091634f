/**
 * Autobahn groups 1–7 and 10 (plus masking and length-encoding extras), each case run by a raw
 * client against a `ws` echo server directly and through wstap with heartbeats every 5 ms: the
 * outcomes must be identical (research §4.3, §6 #10). See cases.ts for the cases, run.ts for
 * what is checked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crashGuard } from '../helpers/backends.js';
import { clientCases } from './cases.js';
import { stats } from './harness.js';
import { checkClientCase, echoEnv, type EchoEnv } from './run.js';

crashGuard();

let env: EchoEnv | undefined;
beforeAll(async () => {
  env = await echoEnv('plain');
});
afterAll(async () => {
  await env?.close();
});

const GROUPS: [string, string][] = [
  ['1', 'framing'],
  ['2', 'pings and pongs'],
  ['3', 'reserved bits'],
  ['4', 'reserved opcodes'],
  ['5', 'fragmentation'],
  ['6', 'UTF-8 handling'],
  ['7', 'close handling'],
  ['10', 'autofragmentation'],
  ['x', 'masking and length encodings'],
];

for (const [g, name] of GROUPS) {
  describe(`group ${g}: ${name}`, () => {
    for (const c of clientCases.filter((x) => x.group === g)) {
      it(`${c.id} ${c.title}`, async () => {
        await checkClientCase(env!, c);
      });
    }
  });
}

it('the raw client met wstap pings and answered some only after finishing a frame of its own', () => {
  expect(stats.wstapPings).toBeGreaterThan(0);
  expect(stats.repliesDeferred).toBeGreaterThan(0);
});
