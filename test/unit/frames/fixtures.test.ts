/**
 * The frame tap on byte fixtures, each fed whole, split at every offset and byte by byte.
 * For every chunking: the forwarded bytes equal the input, the callbacks are identical, and no
 * `forward` call ever ends inside a header (or inside a control frame held for the sink).
 *
 * Run: npx vitest run test/unit/frames
 */
import { describe, expect, it } from 'vitest';
import { checkEveryChunking, chop, filler, frame, hex, maskBytes, RFC_MASK, splitAtEveryOffset, Tap } from '../../helpers/frames.js';
import type { ParserOptions } from '../../../src/frames/parser.js';

/** Backend → client: frames must not be masked. */
const S2C: Partial<ParserOptions> = { masked: false };
/** Client → backend: frames must be masked. */
const C2S: Partial<ParserOptions> = { masked: true };
const DEFLATE: Partial<ParserOptions> = { masked: false, rsv1: true };

interface Fixture {
  name: string;
  bytes: Buffer;
  opts: Partial<ParserOptions>;
  log: string[];
  stopped?: boolean;
}

const hello = Buffer.from('Hello');
const big256 = filler(256);
const big64k = filler(65536);
const ping126 = filler(126, 3);

const fixtures: Fixture[] = [
  // RFC 6455 §5.7 examples
  { name: 'unmasked text "Hello" (RFC 5.7)', bytes: hex('81 05 48 65 6c 6c 6f'), opts: S2C, log: ['message 1 5'] },
  { name: 'masked text "Hello" (RFC 5.7)', bytes: hex('81 85 37 fa 21 3d 7f 9f 4d 51 58'), opts: C2S, log: ['message 1 5'] },
  {
    name: 'fragmented unmasked text (RFC 5.7)',
    bytes: hex('01 03 48 65 6c | 80 02 6c 6f'),
    opts: S2C,
    log: ['message 1 5'],
  },
  { name: 'unmasked ping "Hello" (RFC 5.7)', bytes: hex('89 05 48 65 6c 6c 6f'), opts: S2C, log: ['control 9 48656c6c6f'] },
  {
    name: 'masked pong "Hello" (RFC 5.7), unmasked for the sink',
    bytes: hex('8a 85 37 fa 21 3d 7f 9f 4d 51 58'),
    opts: C2S,
    log: ['control 10 48656c6c6f'],
  },
  { name: '256-byte binary, 16-bit length (RFC 5.7)', bytes: Buffer.concat([hex('82 7e 01 00'), big256]), opts: S2C, log: ['message 2 256'] },
  {
    name: '64 KiB binary, 64-bit length (RFC 5.7)',
    bytes: Buffer.concat([hex('82 7f 00 00 00 00 00 01 00 00'), big64k]),
    opts: S2C,
    log: ['message 2 65536'],
  },
  {
    name: '64 KiB masked binary, 64-bit length',
    bytes: frame({ opcode: 2, payload: big64k, mask: hex('01 02 03 04') }),
    opts: C2S,
    log: ['message 2 65536'],
  },
  { name: 'masked 126-byte text, 16-bit length', bytes: frame({ opcode: 1, payload: filler(126), mask: true }), opts: C2S, log: ['message 1 126'] },
  { name: 'masked 65535-byte binary', bytes: frame({ opcode: 2, payload: filler(65535), mask: true }), opts: C2S, log: ['message 2 65535'] },
  { name: 'empty text', bytes: hex('81 00'), opts: S2C, log: ['message 1 0'] },
  { name: 'masked empty binary', bytes: hex('82 80 01 02 03 04'), opts: C2S, log: ['message 2 0'] },
  {
    name: 'fragmented message with a ping between fragments',
    bytes: hex('01 03 48 65 6c | 89 05 48 65 6c 6c 6f | 80 02 6c 6f'),
    opts: S2C,
    log: ['control 9 48656c6c6f', 'message 1 5'],
  },
  {
    name: 'masked fragmented binary with empty fragments, a pong and a ping between',
    bytes: Buffer.concat([
      frame({ opcode: 2, fin: false, payload: filler(200), mask: true }),
      frame({ opcode: 10, payload: 'pong', mask: hex('aa bb cc dd') }),
      frame({ opcode: 0, fin: false, payload: '', mask: true }),
      frame({ opcode: 9, payload: '', mask: true }),
      frame({ opcode: 0, fin: false, payload: filler(70_000), mask: hex('00 00 00 00') }),
      frame({ opcode: 0, fin: true, payload: 'x', mask: true }),
    ]),
    opts: C2S,
    log: ['control 10 706f6e67', 'control 9 ', 'message 2 70201'],
  },
  { name: 'empty ping', bytes: hex('89 00'), opts: S2C, log: ['control 9 '] },
  { name: 'masked empty ping', bytes: hex('89 80 37 fa 21 3d'), opts: C2S, log: ['control 9 '] },
  { name: '125-byte ping (the largest legal)', bytes: frame({ opcode: 9, payload: filler(125) }), opts: S2C, log: [`control 9 ${filler(125).toString('hex')}`] },
  { name: 'close 1000 "bye"', bytes: hex('88 05 03 e8 62 79 65'), opts: S2C, log: ['control 8 03e8627965'] },
  {
    name: 'masked close 1001 "going away"',
    bytes: frame({ opcode: 8, payload: Buffer.concat([hex('03 e9'), Buffer.from('going away')]), mask: true }),
    opts: C2S,
    log: [`control 8 03e9${Buffer.from('going away').toString('hex')}`],
  },
  { name: 'empty close', bytes: hex('88 00'), opts: S2C, log: ['control 8 '] },
  { name: 'close with a 1-byte body', bytes: hex('88 01 03'), opts: S2C, log: ['violation bad_close_payload', 'control 8 03'] },
  {
    name: 'masked close with a 1-byte body',
    bytes: frame({ opcode: 8, payload: hex('03'), mask: true }),
    opts: C2S,
    log: ['violation bad_close_payload', 'control 8 03'],
  },
  { name: 'close 1005 on the wire', bytes: hex('88 02 03 ed'), opts: S2C, log: ['violation invalid_close_code', 'control 8 03ed'] },
  { name: 'close 999', bytes: hex('88 02 03 e7'), opts: S2C, log: ['violation invalid_close_code', 'control 8 03e7'] },
  { name: 'close 5000', bytes: hex('88 02 13 88'), opts: S2C, log: ['violation invalid_close_code', 'control 8 1388'] },
  { name: 'close 4999 (private range)', bytes: hex('88 02 13 87'), opts: S2C, log: ['control 8 1387'] },
  {
    name: '126-byte ping (16-bit length): passed through, not handed to the sink',
    bytes: Buffer.concat([hex('89 7e 00 7e'), ping126, hex('81 02 68 69')]),
    opts: S2C,
    log: ['violation control_too_long', 'message 1 2'],
  },
  {
    name: 'reserved opcode 0x3: framing lost, everything passes',
    bytes: hex('83 02 aa bb | 81 02 68 69'),
    opts: S2C,
    log: ['violation reserved_opcode'],
    stopped: true,
  },
  {
    name: 'reserved control opcode 0xB after a message',
    bytes: hex('81 02 68 69 | 8b 00 | 89 00'),
    opts: S2C,
    log: ['message 1 2', 'violation reserved_opcode'],
    stopped: true,
  },
  { name: 'RSV1 without permessage-deflate', bytes: hex('c1 05 48 65 6c 6c 6f'), opts: S2C, log: ['violation reserved_bits', 'message 1 5'] },
  { name: 'RSV1 with permessage-deflate', bytes: hex('c1 05 48 65 6c 6c 6f'), opts: DEFLATE, log: ['message 1 5'] },
  {
    name: 'RSV1 on the first fragment only, with permessage-deflate',
    bytes: hex('41 03 48 65 6c | 80 02 6c 6f'),
    opts: DEFLATE,
    log: ['message 1 5'],
  },
  {
    name: 'RSV1 on a continuation, with permessage-deflate',
    bytes: hex('41 03 48 65 6c | c0 02 6c 6f'),
    opts: DEFLATE,
    log: ['violation reserved_bits', 'message 1 5'],
  },
  { name: 'RSV1 on a ping, with permessage-deflate', bytes: hex('c9 00'), opts: DEFLATE, log: ['violation reserved_bits', 'control 9 '] },
  { name: 'RSV2 with permessage-deflate', bytes: hex('a1 00'), opts: DEFLATE, log: ['violation reserved_bits', 'message 1 0'] },
  { name: 'RSV3', bytes: hex('91 00'), opts: S2C, log: ['violation reserved_bits', 'message 1 0'] },
  {
    name: 'RSV2+RSV3 with an unknown extension negotiated: not ours to judge',
    bytes: hex('b1 00 | b9 00'),
    opts: { masked: false, otherExtensions: true },
    log: ['message 1 0', 'control 9 '],
  },
  { name: 'continuation without a start', bytes: hex('80 02 6c 6f | 81 00'), opts: S2C, log: ['violation unexpected_continuation', 'message 1 0'] },
  {
    name: 'new text during a fragmented message',
    bytes: hex('01 03 48 65 6c | 81 02 6c 6f'),
    opts: S2C,
    log: ['violation incomplete_message', 'message 1 2'],
  },
  {
    name: 'new binary during a fragmented text, then its continuation',
    bytes: hex('01 01 61 | 02 01 62 | 80 01 63'),
    opts: S2C,
    log: ['violation incomplete_message', 'message 2 2'],
  },
  { name: 'fragmented ping (FIN clear)', bytes: hex('09 01 61'), opts: S2C, log: ['violation fragmented_control', 'control 9 61'] },
  {
    name: 'masked frame toward the client',
    bytes: hex('81 85 37 fa 21 3d 7f 9f 4d 51 58'),
    opts: S2C,
    log: ['violation mask_forbidden', 'message 1 5'],
  },
  { name: 'unmasked frame toward the backend', bytes: hex('81 05 48 65 6c 6c 6f'), opts: C2S, log: ['violation mask_required', 'message 1 5'] },
  {
    name: 'masked ping toward the client: the sink still gets the unmasked payload',
    bytes: frame({ opcode: 9, payload: hello, mask: true }),
    opts: S2C,
    log: ['violation mask_forbidden', 'control 9 48656c6c6f'],
  },
  { name: 'non-minimal 16-bit length', bytes: hex('81 7e 00 05 48 65 6c 6c 6f'), opts: S2C, log: ['violation non_minimal_length', 'message 1 5'] },
  {
    name: 'non-minimal 64-bit length',
    bytes: Buffer.concat([hex('82 7f 00 00 00 00 00 00 01 00'), big256]),
    opts: S2C,
    log: ['violation non_minimal_length', 'message 2 256'],
  },
  {
    name: 'non-minimal length on a ping (still ≤ 125: handed to the sink)',
    bytes: frame({ opcode: 9, payload: 'hi', lengthEncoding: 64 }),
    opts: S2C,
    log: ['violation non_minimal_length', 'control 9 6869'],
  },
  {
    name: '64-bit length with the most significant bit set',
    bytes: hex('82 7f 80 00 00 00 00 00 00 00 | 01 02 03'),
    opts: S2C,
    log: ['violation length_too_large'],
    stopped: true,
  },
  {
    name: '64-bit length of 2^53 (beyond exact)',
    bytes: hex('82 7f 00 20 00 00 00 00 00 00 | 01 02 03'),
    opts: S2C,
    log: ['violation length_too_large'],
    stopped: true,
  },
  {
    name: 'a mixed stream',
    bytes: Buffer.concat([
      hex('81 05 48 65 6c 6c 6f'),
      hex('89 00'),
      hex('02 7e 00 80'),
      filler(128),
      hex('8a 02 6f 6b'),
      hex('80 00'),
      hex('82 00'),
      hex('88 02 03 e8'),
    ]),
    opts: S2C,
    log: ['message 1 5', 'control 9 ', 'control 10 6f6b', 'message 2 128', 'message 2 0', 'control 8 03e8'],
  },
];

describe('frame tap on hex fixtures, every chunking', () => {
  for (const fx of fixtures) {
    it(fx.name, () => {
      const n = checkEveryChunking(fx.bytes, fx.opts, { log: fx.log, stopped: fx.stopped ?? false });
      expect(n).toBeGreaterThan(2);
    });
  }

  it('the frame builder writes the RFC examples byte for byte', () => {
    expect(frame({ opcode: 1, payload: 'Hello' })).toEqual(hex('81 05 48 65 6c 6c 6f'));
    expect(frame({ opcode: 1, payload: 'Hello', mask: RFC_MASK })).toEqual(hex('81 85 37 fa 21 3d 7f 9f 4d 51 58'));
    expect(frame({ opcode: 1, fin: false, payload: 'Hel' })).toEqual(hex('01 03 48 65 6c'));
    expect(frame({ opcode: 2, payload: big256 }).subarray(0, 4)).toEqual(hex('82 7e 01 00'));
    expect(frame({ opcode: 2, payload: big64k }).subarray(0, 10)).toEqual(hex('82 7f 00 00 00 00 00 01 00 00'));
    expect(frame({ opcode: 2, declaredLength: 2n ** 52n })).toEqual(hex('82 7f 00 10 00 00 00 00 00 00'));
    expect(frame({ opcode: 1, rsv: 7, payload: '' })).toEqual(hex('f1 00'));
    expect(maskBytes(maskBytes(hello, RFC_MASK), RFC_MASK)).toEqual(hello);
  });

  it('the chunking helpers cover what they claim', () => {
    const b = hex('00 01 02 03 04');
    expect(splitAtEveryOffset(b).map((cs) => cs.map((c) => c.toString('hex')))).toEqual([
      ['00', '01020304'],
      ['0001', '020304'],
      ['000102', '0304'],
      ['00010203', '04'],
    ]);
    expect(chop(b, [2, 0, 1]).map((c) => c.toString('hex'))).toEqual(['0001', '', '02', '0304']);
    expect(chop(b, [9]).map((c) => c.toString('hex'))).toEqual(['0001020304']);
  });
});

describe('frame tap state getters', () => {
  it('reports atBoundary / midFrame / inMessage as the bytes pass', () => {
    const tap = new Tap(S2C);
    const p = tap.parser;
    expect([p.atBoundary, p.midFrame, p.inMessage, p.stopped]).toEqual([true, false, false, false]);
    p.push(hex('01')); // half a header: held, still at a boundary
    expect([p.atBoundary, p.midFrame, p.inMessage]).toEqual([true, false, false]);
    expect(tap.outLength).toBe(0);
    p.push(hex('03 48')); // header complete, 1 of 3 payload bytes
    expect([p.atBoundary, p.midFrame, p.inMessage]).toEqual([false, true, true]);
    p.push(hex('65 6c')); // first fragment done
    expect([p.atBoundary, p.midFrame, p.inMessage]).toEqual([true, false, true]);
    p.push(hex('89 05 48 65')); // ping held whole
    expect([p.atBoundary, p.midFrame, p.inMessage]).toEqual([true, false, true]);
    expect(tap.outLength).toBe(5);
    p.push(hex('6c 6c 6f 80 02 6c 6f'));
    expect([p.atBoundary, p.midFrame, p.inMessage, p.stopped]).toEqual([true, false, false, false]);
    expect(tap.log).toEqual(['control 9 48656c6c6f', 'message 1 5']);
    p.push(hex('83 00'));
    expect([p.atBoundary, p.midFrame, p.inMessage, p.stopped]).toEqual([false, true, false, true]);
  });
});
