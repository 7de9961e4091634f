/**
 * `inject`: a frame written at a boundary now, or queued and forwarded at the next boundary —
 * never inside a frame — for every chunking, in both directions, and from inside sink callbacks.
 *
 * Run: npx vitest run test/unit/frames
 */
import { describe, expect, it } from 'vitest';
import { controlFrame } from '../../../src/frames/close.js';
import {
  byteByByte,
  checkInjections,
  filler,
  frame,
  frameLayout,
  hex,
  randomChunks,
  seeds,
  splitOffsets,
  Tap,
  withSeed,
} from '../../helpers/frames.js';
import type { ParserOptions } from '../../../src/frames/parser.js';

const S2C: Partial<ParserOptions> = { masked: false };
const C2S: Partial<ParserOptions> = { masked: true };

/** A stream with every kind of edge: short and long payloads, fragments, a ping between them. */
function stream(mask: boolean, big = true): Buffer {
  const m = mask ? hex('0a 1b 2c 3d') : false;
  return Buffer.concat([
    frame({ opcode: 1, payload: 'Hello', mask: m }),
    frame({ opcode: 2, fin: false, payload: filler(200), mask: m }),
    frame({ opcode: 9, payload: 'p', mask: m }),
    frame({ opcode: 0, fin: true, payload: filler(100, 1), mask: m }),
    frame({ opcode: 1, payload: '', mask: m }),
    ...(big ? [frame({ opcode: 2, payload: filler(70_000, 2), mask: m })] : []),
    frame({ opcode: 10, payload: '', mask: m }),
    frame({ opcode: 8, payload: hex('03 e8'), mask: m }),
  ]);
}

/** A fresh proxy ping each call (identity matters: the tap forwards the very Buffer it queued). */
const ping = (mask: boolean): Buffer => controlFrame(0x9, Buffer.from('wstap-nonce'), mask);

describe.each([
  ['backend → client', S2C, false],
  ['client → backend', C2S, true],
] as const)('inject, %s', (_dir, opts, mask) => {
  const input = stream(mask);

  it('split at every offset, injecting between the two chunks', () => {
    let now = 0;
    let queued = 0;
    for (const at of splitOffsets(input)) {
      const tap = new Tap(opts, { afterChunk: (i, t) => void (i === 0 && t.inject(ping(mask))) });
      tap.feed([input.subarray(0, at), input.subarray(at)]);
      checkInjections(tap, input, `split@${at}`);
      const j = tap.injections[0]!;
      expect(j.placedAt, `split@${at}`).not.toBeNull();
      if (j.now) now++;
      else queued++;
      expect(tap.log.filter((l) => l.startsWith('violation'))).toEqual([]);
    }
    expect(now).toBeGreaterThan(10);
    expect(queued).toBeGreaterThan(10);
  });

  it('byte by byte, injecting after every byte', () => {
    const small = stream(mask, false);
    const tap = new Tap(opts, { afterChunk: (_i, t) => void t.inject(ping(mask)) });
    tap.feed(byteByByte(small));
    checkInjections(tap, small, 'byte-by-byte');
    expect(tap.injections.every((j) => j.placedAt !== null)).toBe(true);
    // The output is itself a well-framed stream: the injected pings sit between frames.
    const layout = frameLayout(tap.output);
    expect(layout.lostAt).toBeNull();
    const pings = layout.frames.filter((f) => f.opcode === 9).length;
    expect(pings).toBe(small.length + 1);
  });

  it('random chunkings with random injection points (seeded)', () => {
    for (const seed of seeds(0x1a7ec7, 60)) {
      withSeed(seed, (rng) => {
        const tap = new Tap(opts, {
          afterChunk: (_i, t) => {
            const n = rng.pick([0, 0, 1, 1, 3]);
            for (let k = 0; k < n; k++) t.inject(ping(mask));
          },
        });
        tap.feed(randomChunks(rng, input));
        checkInjections(tap, input, 'random');
      });
    }
  });
});

describe('inject, details', () => {
  it('queued frames keep their order and go out together at the next boundary', () => {
    const input = Buffer.concat([hex('82 06 01 02 03 04 05 06'), hex('81 01 61')]);
    const tap = new Tap(S2C);
    tap.parser.push(input.subarray(0, 4));
    const frames = [hex('89 01 01'), hex('89 01 02'), hex('8a 00')];
    for (const f of frames) expect(tap.inject(f)).toBe(false);
    tap.parser.push(input.subarray(4));
    expect(tap.output).toEqual(Buffer.concat([input.subarray(0, 8), ...frames, input.subarray(8)]));
  });

  it('a frame queued while the payload ends exactly at the chunk end goes out at once', () => {
    const tap = new Tap(S2C);
    tap.parser.push(hex('82 04 01 02'));
    expect(tap.inject(hex('89 00'))).toBe(false);
    tap.parser.push(hex('03 04'));
    expect(tap.output).toEqual(hex('82 04 01 02 03 04 89 00'));
    expect(tap.parser.atBoundary).toBe(true);
  });

  it('while a header is held, inject returns true and the caller writes before the held header', () => {
    const tap = new Tap(S2C);
    tap.parser.push(hex('82 7e 00'));
    expect(tap.parser.atBoundary).toBe(true);
    expect(tap.inject(hex('89 00'))).toBe(true);
    tap.parser.push(Buffer.concat([hex('80'), filler(128)]));
    expect(tap.output).toEqual(Buffer.concat([hex('89 00 82 7e 00 80'), filler(128)]));
  });

  it('while a control frame is held, inject returns true and the caller writes before it', () => {
    const tap = new Tap(S2C);
    tap.parser.push(hex('8a 03 61'));
    expect(tap.inject(hex('89 00'))).toBe(true);
    tap.parser.push(hex('62 63'));
    expect(tap.output).toEqual(hex('89 00 8a 03 61 62 63'));
  });

  it('a frame queued before a reserved opcode goes out at the boundary before it', () => {
    const input = hex('82 02 01 02 | 83 01 ff | 81 00');
    const tap = new Tap(S2C);
    tap.parser.push(input.subarray(0, 3));
    expect(tap.inject(hex('89 00'))).toBe(false);
    tap.parser.push(input.subarray(3));
    expect(tap.log).toEqual(['message 2 2', 'violation reserved_opcode']);
    expect(tap.parser.stopped).toBe(true);
    expect(tap.output).toEqual(Buffer.concat([input.subarray(0, 4), hex('89 00'), input.subarray(4)]));
  });

  it('once framing is lost, inject returns false and queues nothing (the caller checks `stopped`)', () => {
    const tap = new Tap(S2C);
    tap.parser.push(hex('83 05 01'));
    expect(tap.parser.stopped).toBe(true);
    expect(tap.parser.midFrame).toBe(true);
    expect(tap.inject(hex('89 00'))).toBe(false);
    tap.parser.push(hex('02 03 04 05 81 00'));
    expect(tap.output).toEqual(hex('83 05 01 02 03 04 05 81 00'));
  });
});

/**
 * A sink may inject from inside its own callbacks (say, a close after a violation). During those
 * calls part of the chunk may not be forwarded yet, so "at a boundary" must not be claimed then.
 */
describe('inject from inside sink callbacks', () => {
  const input = Buffer.concat([
    hex('82 05 01 02 03 04 05'),
    hex('89 01 70'),
    hex('01 02 61 62'),
    hex('c0 02 63 64'), // RSV1 on a continuation: a violation
    hex('81 00'),
    hex('82 03 0a 0b 0c'),
  ]);
  const cases = [
    ['message', { onMessage: (t: Tap) => void t.inject(hex('89 02 6d 6d')) }],
    ['control', { onControl: (t: Tap) => void t.inject(hex('89 02 63 63')) }],
    ['violation', { onViolation: (t: Tap) => void t.inject(hex('89 02 76 76')) }],
  ] as const;
  it('from violation() on a frame that loses the framing: the frame goes out at the boundary before it', () => {
    const bad = Buffer.concat([hex('82 03 01 02 03'), hex('83 02 ff ff'), hex('81 00')]);
    for (const at of [0, ...splitOffsets(bad)]) {
      const chunks = at === 0 ? [bad] : [bad.subarray(0, at), bad.subarray(at)];
      const tap = new Tap(S2C, { onViolation: (t) => void t.inject(hex('88 02 03 ea')) }).feed(chunks);
      expect(tap.log, `split@${at}`).toEqual(['message 2 3', 'violation reserved_opcode']);
      expect(tap.output, `split@${at}`).toEqual(Buffer.concat([bad.subarray(0, 5), hex('88 02 03 ea'), bad.subarray(5)]));
    }
  });

  for (const [name, hooks] of cases) {
    it(`from ${name}(): the frame lands at a boundary, for every chunking`, () => {
      const chunkings = [[input], ...splitOffsets(input).map((at) => [input.subarray(0, at), input.subarray(at)]), byteByByte(input)];
      for (const [k, chunks] of chunkings.entries()) {
        const tap = new Tap(S2C, hooks).feed(chunks);
        checkInjections(tap, input, `${name}, chunking #${k}`, true);
        expect(tap.injections.length, `chunking #${k}`).toBeGreaterThan(0);
        expect(tap.injections.every((j) => j.placedAt !== null), `chunking #${k}`).toBe(true);
        expect(frameLayout(tap.output).lostAt).toBeNull();
      }
    });
  }
});
