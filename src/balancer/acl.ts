// pen's access control lists 0–9: first matching entry decides; no match gets the
// opposite of the last entry's verdict; an empty list permits everyone.
import { isIPv4, isIPv6 } from 'node:net';
import { ConfigError } from '../errors';

export const ACLS_MAX = 10;

type Entry =
  | { permit: boolean; kind: 'ipv4'; ip: number; mask: number }
  | { permit: boolean; kind: 'ipv6'; ip: Uint8Array; len: number }
  | { permit: boolean; kind: 'country' | 'continent'; code: string };

/** Country and continent of an address, when a geo database knows them. */
export type GeoLookup = (address: string) => { country?: string; continent?: string } | undefined;

export function ipv4ToNumber(address: string): number {
  const p = address.split('.');
  return ((Number(p[0]) << 24) | (Number(p[1]) << 16) | (Number(p[2]) << 8) | Number(p[3])) >>> 0;
}

export function ipv6ToBytes(address: string): Uint8Array {
  const bytes = new Uint8Array(16);
  let text = address;
  const v4tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4tail) {
    const n = ipv4ToNumber(v4tail[1]!);
    text = text.slice(0, -v4tail[1]!.length) + `${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    bytes[2 * i] = v >> 8;
    bytes[2 * i + 1] = v & 0xff;
  });
  return bytes;
}

function prefixMatches(a: Uint8Array, b: Uint8Array, len: number): boolean {
  const whole = len >> 3;
  for (let i = 0; i < whole; i++) if (a[i] !== b[i]) return false;
  const bits = len & 7;
  if (bits === 0) return true;
  const mask = (0xff << (8 - bits)) & 0xff;
  return (a[whole]! & mask) === (b[whole]! & mask);
}

function entryText(e: Entry): string {
  switch (e.kind) {
    case 'ipv4': {
      const dotted = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
      return `${dotted(e.ip)} ${dotted(e.mask)}`;
    }
    case 'ipv6': {
      const groups: string[] = [];
      for (let i = 0; i < 16; i += 2) groups.push(((e.ip[i]! << 8) | e.ip[i + 1]!).toString(16));
      return `${compressIpv6(groups)}/${e.len}`;
    }
    default:
      return `${e.kind} ${e.code}`;
  }
}

/** Eight hex groups → the shortest text form (the longest run of zero groups as ::). */
export function compressIpv6(groups: string[]): string {
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; i++) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

export class AclLists {
  private readonly lists: Entry[][] = Array.from({ length: ACLS_MAX }, () => []);
  geo: GeoLookup | undefined;

  static checkNumber(n: number): void {
    if (!Number.isInteger(n) || n < 0 || n >= ACLS_MAX) throw new ConfigError(`acl number ${n} out of range 0-${ACLS_MAX - 1}`);
  }

  /** `permit|deny ADDR [MASK]`, `ADDR6[/LEN]`, `country CC`, `continent XX` (words after the list number). */
  add(n: number, verdict: string, words: string[]): void {
    AclLists.checkNumber(n);
    if (verdict !== 'permit' && verdict !== 'deny') throw new ConfigError(`acl: expected permit|deny, not '${verdict}'`);
    const permit = verdict === 'permit';
    const [what, arg] = words;
    if (what === undefined) throw new ConfigError('acl: missing address');
    let entry: Entry;
    if (what === 'country' || what === 'continent') {
      if (!arg || !/^[A-Za-z]{2}$/.test(arg)) throw new ConfigError(`acl: expected a two-letter ${what} code`);
      entry = { permit, kind: what, code: arg.toUpperCase() };
    } else if (what.includes(':')) {
      const [ip, lenText = '128'] = what.split('/');
      const len = Number(lenText);
      if (!isIPv6(ip!)) throw new ConfigError(`acl: '${ip}' is not an ipv6 address`);
      if (!/^\d+$/.test(lenText) || len > 128) throw new ConfigError(`acl: bad prefix length '${lenText}'`);
      entry = { permit, kind: 'ipv6', ip: ipv6ToBytes(ip!), len };
    } else {
      const maskText = arg ?? '255.255.255.255';
      if (!isIPv4(what)) throw new ConfigError(`acl: bogus address '${what}'`);
      if (!isIPv4(maskText)) throw new ConfigError(`acl: bogus mask '${maskText}'`);
      const mask = ipv4ToNumber(maskText);
      entry = { permit, kind: 'ipv4', ip: (ipv4ToNumber(what) & mask) >>> 0, mask };
    }
    this.lists[n]!.push(entry);
  }

  /** Every list as plain data, to hand to another thread. */
  entries(): unknown[][] {
    return this.lists;
  }

  /** Takes over lists made by entries() in another thread. */
  replaceAll(lists: unknown[][]): void {
    lists.forEach((list, n) => (this.lists[n] = list as Entry[]));
  }

  clear(n: number): void {
    AclLists.checkNumber(n);
    this.lists[n] = [];
  }

  isEmpty(n: number): boolean {
    return this.lists[n]!.length === 0;
  }

  /** Does list n let this client address through? */
  permits(n: number, address: string): boolean {
    const list = this.lists[n];
    if (!list || list.length === 0) return true;
    const v4 = isIPv4(address) ? ipv4ToNumber(address) : -1;
    const v6 = v4 < 0 && isIPv6(address) ? ipv6ToBytes(address) : undefined;
    let geo: ReturnType<GeoLookup> | null = null;
    let permit = false;
    for (const e of list) {
      permit = e.permit;
      if (e.kind === 'ipv4') {
        if (v4 >= 0 && ((v4 & e.mask) >>> 0) === e.ip) return permit;
      } else if (e.kind === 'ipv6') {
        if (v6 && prefixMatches(v6, e.ip, e.len)) return permit;
      } else {
        if (geo === null) geo = this.geo?.(address);
        if (geo?.[e.kind] === e.code) return permit;
      }
    }
    return !permit;
  }

  /** The commands that rebuild every list, for `write`. */
  commands(): string[] {
    const out: string[] = [];
    this.lists.forEach((list, n) => {
      out.push(`no acl ${n}`);
      for (const e of list) out.push(`acl ${n} ${e.permit ? 'permit' : 'deny'} ${entryText(e)}`);
    });
    return out;
  }
}
