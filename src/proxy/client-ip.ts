/**
 * The real client address: the TCP peer, or — only when the peer is a trusted proxy — the
 * right-most untrusted address of its X-Forwarded-For (nginx `real_ip_recursive on`).
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';

export class TrustedProxies {
  readonly #list = new BlockList();
  readonly #empty: boolean;

  constructor(cidrs: readonly string[]) {
    this.#empty = cidrs.length === 0;
    for (const c of cidrs) {
      const [addr, bits] = c.split('/') as [string, string | undefined];
      const type = isIPv6(addr) ? 'ipv6' : 'ipv4';
      if (bits === undefined) this.#list.addAddress(addr, type);
      else this.#list.addSubnet(addr, Number(bits), type);
    }
  }

  trusts(ip: string): boolean {
    if (this.#empty) return false;
    const plain = unmapV4(ip);
    const type = isIPv4(plain) ? 'ipv4' : isIPv6(plain) ? 'ipv6' : undefined;
    return type !== undefined && this.#list.check(plain, type);
  }

  /** The client address to believe, given the TCP peer and the incoming X-Forwarded-For. */
  resolve(peer: string, xff: string | undefined): string {
    const peerIp = unmapV4(peer);
    if (xff === undefined || !this.trusts(peerIp)) return peerIp;
    const hops = xff.split(',').map((s) => s.trim()).filter(Boolean);
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = unmapV4(hops[i]!);
      if (!this.trusts(hop)) return hop;
    }
    return hops[0] !== undefined ? unmapV4(hops[0]) : peerIp;
  }
}

/** `::ffff:1.2.3.4` → `1.2.3.4`. */
export function unmapV4(ip: string): string {
  return ip.startsWith('::ffff:') && isIPv4(ip.slice(7)) ? ip.slice(7) : ip;
}
