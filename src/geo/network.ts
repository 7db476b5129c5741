// Addresses and networks as the geo code sees them: 16 bytes, with IPv4 at ::a.b.c.d as in
// MaxMind's databases (their IPv4 subtree is ::/96).
import { isIP, isIPv4 } from 'node:net';
import { ipv4ToNumber, ipv6ToBytes } from '../balancer/acl';
import { ConfigError } from '../errors';

/** An address as 16 bytes, and where its own prefix starts (96 for IPv4, 0 for IPv6). */
export function addressBytes(address: string): [Uint8Array, number] {
  if (!isIPv4(address)) return [ipv6ToBytes(address), 0];
  const n = ipv4ToNumber(address);
  const bytes = new Uint8Array(16);
  bytes.set([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255], 12);
  return [bytes, 96];
}

/** `address[/len]` (no length: the one address) → its 16 bytes and its prefix length in them. */
export function parseNetwork(cidr: string): { bytes: Uint8Array; len: number } {
  const [address = '', lenText, ...more] = cidr.split('/');
  if (!isIP(address) || more.length > 0 || (lenText !== undefined && !/^\d{1,3}$/.test(lenText))) throw new ConfigError(`bad network '${cidr}'`);
  const [bytes, offset] = addressBytes(address);
  const len = lenText === undefined ? 128 - offset : Number(lenText);
  if (!Number.isInteger(len) || len < 0 || len + offset > 128) throw new ConfigError(`bad network '${cidr}'`);
  return { bytes, len: len + offset };
}
