'use strict';
// Property-based tests of addresses: server specs (host:port:maxc:hard:weight:prio), listen
// addresses, and ACL entries (IPv4 address and mask, IPv6 prefix) with the clients they permit.
const test = require('node:test');
const assert = require('node:assert/strict');
const childProcess = require('node:child_process');
const { parseServerSpec, parseListenAddress } = require('../../dist/config/address');
const { AclLists } = require('../../dist/balancer/acl');
const {
  fc, fixtures, options, bounded, resultOrError, byte, ipv4Bytes, ipv6Bytes, ipv4Text, ipv6Text, ipv6Style, ipv6Bytes16, samePrefix,
} = require('./fuzz');

// Host names are looked up with getent: the generators make none, and this makes sure of it.
childProcess.execFileSync = (file, args) => {
  throw new Error(`the test tried to run ${file} ${args.join(' ')}`);
};

const stored = fixtures('addresses');
const ipv4 = ipv4Bytes.map(ipv4Text);
const ipv6 = fc.tuple(ipv6Bytes, ipv6Style).map(([bytes, style]) => ipv6Text(bytes, style));
/** Text that is no host name (it has a byte a name cannot have), so it fails before any lookup. */
const notAName = fc.string({ maxLength: 6 }).map((s) => `_${s.replace(/[:/[\]]/g, '')}`);
const port = fc.oneof(fc.integer({ min: 0, max: 70000 }).map(String), fc.constantFrom('', 'http', 'https', 'smtp', 'nope', '0x50', '-1', '1e3'));
const field = fc.oneof(fc.nat({ max: 100000 }).map(String), fc.string({ maxLength: 4 }).map((s) => s.replace(/[:/]/g, '')));

// ---- server specs ----

const specTitle = 'any server spec gives a server or a one-line ConfigError';
test(specTitle, () => {
  const host = fc.oneof(ipv4, ipv6.map((a) => `[${a}]`), ipv6, notAName, fc.constantFrom('', '[', '[::1', '[]', '[::1]x'));
  const spec = fc.oneof(
    fc.tuple(host, fc.array(fc.oneof(port, field), { maxLength: 7 })).map(([h, fields]) => [h, ...fields].join(':')),
    fc.tuple(notAName, fc.string()).map(([a, b]) => a + b), // any text after a byte no name has
    fc.string().map((s) => `/${s}`),
  );
  fc.assert(fc.property(spec, bounded((text) => { resultOrError(() => parseServerSpec(text, 80)); })), options(stored, specTitle));
});

const specValidTitle = 'a well-formed server spec gives its own fields back';
test(specValidTitle, () => {
  const limits = fc.array(fc.nat({ max: 1e6 }), { maxLength: 4 });
  const spec = fc.tuple(fc.oneof(ipv4.map((h) => [h, h, 4]), ipv6.map((h) => [`[${h}]`, h, 6])), fc.option(fc.integer({ min: 1, max: 65535 })), limits);
  fc.assert(fc.property(spec, bounded(([[written, host, family], p, numbers]) => {
    const fields = p === null && numbers.length === 0 ? [] : [p ?? '', ...numbers];
    const got = parseServerSpec([written, ...fields].join(':'), 80);
    const [maxc = 0, hard = 0, weight = 0, prio = 0] = numbers;
    assert.deepEqual(got, { host, family, port: p ?? 80, maxc, hard, weight, prio });
  })), options(stored, specValidTitle));
});

// ---- listen addresses ----

const listenTitle = 'any listen address gives an endpoint or a one-line ConfigError; a good one gives its host and port';
test(listenTitle, () => {
  const address = fc.oneof(
    fc.tuple(fc.option(fc.oneof(ipv4, ipv6.map((a) => `[${a}]`), notAName, fc.constant('['))), port)
      .map(([host, p]) => (host === null ? p : `${host}:${p}`)),
    fc.tuple(notAName, fc.string()).map(([a, b]) => `${a}:${b}`),
  );
  fc.assert(fc.property(address, bounded((text) => {
    const { value } = resultOrError(() => parseListenAddress(text, 'listen'));
    if (!value || value.family === 0) return;
    const m = /^(?:\[(.*)\]:|(.*):)?(\d+)$/.exec(text);
    if (!m) return; // a service name
    assert.deepEqual(value, { host: m[1] ?? m[2] ?? '0.0.0.0', port: Number(m[3]), family: m[1] !== undefined ? 6 : 4 });
  })), options(stored, listenTitle));
});

// ---- ACLs ----

/** A list n with one entry added from words, or the one-line error it gave. */
function oneEntry(verdict, words) {
  const acls = new AclLists();
  return { acls, ...resultOrError(() => acls.add(3, verdict, words)) };
}

const aclAnyTitle = 'any acl entry is added or refused with a one-line ConfigError, and a refused one adds nothing';
test(aclAnyTitle, () => {
  const word = fc.oneof(ipv4, ipv6, fc.tuple(ipv6, fc.integer({ min: -1, max: 130 })).map(([a, l]) => `${a}/${l}`),
    fc.constantFrom('country', 'continent', 'de', 'EU', '255.255.0.0', '1.2.3', '::1/', '::1/1e2', '::1/0x10'), fc.string({ maxLength: 10 }));
  const input = fc.tuple(fc.integer({ min: -1, max: 11 }), fc.constantFrom('permit', 'deny', 'allow'), fc.array(word, { maxLength: 3 }));
  fc.assert(fc.property(input, bounded(([n, verdict, words]) => {
    const acls = new AclLists();
    const before = acls.commands();
    const { error } = resultOrError(() => acls.add(n, verdict, words));
    if (error) assert.deepEqual(acls.commands(), before);
    else assert.equal(typeof acls.permits(n, '127.0.0.1'), 'boolean');
  })), options(stored, aclAnyTitle));
});

const ipv4AclTitle = 'an IPv4 entry with any mask permits exactly the addresses that match under the mask';
test(ipv4AclTitle, () => {
  const input = fc.tuple(fc.boolean(), ipv4Bytes, ipv4Bytes, ipv4Bytes);
  fc.assert(fc.property(input, bounded(([permit, entry, mask, client]) => {
    const { acls } = oneEntry(permit ? 'permit' : 'deny', [ipv4Text(entry), ipv4Text(mask)]);
    const matches = entry.every((b, i) => (b & mask[i]) === (client[i] & mask[i]));
    assert.equal(acls.permits(3, ipv4Text(client)), matches === permit);
    assert.equal(acls.permits(3, ipv4Text(entry)), permit);
  })), options(stored, ipv4AclTitle));
});

const ipv6AclTitle = 'an IPv6 entry permits exactly the addresses in its prefix, however either is written';
test(ipv6AclTitle, () => {
  // the client shares a random number of leading bits with the entry, so both sides are seen
  const input = fc.tuple(fc.boolean(), ipv6Bytes, fc.integer({ min: 0, max: 128 }), fc.integer({ min: 0, max: 128 }), ipv6Bytes, ipv6Style, ipv6Style);
  fc.assert(fc.property(input, bounded(([permit, entry, len, shared, noise, entryStyle, clientStyle]) => {
    const client = entry.map((b, i) => {
      const keep = Math.max(0, Math.min(8, shared - 8 * i));
      const mask = (0xff00 >> keep) & 0xff;
      return (b & ~mask) | (noise[i] & mask);
    });
    const { acls } = oneEntry(permit ? 'permit' : 'deny', [`${ipv6Text(entry, entryStyle)}/${len}`]);
    const text = ipv6Text(client, clientStyle);
    assert.deepEqual(ipv6Bytes16(text), Uint8Array.from(client)); // the test's own reading agrees
    assert.equal(acls.permits(3, text), samePrefix(entry, client, len) === permit);
  })), options(stored, ipv6AclTitle));
});

const aclTextTitle = 'the acl lines that write prints rebuild the same lists';
test(aclTextTitle, () => {
  const entry = fc.oneof(
    fc.tuple(ipv4, ipv4).map(([a, m]) => [a, m]),
    fc.tuple(ipv6, fc.integer({ min: 0, max: 128 })).map(([a, l]) => [`${a}/${l}`]),
    fc.tuple(fc.constantFrom('country', 'continent'), fc.constantFrom('de', 'US', 'eu')),
  );
  const lists = fc.array(fc.tuple(fc.integer({ min: 0, max: 9 }), fc.boolean(), entry), { maxLength: 8 });
  fc.assert(fc.property(lists, bounded((entries) => {
    const acls = new AclLists();
    for (const [n, permit, words] of entries) acls.add(n, permit ? 'permit' : 'deny', words);
    const again = new AclLists();
    for (const text of acls.commands()) {
      if (text.startsWith('no ')) continue;
      const [, n, verdict, ...words] = text.split(' ');
      again.add(Number(n), verdict, words);
    }
    assert.deepEqual(again.commands(), acls.commands());
  })), options(stored, aclTextTitle));
});

const aclJunkTitle = 'permits answers for any client text, address or not';
test(aclJunkTitle, () => {
  const acls = new AclLists();
  acls.add(1, 'permit', ['10.0.0.0', '255.0.0.0']);
  acls.add(1, 'deny', ['2001:db8::/32']);
  acls.geo = () => ({ country: 'DE' });
  acls.add(1, 'permit', ['country', 'de']);
  const client = fc.oneof(fc.string(), ipv4, ipv6, fc.constantFrom('', '::ffff:10.1.2.3', 'fe80::1%eth0', '1.2.3.4.5'));
  fc.assert(fc.property(client, bounded((text) => { assert.equal(typeof acls.permits(1, text), 'boolean'); })), options(stored, aclJunkTitle));
});
