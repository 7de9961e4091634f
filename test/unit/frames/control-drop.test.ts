/**
 * Cutting the proxy's own pongs out of the stream: a sink drops pongs whose (unmasked) payload is
 * its nonce; the output is the input without exactly those frames, for every chunking.
 *
 * Run: npx vitest run test/unit/frames
 */
import { describe, expect, it } from 'vitest';
import { checkEveryChunking, filler, frame, hex, randomChunks, runTap, seeds, withSeed } from '../../helpers/frames.js';

const NONCE = Buffer.from('wstap:0123456789ab');

/** Drop pongs carrying the nonce; keep everything else (pings with the nonce included). */
const dropOurPongs = (opcode: number, payload: Buffer): boolean => !(opcode === 0xa && payload.equals(NONCE));

interface Piece {
  bytes: Buffer;
  dropped: boolean;
}

function pieces(mask: boolean): Piece[] {
  const k = (s: string): Buffer | false => (mask ? hex(s) : false);
  const keep = (bytes: Buffer): Piece => ({ bytes, dropped: false });
  const drop = (bytes: Buffer): Piece => ({ bytes, dropped: true });
  return [
    drop(frame({ opcode: 0xa, payload: NONCE, mask: k('01 02 03 04') })), // first thing in the stream
    keep(frame({ opcode: 0x1, payload: 'hello', mask: k('11 22 33 44') })),
    keep(frame({ opcode: 0xa, payload: '', mask: k('55 66 77 88') })), // the application's empty pong
    keep(frame({ opcode: 0x9, payload: NONCE, mask: k('99 aa bb cc') })), // a ping, not a pong
    keep(frame({ opcode: 0xa, payload: NONCE.subarray(0, 17), mask: k('dd ee ff 00') })), // a prefix only
    keep(frame({ opcode: 0xa, payload: Buffer.concat([NONCE, hex('00')]), mask: k('01 01 01 01') })), // longer
    keep(frame({ opcode: 0x2, fin: false, payload: filler(300), mask: k('02 02 02 02') })),
    drop(frame({ opcode: 0xa, payload: NONCE, mask: k('de ad be ef') })), // between fragments
    drop(frame({ opcode: 0xa, payload: NONCE, mask: k('00 00 00 00') })), // twice in a row, zero key
    keep(frame({ opcode: 0x0, fin: true, payload: filler(10), mask: k('03 03 03 03') })),
    drop(frame({ opcode: 0xa, payload: NONCE, lengthEncoding: 16, mask: k('04 04 04 04') })), // non-minimal length: the payload is still ours
    keep(frame({ opcode: 0x8, payload: hex('03 e8'), mask: k('05 05 05 05') })),
    drop(frame({ opcode: 0xa, payload: NONCE, mask: k('06 06 06 06') })), // last thing in the stream
  ];
}

describe.each([
  ['backend → client (unmasked pongs)', false],
  ['client → backend (masked pongs, unmasked before comparing)', true],
] as const)('dropping the proxy pongs, %s', (_name, mask) => {
  const ps = pieces(mask);
  const input = Buffer.concat(ps.map((p) => p.bytes));
  const output = Buffer.concat(ps.filter((p) => !p.dropped).map((p) => p.bytes));
  const nonceHex = NONCE.toString('hex');

  const expectedLog = [
    `control 10 ${nonceHex}`,
    'message 1 5',
    'control 10 ',
    `control 9 ${nonceHex}`,
    `control 10 ${NONCE.subarray(0, 17).toString('hex')}`,
    `control 10 ${nonceHex}00`,
    `control 10 ${nonceHex}`,
    `control 10 ${nonceHex}`,
    'message 2 310',
    'violation non_minimal_length',
    `control 10 ${nonceHex}`,
    'control 8 03e8',
    `control 10 ${nonceHex}`,
  ];

  it('cuts out exactly the nonce pongs, for every chunking', () => {
    checkEveryChunking(input, { masked: mask }, { output, log: expectedLog }, { control: dropOurPongs });
    expect(output.length).toBe(input.length - ps.filter((p) => p.dropped).reduce((n, p) => n + p.bytes.length, 0));
  });

  it('keeps everything when the sink keeps everything', () => {
    checkEveryChunking(input, { masked: mask }, { log: expectedLog });
  });

  it('random chunkings (seeded)', () => {
    for (const seed of seeds(0xd20b, 100)) {
      withSeed(seed, (rng) => {
        const tap = runTap(randomChunks(rng, input), { masked: mask }, { control: dropOurPongs });
        expect(tap.output.equals(output)).toBe(true);
        expect(tap.log).toEqual(expectedLog);
      });
    }
  });
});

describe('dropping control frames, edges', () => {
  it('a dropped frame held across chunks leaves no trace, and the bytes around it flow', () => {
    const pong = frame({ opcode: 0xa, payload: NONCE });
    const input = Buffer.concat([hex('82 03 01 02 03'), pong, hex('81 01 61')]);
    const tap = runTap([input.subarray(0, 7), input.subarray(7, 12), input.subarray(12)], {}, { control: dropOurPongs });
    expect(tap.output).toEqual(hex('82 03 01 02 03 81 01 61'));
    expect(tap.cuts.every((c) => c === 5 || c === 8)).toBe(true);
  });

  it('any control frame may be dropped (a close, a ping), and only ≤125-byte ones are offered', () => {
    const input = Buffer.concat([hex('88 02 03 e8'), hex('89 00'), frame({ opcode: 9, payload: filler(126) }), hex('81 00')]);
    const tap = runTap([input], {}, { control: () => false });
    expect(tap.output).toEqual(Buffer.concat([frame({ opcode: 9, payload: filler(126) }), hex('81 00')]));
    expect(tap.log).toEqual(['control 8 03e8', 'control 9 ', 'violation control_too_long', 'message 1 0']);
  });

  it('the payload handed to control() is unmasked, and the forwarded bytes stay masked', () => {
    const key = hex('a1 b2 c3 d4');
    const input = frame({ opcode: 9, payload: 'masked!', mask: key });
    const seen: string[] = [];
    const tap = runTap([input], { masked: true }, { control: (_op, p) => (seen.push(p.toString()), true) });
    expect(seen).toEqual(['masked!']);
    expect(tap.output).toEqual(input);
  });
});
