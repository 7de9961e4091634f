/**
 * Hostile input: garbage and damaged streams never make the tap throw, keep the byte contract,
 * and are flagged where `ws` fails them; absurd declared lengths cost no memory.
 * Seeded: a failure prints its seed; replay one with FRAMES_SEED=<seed>.
 *
 * Run: npx vitest run test/unit/frames
 */
import { describe, expect, it } from 'vitest';
import { SinkParser, type FrameSink } from '../../../src/frames/parser.js';
import { checkStream, compareLoosely, frame, garbage, hex, randomChunks, seeds, withSeed } from '../../helpers/frames.js';

/** A sink that keeps nothing: counts what passes. */
function countingSink(): FrameSink & { bytes: number; calls: number; violations: string[] } {
  const s = {
    bytes: 0,
    calls: 0,
    violations: [] as string[],
    forward(buf: Buffer) {
      s.bytes += buf.length;
      s.calls++;
    },
    message() {},
    control() {
      return true;
    },
    violation(kind: string) {
      s.violations.push(kind);
    },
    tooBig() {},
  };
  return s;
}

describe.each([
  ['client → backend', true],
  ['backend → client', false],
] as const)('garbage, %s', (_name, masked) => {
  it('never throws, keeps the byte contract, and flags what ws fails on', () => {
    let wsErrors = 0;
    for (const seed of seeds(0x9a5b + (masked ? 1 : 0), 400)) {
      withSeed(seed, (rng) => {
        const input = garbage(rng, { masked });
        const tap = checkStream(randomChunks(rng, input), input, { masked });
        const verdict = compareLoosely(tap, input, masked);
        if (verdict.error) wsErrors++;
      });
    }
    expect(wsErrors).toBeGreaterThan(100);
  });
});

describe('every possible first two bytes', () => {
  it('any header, fed whole or split after its first byte, never throws and loses no byte', () => {
    const tail = hex('00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10 11 12 13');
    const input = Buffer.alloc(2 + tail.length);
    tail.copy(input, 2);
    const bad: string[] = [];
    for (let b0 = 0; b0 < 256; b0++) {
      for (let b1 = 0; b1 < 256; b1++) {
        input[0] = b0;
        input[1] = b1;
        for (const masked of [false, true]) {
          const whole = countingSink();
          new SinkParser(whole, { masked, rsv1: false, otherExtensions: false, maxMessageBytes: 0 }).push(input);
          const split = countingSink();
          const p = new SinkParser(split, { masked, rsv1: false, otherExtensions: false, maxMessageBytes: 0 });
          p.push(input.subarray(0, 1));
          const early = split.bytes; // one byte of a header is never forwarded
          p.push(input.subarray(1));
          const held = input.length - whole.bytes;
          // All of it passes but what is held at the end: an incomplete header or control frame.
          if (
            early !== 0 ||
            split.bytes !== whole.bytes ||
            split.violations.join() !== whole.violations.join() ||
            (held > 0 && (p.stopped || held > 139))
          ) {
            bad.push(`${input.subarray(0, 2).toString('hex')} masked=${masked}: ${early} early, ${split.bytes}/${whole.bytes} bytes`);
          }
        }
      }
    }
    expect(bad.slice(0, 5)).toEqual([]);
  });
});

describe('declared lengths', () => {
  it('a header declaring 2^52 bytes, then a few: no crash, nothing buffered, midFrame', () => {
    const sink = countingSink();
    const p = new SinkParser(sink, { masked: false, rsv1: false, otherExtensions: false, maxMessageBytes: 0 });
    const head = frame({ opcode: 2, declaredLength: 2n ** 52n });
    p.push(Buffer.concat([head, hex('01 02 03')]));
    expect(sink.bytes).toBe(head.length + 3);
    expect(sink.violations).toEqual([]);
    expect([p.midFrame, p.atBoundary, p.stopped, p.inMessage]).toEqual([true, false, false, true]);
  });

  it('streaming 256 MiB of a 2^52-byte frame keeps memory flat (the payload is never kept)', () => {
    const sink = countingSink();
    const p = new SinkParser(sink, { masked: true, rsv1: false, otherExtensions: false, maxMessageBytes: 0 });
    const chunk = Buffer.alloc(1 << 20, 0x5a);
    p.push(frame({ opcode: 2, declaredLength: 2n ** 52n, mask: true }));
    for (let i = 0; i < 16; i++) p.push(chunk); // warm up
    const before = process.memoryUsage();
    for (let i = 0; i < 256; i++) p.push(chunk);
    const after = process.memoryUsage();
    expect(sink.bytes).toBe(14 + 272 * (1 << 20));
    expect(after.heapUsed - before.heapUsed).toBeLessThan(16 << 20);
    expect(after.arrayBuffers - before.arrayBuffers).toBeLessThan(16 << 20);
    expect(p.midFrame).toBe(true);
  });

  it('the largest exact length (2^53 - 1) is followed; 2^53 is not', () => {
    const ok = countingSink();
    const p = new SinkParser(ok, { masked: false, rsv1: false, otherExtensions: false, maxMessageBytes: 0 });
    p.push(Buffer.concat([frame({ opcode: 2, declaredLength: 2n ** 53n - 1n }), hex('00')]));
    expect([ok.violations, p.stopped, p.midFrame]).toEqual([[], false, true]);
    const bad = countingSink();
    const q = new SinkParser(bad, { masked: false, rsv1: false, otherExtensions: false, maxMessageBytes: 0 });
    q.push(Buffer.concat([frame({ opcode: 2, declaredLength: 2n ** 53n }), hex('00')]));
    expect([bad.violations, q.stopped]).toEqual([['length_too_large'], true]);
  });
});
