/**
 * Autobahn groups 12–13: permessage-deflate negotiated end to end through wstap (it forwards the
 * offer and the answer unchanged and never inflates): compressed echoes of several sizes,
 * fragmented, with and without context takeover, with reduced window bits; and RSV misuse once
 * deflate is negotiated. Each case runs directly and through wstap (heartbeats every 5 ms).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crashGuard } from '../helpers/backends.js';
import { clientCases, type BackendKind } from './cases.js';
import { checkClientCase, echoEnv, type EchoEnv } from './run.js';

crashGuard();

const envs = new Map<BackendKind, EchoEnv>();
beforeAll(async () => {
  for (const kind of ['deflate', 'deflate-noctx'] as const) envs.set(kind, await echoEnv(kind));
});
afterAll(async () => {
  for (const e of envs.values()) await e.close();
});

for (const [g, name] of [
  ['12', 'compression, different payloads'],
  ['13', 'compression, different parameters'],
] as const) {
  describe(`group ${g}: ${name}`, () => {
    for (const c of clientCases.filter((x) => x.group === g)) {
      it(`${c.id} ${c.title}`, async () => {
        const { direct } = await checkClientCase(envs.get(c.backend ?? 'deflate')!, c);
        // The negotiation itself went through: the answer names permessage-deflate when offered.
        if (c.offer !== undefined) expect(direct.extensions ?? '').toMatch(/^permessage-deflate/);
        else expect(direct.extensions ?? null).toBeNull();
      });
    }
  });
}
