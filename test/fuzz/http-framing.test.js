'use strict';
// Property-based tests of the HTTP request framer, beyond test/pipelines/http-fuzz.test.js: any
// byte stream (valid requests, requests with bytes changed, HTTP-looking fragments, noise), cut
// anywhere and under any head limits, frames as it does whole; a control byte in a header line is
// refused wherever it is and however the bytes are cut.
const test = require('node:test');
const assert = require('node:assert/strict');
const { OPTIONS, cutAt, frame } = require('../support/framer');
const { fc, fixtures, options, bounded } = require('./fuzz');

const stored = fixtures('http-framing');
const latin1 = (text) => Buffer.from(text, 'latin1');

const token = fc.string({ unit: fc.constantFrom(...'abcxyzABCXYZ019!#$%&\'*+-.^_`|~'), minLength: 1, maxLength: 8 });
const value = fc.string({ unit: fc.constantFrom(...'abc XYZ019\t!"#/:;=?@[]{}\xe9\xff'), maxLength: 16 }).map((v) => v.trim());
const payload = fc.string({ unit: fc.constantFrom('a', '\r', '\n', '0\r\n\r\n', 'GET / HTTP/1.1\r\n\r\n'), maxLength: 6 });

/** A valid request: its head lines (without CRLFs) and its body, framed by length, chunks or nothing. */
const request = fc.record({
  method: fc.oneof(fc.constantFrom('GET', 'POST', 'HEAD', 'OPTIONS'), token),
  target: fc.string({ unit: fc.constantFrom(...'abc/XYZ019-._~%?=&'), maxLength: 12 }).map((t) => `/${t}`),
  version: fc.constantFrom('1.1', '1.1', '1.0'),
  headers: fc.array(fc.tuple(fc.oneof(token, fc.constantFrom('Host', 'X-Forwarded-For', 'Connection', 'Upgrade')), value), { maxLength: 4 }),
  framing: fc.constantFrom('none', 'length', 'chunked'),
  chunks: fc.array(payload.filter((p) => p !== ''), { maxLength: 3 }),
}).map(({ method, target, version, headers, framing, chunks }) => {
  const lines = [`${method} ${target} HTTP/${version}`, ...headers.map(([n, v]) => `${n}: ${v}`)];
  let body = '';
  if (framing === 'length') {
    body = chunks.join('');
    lines.push(`Content-Length: ${body.length}`);
  } else if (framing === 'chunked' && version === '1.1') {
    lines.push('Transfer-Encoding: chunked');
    body = `${chunks.map((c) => `${c.length.toString(16)}\r\n${c}\r\n`).join('')}0\r\n\r\n`;
  }
  return { lines, body };
});
const requestText = ({ lines, body }) => `${lines.join('\r\n')}\r\n\r\n${body}`;

/** Pieces HTTP is made of, to be put together in any order. */
const FRAGMENTS = ['GET ', 'POST ', 'CONNECT ', 'HEAD ', '/ ', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', '\r\n', '\r', '\n', ' ', '\t', ':',
  'Host: x', 'Content-Length: ', 'content-length:', '5', '0', 'ff', ';ext', 'Transfer-Encoding: chunked', 'Transfer-Encoding: gzip',
  'Connection: upgrade', 'Upgrade: websocket', 'X-Forwarded-For: 1.2.3.4', '0\r\n\r\n', '\r\n\r\n', 'a', '\x00', '\x7f', '\xff'];
const soup = fc.array(fc.constantFrom(...FRAGMENTS), { maxLength: 30 }).map((parts) => parts.join(''));

/** Valid requests with a few bytes set, inserted or cut. */
const edited = fc.tuple(fc.array(request, { minLength: 1, maxLength: 3 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'insert', 'cut')), { maxLength: 3 }))
  .map(([requests, edits]) => {
    let text = requests.map(requestText).join('');
    for (const [at, byte, how] of edits) {
      const p = at % (text.length + 1);
      const c = String.fromCharCode(byte);
      text = how === 'set' ? text.slice(0, p) + c + text.slice(p + 1) : how === 'insert' ? text.slice(0, p) + c + text.slice(p) : text.slice(0, p) + text.slice(p + 1);
    }
    return text;
  });

const stream = fc.oneof(fc.array(request, { minLength: 1, maxLength: 3 }).map((rs) => rs.map(requestText).join('')), edited, soup,
  fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('latin1')));
const cuts = fc.array(fc.nat(), { maxLength: 6 });
/** Small head limits, so that heads meet them (cut or whole) as often as not. */
const limits = fc.option(fc.record({ headMax: fc.integer({ min: 16, max: 160 }), lineMax: fc.integer({ min: 12, max: 80 }) }), { nil: undefined });

// A head that comes in pieces is checked line by line only up to its request line, the rest once
// it is complete: a bad header line is refused when the empty line comes, not at once. So both
// ways end with an empty line, and then must agree.
const END = latin1('\r\n\r\n');
const LIMITS = [414, 431]; // request line, head too large

/** The whole bytes, and the same cut at the given places (as offsets into them), each then END. */
function framed(text, at, limit) {
  const bytes = latin1(text);
  const opts = { options: limit ? { ...OPTIONS, ...limit } : OPTIONS };
  return [frame([bytes, END], opts), frame([...cutAt(bytes, at.map((c) => c % (bytes.length + 1))), END], opts)];
}

/** A CR that no LF follows: see the todo test below; the others leave it out. */
const hasBareCr = (text) => /\r(?!\n)/.test(`${text}\r\n\r\n`);

const splitTitle = 'any byte stream, cut anywhere, frames as it does whole';
test(splitTitle, () => {
  fc.assert(fc.property(stream.filter((text) => !hasBareCr(text)), cuts, limits, bounded((text, at, limit) => {
    const [whole, cut] = framed(text, at, limit);
    const refusals = `${JSON.stringify(whole.refused)} whole, ${JSON.stringify(cut.refused)} cut`;
    assert.equal(cut.refused === undefined, whole.refused === undefined, refusals);
    // a head both malformed and over a limit may be refused for either, depending on what came first
    if (cut.refused?.status !== whole.refused?.status) assert.ok([cut, whole].some((f) => LIMITS.includes(f.refused.status)), refusals);
    if (!whole.refused) return assert.equal(cut.bytes.toString('latin1'), whole.bytes.toString('latin1'));
    // refused: the body bytes of the refused request that came before the refusal may or may
    // not have gone on; everything before them did, in both
    const [shorter, longer] = [whole.bytes, cut.bytes].sort((a, b) => a.length - b.length);
    assert.ok(longer.subarray(0, shorter.length).equals(shorter), 'what went on whole and cut agrees');
  })), options(stored, splitTitle, ([text, at, limit]) => [text, at, limit ?? undefined]));
});

const controlTitle = 'a control byte in a header line is refused with 400 wherever it is and however the bytes are cut';
test(controlTitle, () => {
  const control = fc.oneof(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 10, max: 31 }), fc.constant(127));
  fc.assert(fc.property(request.filter((r) => r.lines.length > 1), fc.nat(), fc.nat(), control, cuts, bounded(({ lines, body }, line, offset, byte, at) => {
    const n = 1 + (line % (lines.length - 1)); // a header line, not the request line
    const p = offset % (lines[n].length + 1);
    const spoiled = [...lines];
    spoiled[n] = lines[n].slice(0, p) + String.fromCharCode(byte) + lines[n].slice(p);
    for (const got of framed(requestText({ lines: spoiled, body }), at)) {
      assert.equal(got.refused?.status, 400, JSON.stringify(spoiled[n]));
      assert.equal(got.bytes.length, 0, 'nothing of it went on');
    }
  })), options(stored, controlTitle));
});

const bareCrTitle = 'a CR and a byte other than LF where a request starts is refused however the bytes are cut';
test(bareCrTitle, () => {
  const input = fc.tuple(fc.array(request, { maxLength: 2 }), fc.integer({ min: 0, max: 255 }).filter((c) => c !== 10), request, cuts);
  fc.assert(fc.property(input, bounded(([before, byte, after, at]) => {
    const text = `${before.map(requestText).join('')}\r${String.fromCharCode(byte)}${requestText(after)}`;
    const [whole, cut] = framed(text, at);
    assert.equal(whole.refused?.status, 400);
    assert.equal(cut.refused?.status, 400, `taken when cut at ${at}: ${JSON.stringify(text)}`);
  })), options(stored, bareCrTitle));
});
