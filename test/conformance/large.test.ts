/**
 * Autobahn group 9, scaled down: text and binary messages of 64 KiB, 1 MiB and 4 MiB, in one
 * frame and in fragments of 4 KiB and 64 KiB, directly and through wstap (heartbeats every 5 ms).
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import { crashGuard } from '../helpers/backends.js';
import { clientCases } from './cases.js';
import { checkClientCase, echoEnv, type EchoEnv } from './run.js';

crashGuard();

let env: EchoEnv | undefined;
beforeAll(async () => {
  env = await echoEnv('plain');
});
afterAll(async () => {
  await env?.close();
});

describe('group 9: large messages', () => {
  for (const c of clientCases.filter((x) => x.group === '9')) {
    it(`${c.id} ${c.title}`, async () => {
      await checkClientCase(env!, c);
    });
  }
});
