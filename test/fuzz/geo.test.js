'use strict';
// Property-based tests of the geo tools: a CSV of networks → the .mmdb writer → read back by
// @maxmind/geoip2-node, by pen's own GeoDatabase and, where it is installed, by libmaxminddb's
// mmdblookup: every reader gives the country of the most specific network, as the CSV says.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { Reader } = require('@maxmind/geoip2-node');
const { buildCountryDatabase, parseCountryCsv } = require('../../dist/geo/mmdb-writer');
const { parseNetwork } = require('../../dist/geo/network');
const { GeoDatabase } = require('../../dist/geo/database');
const { ConfigError } = require('../../dist/errors');
const { fc, RUNS, fixtures, options, bounded, resultOrError, ipv4Bytes, ipv6Bytes, ipv4Text, ipv6Text, ipv6Style, samePrefix } = require('./fuzz');

const stored = fixtures('geo');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pen-fuzz-geo-'));
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

const code = fc.tuple(fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ'), fc.constantFrom(...'ABCDEUZ')).map(([a, b]) => a + b);
const continent = fc.option(fc.oneof(fc.constantFrom('AF', 'AN', 'AS', 'EU', 'NA', 'OC', 'SA'), code), { nil: undefined });

/** A network as 16 bytes and a prefix length in them (IPv4 at ::a.b.c.d, as in the databases). */
const v4Network = fc.tuple(ipv4Bytes, fc.integer({ min: 0, max: 32 }))
  .map(([bytes, len]) => ({ cidr: `${ipv4Text(bytes)}/${len}`, bytes: Uint8Array.from([...Array(12).fill(0), ...bytes]), len: len + 96 }));
const v6Network = fc.tuple(ipv6Bytes, fc.integer({ min: 1, max: 128 }), ipv6Style)
  .map(([bytes, len, style]) => ({ cidr: `${ipv6Text(bytes, style)}/${len}`, bytes, len }));
// low IPv6 networks (in ::/8) overlap the IPv4 ones, so that the two kinds meet in the tree
const lowV6Network = v6Network.map((n) => ({ ...n, bytes: Uint8Array.from([0, ...n.bytes.slice(1)]), cidr: `${ipv6Text(Uint8Array.from([0, ...n.bytes.slice(1)]), 'short')}/${n.len}` }));
const network = fc.tuple(fc.oneof(v4Network, v6Network, lowV6Network), code, continent).map(([n, country, cont]) => ({ ...n, country, continent: cont }));
const networks = fc.array(network, { minLength: 1, maxLength: 12 });

/** What a lookup must give: the most specific network holding the address (the later of equals). */
function expected(list, bytes) {
  let best;
  for (const n of list) if (samePrefix(n.bytes, bytes, n.len) && (!best || n.len >= best.len)) best = n;
  return best && { country: best.country, continent: best.continent };
}

/** Addresses to look up: inside each network (its first and a random one), and anywhere. */
const probes = fc.tuple(fc.array(fc.tuple(fc.nat(), ipv6Bytes), { maxLength: 6 }), fc.array(fc.oneof(ipv4Bytes, ipv6Bytes), { maxLength: 4 }));
function probeAddresses(list, [inside, anywhere]) {
  const near = inside.map(([i, noise]) => {
    const n = list[i % list.length];
    return n.bytes.map((b, k) => {
      const keep = Math.max(0, Math.min(8, n.len - 8 * k));
      const mask = (0xff00 >> keep) & 0xff;
      return (b & ~mask) | (noise[k] & mask);
    });
  });
  return [...list.map((n) => n.bytes), ...near, ...anywhere.map((b) => (b.length === 4 ? Uint8Array.from([...Array(12).fill(0), ...b]) : b))];
}
/** 16 bytes as the text a client address has (IPv4 for ::a.b.c.d). */
const addressText = (bytes) => (bytes.slice(0, 12).every((b) => b === 0) ? ipv4Text(bytes.slice(12)) : ipv6Text(bytes, 'short'));

/** CSV text for networks, with the comments, blank lines and spaces a person writes. */
const csvOf = (list, decorated) => list.map((n, i) =>
  (decorated && i % 2 ? `# network ${i}\n\n` : '') + [n.cidr, n.country, ...(n.continent ? [n.continent] : [])].join(decorated ? ' , ' : ',')).join('\n');

function geoip2(buffer) {
  const reader = Reader.openBuffer(buffer);
  return (ip) => {
    try {
      const r = reader.country(ip);
      return { country: r.country?.isoCode, continent: r.continent?.code };
    } catch (err) {
      if (err.name !== 'AddressNotFoundError') throw err;
      return undefined;
    }
  };
}

let file = 0;
/** The database's file, for the readers that open files. */
function saved(buffer) {
  const where = path.join(dir, `${file++}.mmdb`);
  fs.writeFileSync(where, buffer);
  return where;
}

const readTitle = 'networks from a CSV, written as .mmdb, read back the same through geoip2-node and GeoDatabase';
test(readTitle, () => {
  fc.assert(fc.property(networks, fc.boolean(), probes, bounded((list, decorated, probe) => {
    const parsed = parseCountryCsv(csvOf(list, decorated), 'regions.csv');
    assert.deepEqual(parsed, list.map(({ cidr, country, continent }) => ({ cidr, country, continent })));
    const buffer = buildCountryDatabase(parsed);
    const [lib, own] = [geoip2(buffer), GeoDatabase.open(saved(buffer))];
    for (const bytes of probeAddresses(list, probe)) {
      const ip = addressText(bytes);
      const want = expected(list, bytes);
      assert.deepEqual(lib(ip), want, ip);
      assert.deepEqual(own.find(ip), want, ip);
    }
  })), options(stored, readTitle));
});

const MMDBLOOKUP = (() => {
  try {
    execFileSync('mmdblookup', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** mmdblookup's answer for one key path: the string, or undefined (not found, or no such key). */
function mmdblookup(where, ip, ...keys) {
  try {
    const out = execFileSync('mmdblookup', ['--file', where, '--ip', ip, ...keys], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return /"(.*)" <utf8_string>/.exec(out)?.[1];
  } catch {
    return undefined;
  }
}

const mmdbTitle = 'the same database read by libmaxminddb (mmdblookup) gives the same answers';
test(mmdbTitle, { skip: MMDBLOOKUP ? false : 'mmdblookup is not installed (Debian: mmdb-bin)' }, () => {
  // a process per lookup: fewer runs
  fc.assert(fc.property(networks, probes, (list, probe) => {
    const where = saved(buildCountryDatabase(list));
    for (const bytes of probeAddresses(list, probe).slice(0, 6)) {
      const ip = addressText(bytes);
      const want = expected(list, bytes);
      assert.equal(mmdblookup(where, ip, 'country', 'iso_code'), want?.country, ip);
      assert.equal(mmdblookup(where, ip, 'continent', 'code'), want?.continent, ip);
    }
  }), options(stored, mmdbTitle, undefined, Math.min(200, Math.max(5, Math.ceil(RUNS / 10)))));
});

const csvTitle = 'any CSV text gives networks or a one-line ConfigError naming its line';
test(csvTitle, () => {
  const fieldText = fc.oneof(network.map((n) => n.cidr), code, fc.constantFrom('de', 'DEU', '', '#', '10.0.0.0/', '::/0', '1.2.3.4/33'), fc.string({ maxLength: 6 }));
  const csv = fc.array(fc.array(fieldText, { maxLength: 4 }).map((fields) => fields.join(',')), { maxLength: 6 }).map((ls) => ls.join('\n'));
  fc.assert(fc.property(csv, bounded((text) => {
    const { value, error } = resultOrError(() => parseCountryCsv(text, 'in.csv'));
    if (error) return assert.match(error.message, /^in\.csv:\d+: /);
    const built = resultOrError(() => buildCountryDatabase(value)); // only a network of everything is refused
    if (built.error) assert.match(built.error.message, /covers everything/);
  })), options(stored, csvTitle));
});

/** The networks the CSV and geo_map take: an address, then optionally / and a decimal length in range. */
function validNetwork(text) {
  const m = /^([^/]*)(?:\/(\d{1,3}))?$/.exec(text);
  const family = m ? require('node:net').isIP(m[1]) : 0;
  return family !== 0 && (m[2] === undefined || Number(m[2]) <= (family === 4 ? 32 : 128));
}

const networkTitle = 'a network text is taken exactly when it is ADDRESS[/LENGTH]';
test(networkTitle, () => {
  const text = fc.tuple(fc.oneof(ipv4Bytes.map(ipv4Text), ipv6Bytes.map((b) => ipv6Text(b, 'short')), fc.constantFrom('1.2.3', 'x')),
    fc.constantFrom('', '/', '/8', '/08', '/0x8', '/1e1', '/ 8', '/8 ', '/8/9', '/33', '/129', '/-0', '/1.5'))
    .map(([address, suffix]) => address + suffix);
  fc.assert(fc.property(text, bounded((cidr) => {
    const { error } = resultOrError(() => parseNetwork(cidr));
    assert.equal(error === undefined, validNetwork(cidr), `${cidr}: ${error ? 'refused' : 'taken'}`);
  })), options(stored, networkTitle));
});

test('a network of everything is refused by the writer with a one-line error', () => {
  assert.throws(() => buildCountryDatabase([{ cidr: '::/0', country: 'DE' }]), (err) => err instanceof ConfigError && !err.message.includes('\n'));
});
