// Client addresses as four 32-bit words (IPv6 order, IPv4 as ::ffff:a.b.c.d), the key of the
// shared client table. Parsing writes into the caller's array: nothing is allocated per connection.
import { compressIpv6 } from './acl';

const V4_MAPPED = 0xffff;

/** Dotted IPv4 text → its 32-bit value, or -1 when the text is not one. */
function parseIpv4(text: string, from: number): number {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || ++dots > 3) return -1;
      value = value * 256 + part;
      part = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57 && digits < 3) {
      part = part * 10 + (c - 48);
      digits++;
      if (part > 255) return -1;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + part;
}

/** Writes the key of address into out[at..at+4); text that is not an address gets the key of 0.0.0.0. */
export function writeKey(address: string, out: Int32Array, at: number): void {
  const v4 = parseIpv4(address, 0);
  out[at] = 0;
  out[at + 1] = 0;
  out[at + 2] = V4_MAPPED;
  out[at + 3] = v4 < 0 ? 0 : v4 | 0;
  if (v4 < 0 && address.includes(':')) writeIpv6(address, out, at);
}

/** IPv6 text (with :: and an optional dotted tail) into four words; 16-bit groups high first. */
function writeIpv6(text: string, out: Int32Array, at: number): void {
  const groups = [0, 0, 0, 0, 0, 0, 0, 0];
  const gap = text.indexOf('::');
  const head = gap < 0 ? text : text.slice(0, gap);
  const tail = gap < 0 ? '' : text.slice(gap + 2);
  const tailGroups = splitGroups(tail);
  const headGroups = splitGroups(head);
  headGroups.forEach((g, i) => (groups[i] = g));
  tailGroups.forEach((g, i) => (groups[8 - tailGroups.length + i] = g));
  for (let i = 0; i < 4; i++) out[at + i] = ((groups[2 * i]! << 16) | groups[2 * i + 1]!) | 0;
}

function splitGroups(text: string): number[] {
  if (text === '') return [];
  const groups: number[] = [];
  for (const part of text.split(':')) {
    const v4 = part.includes('.') ? parseIpv4(part, 0) : -1;
    if (v4 >= 0) groups.push(v4 >>> 16, v4 & 0xffff);
    else groups.push(parseInt(part, 16) & 0xffff);
  }
  return groups;
}

/** The text of the key at words[at..at+4): dotted for IPv4, compressed IPv6 otherwise. */
export function keyText(words: Int32Array, at: number): string {
  if (words[at] === 0 && words[at + 1] === 0 && words[at + 2] === V4_MAPPED) {
    const n = words[at + 3]! >>> 0;
    return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
  }
  const groups: string[] = [];
  for (let i = 0; i < 4; i++) {
    const w = words[at + i]! >>> 0;
    groups.push((w >>> 16).toString(16), (w & 0xffff).toString(16));
  }
  return compressIpv6(groups);
}
