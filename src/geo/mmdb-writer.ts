// A MaxMind DB (.mmdb, format 2.0) writer for country data: networks → GeoIP2-Country records,
// readable by @maxmind/geoip2-node and by libmaxminddb (mmdblookup).
import { ConfigError } from '../errors';
import { parseNetwork } from './network';

export interface CountryNetwork {
  /** "a.b.c.d/len" or "v6::/len" */
  cidr: string;
  country: string;
  continent?: string;
}

/** A number stored as uint32 (libmaxminddb insists on it for node_count). Plain numbers are uint16. */
class Uint32 {
  constructor(readonly value: number) {}
}

type DataValue = string | number | bigint | Uint32 | DataValue[] | { [key: string]: DataValue };

const METADATA_MARKER = Buffer.from([0xab, 0xcd, 0xef, ...Buffer.from('MaxMind.com')]);
const RECORD_SIZE = 28;

// ---- data section encoding (type numbers from the MaxMind DB spec) ----

function control(type: number, size: number): Buffer {
  const extended = type > 7;
  const head = (extended ? 0 : type) << 5;
  let sizeBytes: number[];
  let low: number;
  if (size < 29) { low = size; sizeBytes = []; }
  else if (size < 29 + 256) { low = 29; sizeBytes = [size - 29]; }
  else if (size < 285 + 65536) { low = 30; const v = size - 285; sizeBytes = [v >> 8, v & 0xff]; }
  else { low = 31; const v = size - 65821; sizeBytes = [(v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff]; }
  return Buffer.from([head | low, ...(extended ? [type - 7] : []), ...sizeBytes]);
}

function encode(value: DataValue): Buffer {
  if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    return Buffer.concat([control(2, bytes.length), bytes]);
  }
  if (typeof value === 'bigint') { // uint64
    const bytes = Buffer.alloc(8);
    bytes.writeBigUInt64BE(value);
    const trimmed = bytes.subarray(bytes.findIndex((b) => b !== 0) < 0 ? 8 : bytes.findIndex((b) => b !== 0));
    return Buffer.concat([control(9, trimmed.length), trimmed]);
  }
  if (typeof value === 'number' || value instanceof Uint32) {
    const n = typeof value === 'number' ? value : value.value;
    const bytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
    return Buffer.concat([control(typeof value === 'number' ? 5 : 6, bytes.length), Buffer.from(bytes)]);
  }
  if (Array.isArray(value)) return Buffer.concat([control(11, value.length), ...value.map(encode)]);
  const entries = Object.entries(value);
  return Buffer.concat([control(7, entries.length), ...entries.flatMap(([k, v]) => [encode(k), encode(v)])]);
}

const CONTINENT_NAMES: Record<string, string> = {
  AF: 'Africa', AN: 'Antarctica', AS: 'Asia', EU: 'Europe', NA: 'North America', OC: 'Oceania', SA: 'South America',
};

function countryRecord(n: CountryNetwork): DataValue {
  const country = { iso_code: n.country, names: { en: n.country } };
  const record: Record<string, DataValue> = { country, registered_country: country };
  if (n.continent) record.continent = { code: n.continent, names: { en: CONTINENT_NAMES[n.continent] ?? n.continent } };
  return record;
}

// ---- the search tree ----

interface Node { children: [Node | number | undefined, Node | number | undefined] } // number = data index

/** The bits of a network in the IPv6 tree (IPv4 lives under ::/96, as in MaxMind's databases). */
function networkBits(cidr: string): number[] {
  const { bytes, len } = parseNetwork(cidr);
  const bits: number[] = [];
  for (let i = 0; i < len; i++) bits.push((bytes[i >> 3]! >> (7 - (i & 7))) & 1);
  return bits;
}

function insert(root: Node, bits: number[], data: number): void {
  let node = root;
  for (let i = 0; i < bits.length; i++) {
    const bit = bits[i]!;
    if (i === bits.length - 1) {
      node.children[bit] = data;
      return;
    }
    let next = node.children[bit];
    if (typeof next !== 'object') {
      // a more specific network inside a wider one: the wider one's data fills both halves below
      next = { children: [next, next] };
      node.children[bit] = next;
    }
    node = next;
  }
}

function writeRecord(buf: Buffer, offset: number, left: number, right: number): void {
  // 28-bit records: 3 bytes of left, a middle byte holding the high nibbles, 3 bytes of right
  buf[offset] = (left >> 16) & 0xff;
  buf[offset + 1] = (left >> 8) & 0xff;
  buf[offset + 2] = left & 0xff;
  buf[offset + 3] = (((left >> 24) & 0x0f) << 4) | ((right >> 24) & 0x0f);
  buf[offset + 4] = (right >> 16) & 0xff;
  buf[offset + 5] = (right >> 8) & 0xff;
  buf[offset + 6] = right & 0xff;
}

/** Builds a GeoIP2-Country-compatible database; where networks overlap, the most specific wins. */
export function buildCountryDatabase(networks: CountryNetwork[], description = 'pen-edge country map'): Buffer {
  const root: Node = { children: [undefined, undefined] };
  const records = networks.map((n) => encode(countryRecord(n)));
  const bits = networks.map((n) => networkBits(n.cidr));
  if (bits.some((b) => b.length === 0)) throw new ConfigError('a network that covers everything needs a prefix length');
  // wider networks first, so a more specific one inserted later cuts its part out of them
  [...bits.keys()].sort((a, b) => bits[a]!.length - bits[b]!.length).forEach((i) => insert(root, bits[i]!, i));
  const nodes: Node[] = [];
  const number = new Map<Node, number>();
  const queue: Node[] = [root];
  while (queue.length > 0) {
    const node = queue.shift()!;
    number.set(node, nodes.length);
    nodes.push(node);
    for (const child of node.children) if (typeof child === 'object') queue.push(child);
  }
  const offsets: number[] = [];
  let dataLength = 0;
  for (const r of records) { offsets.push(dataLength); dataLength += r.length; }
  const count = nodes.length;
  const value = (child: Node | number | undefined) =>
    child === undefined ? count : typeof child === 'number' ? count + 16 + offsets[child]! : number.get(child)!;
  const tree = Buffer.alloc(count * 7);
  nodes.forEach((node, i) => writeRecord(tree, i * 7, value(node.children[0]), value(node.children[1])));
  const metadata = encode({
    node_count: new Uint32(count),
    record_size: RECORD_SIZE,
    ip_version: 6,
    database_type: 'GeoIP2-Country',
    languages: ['en'],
    binary_format_major_version: 2,
    binary_format_minor_version: 0,
    build_epoch: BigInt(Math.floor(Date.now() / 1000)),
    description: { en: description },
  });
  return Buffer.concat([tree, Buffer.alloc(16), ...records, METADATA_MARKER, metadata]);
}

/** `cidr,country[,continent]` lines (# comments and blank lines allowed). */
export function parseCountryCsv(text: string, source: string): CountryNetwork[] {
  const out: CountryNetwork[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') return;
    const [cidr, country, continent] = line.split(',').map((f) => f.trim());
    if (!cidr || !country || !/^[A-Z]{2}$/.test(country) || (continent !== undefined && !/^[A-Z]{2}$/.test(continent))) {
      throw new ConfigError(`${source}:${i + 1}: expected cidr,COUNTRY[,CONTINENT], not '${line}'`);
    }
    try {
      networkBits(cidr);
    } catch (err) {
      throw new ConfigError(`${source}:${i + 1}: ${(err as Error).message}`);
    }
    out.push({ cidr, country, continent });
  });
  return out;
}
