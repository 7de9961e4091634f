/**
 * Property tests with `ws` as the oracle: random streams built by `ws`'s Sender (valid) or by
 * our frame builder (planted faults), randomly chunked, read by both `ws`'s Receiver and the tap.
 * Seeded: a failure prints its seed; replay one with FRAMES_SEED=<seed>.
 *
 * Run: npx vitest run test/unit/frames
 * Longer runs: test/fuzz/frames.fuzz.ts.
 */
import { describe, expect, it } from 'vitest';
import {
  checkStream,
  compareWithWs,
  invalidFrames,
  randomChunks,
  seeds,
  untag,
  validFrames,
  withSeed,
  wsFrame,
  wsVerdict,
} from '../../helpers/frames.js';

const DIRECTIONS = [
  ['client → backend (masked)', true],
  ['backend → client (unmasked)', false],
] as const;

describe.each(DIRECTIONS)('valid streams, %s', (_name, masked) => {
  it('the tap reports what ws reports, with zero violations, for any chunking', () => {
    let messages = 0;
    let closes = 0;
    for (const seed of seeds(0xa11ce + (masked ? 1 : 0), 150)) {
      withSeed(seed, (rng) => {
        const frames = validFrames(rng, { masked, big: rng.bool(0.15) });
        const { tap, verdict } = compareWithWs(rng, frames, { masked });
        expect(verdict.error).toBeNull();
        expect(tap.log.filter((e) => e.includes('violation') || e.includes('tooBig'))).toEqual([]);
        messages += verdict.log.filter((e) => e.includes('message')).length;
        if (verdict.closedAt !== null) closes++;

        // The same stream in one piece, randomly chunked: the same callbacks, the same bytes.
        const input = Buffer.concat(frames);
        const whole = checkStream(randomChunks(rng, input), input, { masked });
        expect(whole.output.equals(input)).toBe(true);
        expect(whole.log).toEqual(tap.log.map(untag));
      });
    }
    expect(messages).toBeGreaterThan(300);
    expect(closes).toBeGreaterThan(20);
  });

  it('lengths at the encoding edges (125/126/65535/65536), fragmented around pings', () => {
    withSeed(7, (rng) => {
      for (const size of [0, 125, 126, 127, 65535, 65536]) {
        const key = (): Buffer | null => (masked ? rng.maskKey() : null);
        const payload = rng.bytes(size);
        const half = size >> 1;
        const frames = [
          wsFrame(payload, { opcode: 2, mask: key() }),
          wsFrame(payload.subarray(0, half), { opcode: 1, fin: false, mask: key() }),
          wsFrame(rng.bytes(125), { opcode: 9, mask: key() }),
          wsFrame(payload.subarray(half), { opcode: 0, fin: true, mask: key() }),
          wsFrame(Buffer.from([0x03, 0xe8]), { opcode: 8, mask: key() }),
        ];
        const { tap } = compareWithWs(rng, frames, { masked });
        expect(tap.log.map(untag).filter((e) => e.startsWith('message'))).toEqual([`message 2 ${size}`, `message 1 ${size}`]);
      }
    });
  });
});

describe.each(DIRECTIONS)('invalid streams, %s', (_name, masked) => {
  it('the tap flags a violation wherever ws fails, matching ws\'s first error', () => {
    const seen = new Map<string, number>();
    for (const seed of seeds(0xbad + (masked ? 1 : 0), 400)) {
      withSeed(seed, (rng) => {
        const { frames, maxPayload } = invalidFrames(rng, { masked });
        const { verdict } = compareWithWs(rng, frames, { masked, maxPayload });
        if (verdict.error) seen.set(verdict.error.code, (seen.get(verdict.error.code) ?? 0) + 1);
        // And the stream in one piece never throws and keeps the byte contract.
        const input = Buffer.concat(frames);
        checkStream(randomChunks(rng, input), input, { masked, maxMessageBytes: maxPayload });
      });
    }
    // Every kind of ws error was provoked at least once.
    expect([...seen.keys()].sort()).toEqual(
      [
        'WS_ERR_EXPECTED_FIN',
        masked ? 'WS_ERR_EXPECTED_MASK' : 'WS_ERR_UNEXPECTED_MASK',
        'WS_ERR_INVALID_CLOSE_CODE',
        'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH',
        'WS_ERR_INVALID_OPCODE',
        'WS_ERR_UNEXPECTED_RSV_1',
        'WS_ERR_UNEXPECTED_RSV_2_3',
        'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH',
        'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH',
      ].sort(),
    );
  });
});

describe('the oracle itself', () => {
  it('ws reports what we expect on a known stream', () => {
    const v = wsVerdict([Buffer.from('810548656c6c6f', 'hex'), Buffer.from('8900', 'hex'), Buffer.from('880203e8', 'hex')], { isServer: false });
    expect(v).toEqual({ log: ['0: message 1 5', '1: control 9 ', '2: control 8 03e8'], error: null, closedAt: 2 });
    const bad = wsVerdict([Buffer.from('8100', 'hex'), Buffer.from('8300', 'hex')], { isServer: false });
    expect(bad.error).toEqual({ code: 'WS_ERR_INVALID_OPCODE', frame: 1 });
  });
});
