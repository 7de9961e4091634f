/**
 * Long-running fuzz of the frame tap against `ws`: the unit suite's properties
 * (test/unit/frames/ws-oracle.test.ts, hostile.test.ts, inject.test.ts) with many more seeds.
 * Not part of the default run. From the repo root:
 *
 *   npx vitest run --config test/fuzz/vitest.config.ts
 *   FRAMES_FUZZ_ITERATIONS=200000 npx vitest run --config test/fuzz/vitest.config.ts
 *   FRAMES_FUZZ_SECONDS=600 npx vitest run --config test/fuzz/vitest.config.ts   # time-boxed
 *   FRAMES_FUZZ_BASE=12345 …                                                    # pick the seeds
 *   FRAMES_SEED=<seed> …                                                        # replay one seed
 *
 * Each iteration derives its own seed from the base; a failure prints the seed to replay.
 */
import { describe, expect, it } from 'vitest';
import {
  checkInjections,
  checkStream,
  compareLoosely,
  compareWithWs,
  garbage,
  invalidFrames,
  randomChunks,
  seedAt,
  Tap,
  untag,
  validFrames,
  withSeed,
} from '../helpers/frames.js';
import { controlFrame } from '../../src/frames/close.js';

const ITERATIONS = Number(process.env.FRAMES_FUZZ_ITERATIONS ?? 5000);
const SECONDS = Number(process.env.FRAMES_FUZZ_SECONDS ?? 0);
const BASE = Number(process.env.FRAMES_FUZZ_BASE ?? Math.floor(Math.random() * 2 ** 31));

/** Run `body` for each seed until the count or the time box runs out; returns how many ran. */
function fuzz(offset: number, body: (seed: number) => void): number {
  const pinned = process.env.FRAMES_SEED;
  if (pinned !== undefined && pinned !== '') {
    body(Number(pinned) >>> 0);
    return 1;
  }
  const deadline = SECONDS > 0 ? Date.now() + SECONDS * 1000 : Infinity;
  const limit = SECONDS > 0 ? Infinity : ITERATIONS;
  const base = BASE + offset * 0x100000;
  let n = 0;
  while (n < limit && (n % 64 !== 0 || Date.now() < deadline)) body(seedAt(base, n++));
  return n;
}

describe(`frame tap fuzz (base ${BASE}, ${SECONDS > 0 ? `${SECONDS}s each` : `${ITERATIONS} iterations each`})`, () => {
  for (const masked of [true, false]) {
    const dir = masked ? 'client → backend' : 'backend → client';

    it(`valid streams agree with ws, ${dir}`, () => {
      const n = fuzz(masked ? 1 : 2, (seed) =>
        withSeed(seed, (rng) => {
          const frames = validFrames(rng, { masked, big: rng.bool(0.1), maxMessages: 12 });
          const { tap, verdict } = compareWithWs(rng, frames, { masked });
          expect(verdict.error).toBeNull();
          expect(tap.log.filter((e) => e.includes('violation'))).toEqual([]);
          const input = Buffer.concat(frames);
          const whole = checkStream(randomChunks(rng, input), input, { masked });
          expect(whole.log).toEqual(tap.log.map(untag));
        }),
      );
      console.log(`valid ${dir}: ${n} streams`);
    });

    it(`planted faults are flagged where ws fails, ${dir}`, () => {
      const n = fuzz(masked ? 3 : 4, (seed) =>
        withSeed(seed, (rng) => {
          const { frames, maxPayload } = invalidFrames(rng, { masked });
          compareWithWs(rng, frames, { masked, maxPayload });
          const input = Buffer.concat(frames);
          checkStream(randomChunks(rng, input), input, { masked, maxMessageBytes: maxPayload });
        }),
      );
      console.log(`invalid ${dir}: ${n} streams`);
    });

    it(`garbage never throws and is flagged where ws fails, ${dir}`, () => {
      const n = fuzz(masked ? 5 : 6, (seed) =>
        withSeed(seed, (rng) => {
          const input = garbage(rng, { masked });
          const tap = checkStream(randomChunks(rng, input), input, { masked });
          compareLoosely(tap, input, masked);
        }),
      );
      console.log(`garbage ${dir}: ${n} streams`);
    });

    it(`injections land at boundaries, ${dir}`, () => {
      const n = fuzz(masked ? 7 : 8, (seed) =>
        withSeed(seed, (rng) => {
          const input = Buffer.concat(validFrames(rng, { masked, big: rng.bool(0.05) }));
          const inject = (t: Tap): void => void t.inject(controlFrame(0x9, rng.bytes(rng.int(0, 16)), masked));
          const tap = new Tap(
            { masked },
            {
              afterChunk: (_i, t) => {
                if (rng.bool(0.3)) inject(t);
              },
              onMessage: (t) => {
                if (rng.bool(0.1)) inject(t);
              },
              onControl: (t) => {
                if (rng.bool(0.1)) inject(t);
              },
            },
          );
          tap.feed(randomChunks(rng, input));
          checkInjections(tap, input, 'fuzz', true);
          expect(tap.injections.every((j) => j.placedAt !== null)).toBe(true);
        }),
      );
      console.log(`inject ${dir}: ${n} streams`);
    });
  }
});
