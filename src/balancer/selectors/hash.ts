import { isIPv4 } from 'node:net';
import { ipv4ToNumber, ipv6ToBytes } from '../acl';
import type { Choice, Selector } from './selector';

const swap32 = (n: number) => (((n & 0xff) << 24) | ((n & 0xff00) << 8) | ((n >>> 8) & 0xff00) | (n >>> 24)) >>> 0;
const swap16 = (n: number) => ((n & 0xff) << 8) | (n >> 8);

/**
 * pen's address hash: the IPv4 address as it lies in memory on a little-endian machine
 * (optionally XORed with the port, likewise), or the last byte of an IPv6 address,
 * modulo the number of servers. Kept bit-for-bit so clients land where pen sends them.
 */
export class Hash implements Selector {
  constructor(private readonly withPort: () => boolean) {}

  pick({ table, address, port }: Choice): number {
    const n = table.size || 1;
    if (isIPv4(address)) {
      let key = swap32(ipv4ToNumber(address));
      if (this.withPort()) key = (key ^ swap16(port)) >>> 0;
      return key % n;
    }
    return ipv6ToBytes(address)[15]! % n;
  }
}
