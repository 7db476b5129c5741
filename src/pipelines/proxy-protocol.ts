// The PROXY protocol (HAProxy's spec, versions 1 and 2): reading the real client address from a
// trusted peer's header, and writing one for a backend that wants it.
import { isIPv4, isIPv6 } from 'node:net';
import { compressIpv6, ipv4ToNumber, ipv6ToBytes } from '../balancer/acl';

export interface ProxiedAddress {
  /** the client's address and port as the proxy saw them; undefined for LOCAL/UNKNOWN */
  address?: string;
  port?: number;
  /** header bytes to drop from the stream */
  length: number;
}

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_MAX = 107;

export class ProxyHeaderError extends Error {}

/** Parses a header at the start of bytes; undefined while more bytes are needed. */
export function parseProxyHeader(bytes: Buffer): ProxiedAddress | undefined {
  if (bytes.length >= 1 && bytes[0] === 0x0d) return parseV2(bytes);
  const prefix = 'PROXY ';
  const have = bytes.subarray(0, prefix.length).toString('latin1');
  if (!prefix.startsWith(have)) throw new ProxyHeaderError('no PROXY protocol header');
  // the spec's limit is on the whole line, CR LF included: the answer must not depend on how it arrived
  const end = bytes.subarray(0, V1_MAX).indexOf('\r\n');
  if (end < 0) {
    if (bytes.length >= V1_MAX) throw new ProxyHeaderError('PROXY v1 header too long');
    return undefined;
  }
  const [, family, src, dst, srcPort, dstPort, ...more] = bytes.toString('latin1', 0, end).split(' ');
  if (family === 'UNKNOWN') return { length: end + 2 };
  const isFamily = family === 'TCP4' ? isIPv4 : family === 'TCP6' ? isIPv6 : undefined;
  const ok = isFamily !== undefined && isFamily(src ?? '') && isFamily(dst ?? '') && more.length === 0;
  if (!ok || !isPort(srcPort) || !isPort(dstPort)) throw new ProxyHeaderError('malformed PROXY v1 header');
  return { address: src, port: Number(srcPort), length: end + 2 };
}

/** A port as the spec writes it: decimal, no leading zero, 0 to 65535. */
const isPort = (text: string | undefined) => text !== undefined && /^(0|[1-9]\d{0,4})$/.test(text) && Number(text) <= 65535;

function parseV2(bytes: Buffer): ProxiedAddress | undefined {
  if (bytes.length < 16) {
    if (!V2_SIGNATURE.subarray(0, bytes.length).equals(bytes.subarray(0, V2_SIGNATURE.length))) throw new ProxyHeaderError('no PROXY protocol header');
    return undefined;
  }
  if (!bytes.subarray(0, 12).equals(V2_SIGNATURE) || bytes[12]! >> 4 !== 2) throw new ProxyHeaderError('malformed PROXY v2 header');
  const length = 16 + bytes.readUInt16BE(14);
  if (bytes.length < length) return undefined;
  const command = bytes[12]! & 0x0f;
  const family = bytes[13]! >> 4;
  if (command > 1) throw new ProxyHeaderError('malformed PROXY v2 header (unknown command)');
  if (command === 0) return { length }; // LOCAL: the proxy's own connection (health check)
  if (family === 1 && length >= 16 + 12) {
    return { address: [...bytes.subarray(16, 20)].join('.'), port: bytes.readUInt16BE(24), length };
  }
  if (family === 2 && length >= 16 + 36) {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(16 + i).toString(16));
    return { address: compressIpv6(groups), port: bytes.readUInt16BE(48), length };
  }
  return { length }; // unix sockets and unknown families: keep the peer address
}

/** A header announcing a connection from src to dst, in version 1 (text) or 2 (binary). */
export function proxyHeader(version: 1 | 2, src: string, srcPort: number, dst: string, dstPort: number): Buffer {
  const v4 = isIPv4(src) && isIPv4(dst);
  const v6 = isIPv6(src) && isIPv6(dst);
  if (version === 1) {
    if (!v4 && !v6) return Buffer.from('PROXY UNKNOWN\r\n');
    return Buffer.from(`PROXY ${v4 ? 'TCP4' : 'TCP6'} ${src} ${dst} ${srcPort} ${dstPort}\r\n`);
  }
  const addresses = v4 ? Buffer.alloc(12) : v6 ? Buffer.alloc(36) : Buffer.alloc(0);
  if (v4) {
    addresses.writeUInt32BE(ipv4ToNumber(src), 0);
    addresses.writeUInt32BE(ipv4ToNumber(dst), 4);
    addresses.writeUInt16BE(srcPort, 8);
    addresses.writeUInt16BE(dstPort, 10);
  } else if (v6) {
    addresses.set(ipv6ToBytes(src), 0);
    addresses.set(ipv6ToBytes(dst), 16);
    addresses.writeUInt16BE(srcPort, 32);
    addresses.writeUInt16BE(dstPort, 34);
  }
  const head = Buffer.from([...V2_SIGNATURE, 0x21, v4 ? 0x11 : v6 ? 0x21 : 0x00, 0, 0]);
  head.writeUInt16BE(addresses.length, 14);
  return Buffer.concat([head, addresses]);
}
