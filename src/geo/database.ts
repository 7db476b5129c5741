// Country lookups: static `geo_map` entries first, then a MaxMind database (GeoIP2/GeoLite2
// Country or City through @maxmind/geoip2-node, any other .mmdb with a country code in its
// records through the same library's underlying reader).
import { readFileSync } from 'node:fs';
import type * as GeoIp2 from '@maxmind/geoip2-node';
import type * as Mmdb from 'maxmind';
import { ConfigError, messageOf } from '../errors';
import { addressBytes, parseNetwork } from './network';

export interface Place {
  country?: string;
  continent?: string;
}

interface MapEntry extends Place {
  text: string;
  bytes: Uint8Array;
  len: number;
}

function matches(a: Uint8Array, b: Uint8Array, len: number): boolean {
  for (let bit = 0; bit < len; bit++) {
    const m = 0x80 >> (bit & 7);
    if ((a[bit >> 3]! & m) !== (b[bit >> 3]! & m)) return false;
  }
  return true;
}

type Lookup = (address: string) => Place | undefined;

export class GeoDatabase {
  private constructor(readonly path: string, readonly type: string, readonly buildEpoch: Date, readonly nodeCount: number, private readonly lookup: Lookup) {}

  /** Opens and checks a database; throws a ConfigError naming the file. */
  static open(path: string): GeoDatabase {
    let buffer: Buffer;
    try {
      buffer = readFileSync(path);
    } catch (err) {
      throw new ConfigError(`geo_db ${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? err})`);
    }
    // loaded by the first database: a balancer without geo_db does not pay for them at start
    const { Reader: MmdbReader } = require('maxmind') as typeof Mmdb;
    let raw: Mmdb.Reader<Record<string, unknown>>;
    try {
      raw = new MmdbReader(buffer);
    } catch (err) {
      throw new ConfigError(`geo_db ${path}: not a MaxMind database (${(err as Error).message})`);
    }
    const { databaseType, buildEpoch, nodeCount, recordSize } = raw.metadata;
    if ((nodeCount * recordSize) / 4 + 16 > buffer.length) {
      throw new ConfigError(`geo_db ${path}: corrupt database (its search tree is larger than the file)`);
    }
    if (/ASN|ISP|Anonymous|Connection-Type|Domain|User-Count/.test(databaseType)) {
      throw new ConfigError(`geo_db ${path}: a ${databaseType} database has no country data`);
    }
    let lookup: Lookup;
    if (/Country|City/.test(databaseType)) {
      const reader = (require('@maxmind/geoip2-node') as typeof GeoIp2).Reader.openBuffer(buffer);
      const byType = /City/.test(databaseType) ? (ip: string) => reader.city(ip) : (ip: string) => reader.country(ip);
      lookup = (ip) => {
        try {
          const r = byType(ip);
          return { country: r.country?.isoCode ?? r.registeredCountry?.isoCode, continent: r.continent?.code };
        } catch {
          return undefined; // not in the database
        }
      };
    } else {
      lookup = (ip) => {
        const r = raw.get(ip) as Record<string, { iso_code?: string; code?: string } | string | undefined> | null;
        if (!r) return undefined;
        const country = typeof r.country === 'object' ? r.country.iso_code : (r.country_code as string | undefined);
        const continent = typeof r.continent === 'object' ? r.continent.code : (r.continent_code as string | undefined);
        return country || continent ? { country, continent } : undefined;
      };
    }
    return new GeoDatabase(path, databaseType, buildEpoch, nodeCount, lookup);
  }

  find(address: string): Place | undefined {
    return this.lookup(address);
  }
}

/** `geo_map` entries and the database behind them. */
export class Geo {
  private readonly map: MapEntry[] = [];
  database: GeoDatabase | undefined;

  /** is there anything to look up in? */
  get active(): boolean {
    return this.map.length > 0 || this.database !== undefined;
  }

  /** the geo_map entries, for `write` */
  mappings(): string[] {
    return this.map.map((e) => `geo_map ${e.text} ${e.country}${e.continent ? ` ${e.continent}` : ''}`);
  }

  addMapping(cidr: string, country: string, continent?: string): void {
    let network: { bytes: Uint8Array; len: number };
    try {
      network = parseNetwork(cidr);
    } catch (err) {
      throw new ConfigError(`geo_map: ${messageOf(err)}`);
    }
    if (!/^[A-Z]{2}$/i.test(country) || (continent !== undefined && !/^[A-Z]{2}$/i.test(continent))) {
      throw new ConfigError('geo_map: expected CIDR COUNTRY [CONTINENT] with two-letter codes');
    }
    this.map.push({ text: cidr, ...network, country: country.toUpperCase(), continent: continent?.toUpperCase() });
  }

  /** The geo_map entries as plain data, to hand to another thread. */
  mapEntries(): unknown[] {
    return this.map;
  }

  replaceMappings(entries: unknown[]): void {
    this.map.splice(0, this.map.length, ...(entries as MapEntry[]));
  }

  clearMappings(): void {
    this.map.length = 0;
  }

  /** The most specific geo_map entry wins; then the database. */
  find = (address: string): Place | undefined => {
    if (this.map.length > 0) {
      const [bytes] = addressBytes(address);
      let best: MapEntry | undefined;
      for (const e of this.map) if ((!best || e.len > best.len) && matches(bytes, e.bytes, e.len)) best = e;
      if (best) return best;
    }
    return this.database?.find(address);
  };
}
