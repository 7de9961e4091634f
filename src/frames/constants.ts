/** RFC 6455 §5.2 opcodes. */
export const Opcode = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const;

/** "All control frames MUST have a payload length of 125 bytes or less" (RFC 6455 §5.5). */
export const MAX_CONTROL_PAYLOAD = 125;

/** The largest frame header: 2 + 8 (64-bit length) + 4 (mask key). */
export const MAX_HEADER_BYTES = 14;

/**
 * Protocol violations the passive parser reports (the `error.type` of
 * `wstap.protocol.violations`). Stable, low-cardinality values.
 */
export type Violation =
  | 'reserved_opcode'
  | 'reserved_bits'
  | 'fragmented_control'
  | 'control_too_long'
  | 'bad_close_payload'
  | 'invalid_close_code'
  | 'unexpected_continuation'
  | 'incomplete_message'
  | 'mask_required'
  | 'mask_forbidden'
  | 'length_too_large'
  | 'non_minimal_length';

/**
 * Whether a close code may appear on the wire (RFC 6455 §7.4): 1000–1014 except 1004, 1005
 * and 1006 ("MUST NOT be set as a status code in a Close control frame by an endpoint"), and
 * 3000–4999. 1015 is reserved too.
 */
export function isValidCloseCode(code: number): boolean {
  return (
    (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) ||
    (code >= 3000 && code <= 4999)
  );
}
