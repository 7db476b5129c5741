'use strict';
// Property-based tests of the PROXY protocol header reader: any bytes give an address, "need
// more" (undefined) or a one-line ProxyHeaderError; read as a stream (after each chunk) they give
// what they give whole; headers that proxyHeader writes read back; malformed ones are refused.
const test = require('node:test');
const assert = require('node:assert/strict');
const { parseProxyHeader, proxyHeader, ProxyHeaderError } = require('../../dist/pipelines/proxy-protocol');
const { fc, fixtures, options, bounded, resultOrError, ipv4Bytes, ipv6Bytes, ipv4Text, ipv6Text, ipv6Style, ipv6Bytes16 } = require('./fuzz');

const stored = fixtures('proxy-protocol');
const fromLatin1 = (text) => Buffer.from(text, 'latin1'); // fixtures keep bytes as latin1 text
const parse = (bytes) => resultOrError(() => parseProxyHeader(bytes), ProxyHeaderError);

const ipv4 = ipv4Bytes.map(ipv4Text);
const ipv6 = fc.tuple(ipv6Bytes, ipv6Style).map(([bytes, style]) => ipv6Text(bytes, style));
const port = fc.integer({ min: 0, max: 65535 });
/** IPv6 as a socket names it: v1 copies the text, and the longest spellings would pass 107 bytes. */
const ipv6Short = ipv6Bytes.map((bytes) => ipv6Text(bytes, 'short'));
/** A header proxyHeader writes, with the address it names. */
const written = fc.oneof(
  fc.tuple(fc.constantFrom(1, 2), ipv4, port, ipv4, port),
  fc.tuple(fc.constant(1), ipv6Short, port, ipv6Short, port),
  fc.tuple(fc.constant(2), ipv6, port, ipv6, port),
).map(([version, src, srcPort, dst, dstPort]) => ({ version, src, srcPort, bytes: proxyHeader(version, src, srcPort, dst, dstPort) }));

/** Bytes near a header: a written one, cut, with bytes changed, inserted or appended. */
const nearHeader = fc.tuple(written, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'insert', 'cut')), { maxLength: 3 }), fc.uint8Array({ maxLength: 20 }))
  .map(([{ bytes }, edits, tail]) => {
    let b = Buffer.from(bytes);
    for (const [at, value, how] of edits) {
      const p = at % (b.length + 1);
      if (how === 'set' && p < b.length) b[p] = value;
      else if (how === 'insert') b = Buffer.concat([b.subarray(0, p), Buffer.from([value]), b.subarray(p)]);
      else b = b.subarray(0, p);
    }
    return Buffer.concat([b, tail]);
  });
const anyBytes = fc.oneof(nearHeader, fc.uint8Array({ maxLength: 300 }).map(Buffer.from), fc.string({ maxLength: 120 }).map((s) => fromLatin1(`PROXY ${s}\r\n`)));

const anyTitle = 'any bytes give a header, need more, or a one-line ProxyHeaderError';
test(anyTitle, () => {
  fc.assert(fc.property(anyBytes, bounded((bytes) => {
    const { value } = parse(bytes);
    if (value === undefined) return;
    assert.ok(Number.isInteger(value.length) && value.length > 0 && value.length <= bytes.length, `length ${value.length}`);
    if (value.port !== undefined) assert.ok(Number.isInteger(value.port) && value.port >= 0 && value.port <= 65535);
  })), options(stored, anyTitle, ([bytes]) => [fromLatin1(bytes)]));
});

/** What the read-ahead gets: the first answer that is not "need more", after each piece. */
function asStream(bytes, cuts) {
  const ends = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b).concat(bytes.length);
  for (const end of ends) {
    const got = parse(bytes.subarray(0, end));
    if (got.error || got.value !== undefined) return got;
  }
  return { value: undefined };
}
const summary = ({ value, error }) => (error ? 'refused' : value);

const streamTitle = 'read in pieces, the bytes give what they give whole';
test(streamTitle, () => {
  const input = fc.tuple(anyBytes, fc.array(fc.nat(), { maxLength: 4 }));
  fc.assert(fc.property(input, bounded(([bytes, cuts]) => {
    assert.deepEqual(summary(asStream(bytes, cuts)), summary(parse(bytes)));
  })), options(stored, streamTitle, ([[bytes, cuts]]) => [[fromLatin1(bytes), cuts]]));
});

const roundTitle = 'a header proxyHeader writes reads back as its source address and port, followed by data';
test(roundTitle, () => {
  fc.assert(fc.property(written, fc.uint8Array({ maxLength: 40 }), bounded(({ version, src, srcPort, bytes }, data) => {
    const got = parseProxyHeader(Buffer.concat([bytes, data]));
    assert.equal(got.length, bytes.length);
    assert.equal(got.port, srcPort);
    if (src.includes(':')) assert.deepEqual(ipv6Bytes16(got.address), ipv6Bytes16(src));
    else assert.equal(got.address, src);
    if (version === 1) assert.ok(got.length <= 107, 'the spec\'s longest v1 line');
  })), options(stored, roundTitle));
});

// ---- what the spec refuses ----

/** v1 lines as the spec has them (TCP4/TCP6, two addresses, two decimal ports, at most 107 bytes). */
function validV1(text) {
  if (text.length > 107 || !text.endsWith('\r\n')) return false;
  const m = /^PROXY (?:UNKNOWN(?: [^\r\n]*)?|(TCP4|TCP6) (\S+) (\S+) (0|[1-9]\d{0,4}) (0|[1-9]\d{0,4}))\r\n$/.exec(text);
  if (!m) return false;
  if (m[1] === undefined) return true;
  const isAddress = m[1] === 'TCP4' ? require('node:net').isIPv4 : require('node:net').isIPv6;
  return isAddress(m[2]) && isAddress(m[3]) && Number(m[4]) <= 65535 && Number(m[5]) <= 65535;
}

/** A v1 line, sometimes spoiled the way a sloppy or hostile peer would. */
const v1Line = fc.tuple(
  fc.constantFrom('TCP4', 'TCP6', 'UNKNOWN', 'tcp4', 'TCP5'),
  fc.oneof(ipv4, ipv6, fc.constantFrom('', 'x', '1.2.3')),
  fc.oneof(ipv4, ipv6, fc.constantFrom('', 'x')),
  fc.oneof(port.map(String), fc.constantFrom('', '0x50', '1e3', '080', '65536', '-1', ' 1', '1.5')),
  fc.oneof(port.map(String), fc.constantFrom('', 'x')),
  fc.constantFrom('', '', ' extra', ' '.repeat(60)),
).map(([family, src, dst, srcPort, dstPort, extra]) => `PROXY ${family} ${src} ${dst} ${srcPort} ${dstPort}${extra}\r\n`);

const v1ValidTitle = 'a well-formed v1 line is taken';
test(v1ValidTitle, () => {
  fc.assert(fc.property(v1Line.filter(validV1), bounded((text) => {
    const got = parseProxyHeader(fromLatin1(text));
    assert.equal(got.length, text.length);
    if (!text.startsWith('PROXY UNKNOWN')) assert.equal(got.port, Number(text.split(' ')[4]));
  })), options(stored, v1ValidTitle));
});

const v1InvalidTitle = 'a malformed v1 line is refused';
test(v1InvalidTitle, () => {
  fc.assert(fc.property(v1Line.filter((t) => !validV1(t)), bounded((text) => {
    assert.ok(parse(fromLatin1(text)).error, `taken: ${JSON.stringify(text)}`);
  })), options(stored, v1InvalidTitle));
});

const v2CommandTitle = 'a v2 header with a command other than LOCAL or PROXY is refused';
test(v2CommandTitle, () => {
  const input = fc.tuple(written.filter((w) => w.version === 2), fc.integer({ min: 2, max: 15 }));
  fc.assert(fc.property(input, bounded(([{ bytes }, command]) => {
    const b = Buffer.from(bytes);
    b[12] = 0x20 | command;
    assert.ok(parse(b).error, `taken with command ${command}`);
  })), options(stored, v2CommandTitle));
});
