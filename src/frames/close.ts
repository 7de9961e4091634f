/**
 * Close frames: decoding the code of a passing one and building the proxy's own.
 */
import { randomFillSync } from 'node:crypto';
import { Opcode } from './constants.js';

/** "If there is no such data in the Close control frame, _The WebSocket Connection Close Code_ is considered to be 1005" (§7.1.5). */
export const NO_STATUS = 1005;
/** "If _The WebSocket Connection is Closed_ and no Close control frame was received … considered to be 1006" (§7.1.5). */
export const ABNORMAL = 1006;

/**
 * The code carried by an (unmasked) close payload: 1005 when it is empty, and also when it is
 * a single byte (invalid, reported separately as a violation).
 */
export function closeCodeOf(payload: Buffer): number {
  return payload.length >= 2 ? payload.readUInt16BE(0) : NO_STATUS;
}

/**
 * Build a control frame. Toward a server it must be masked with a fresh key from a strong
 * source of entropy (§5.3); toward a client it must not be (§5.1). RSV bits stay clear:
 * control frames are never compressed (RFC 7692 §6.1).
 */
export function controlFrame(opcode: number, payload: Buffer, mask: boolean): Buffer {
  const len = payload.length;
  const frame = Buffer.allocUnsafe(2 + (mask ? 4 : 0) + len);
  frame[0] = 0x80 | opcode;
  frame[1] = (mask ? 0x80 : 0) | len;
  if (!mask) {
    payload.copy(frame, 2);
    return frame;
  }
  randomFillSync(frame, 2, 4);
  for (let i = 0; i < len; i++) frame[6 + i] = payload[i]! ^ frame[2 + (i & 3)]!;
  return frame;
}

/** A close frame with a code and a short reason (truncated to the 123 bytes §5.5 allows). */
export function closeFrame(code: number, reason: string, mask: boolean): Buffer {
  const text = Buffer.from(reason, 'utf8').subarray(0, 123);
  const payload = Buffer.allocUnsafe(2 + text.length);
  payload.writeUInt16BE(code, 0);
  text.copy(payload, 2);
  return controlFrame(Opcode.Close, payload, mask);
}
