'use strict';
// Property-based tests of the request framer: random valid pipelined requests (any method,
// header case, Content-Length or chunked bodies that look like requests, trailers), split at
// random places, must reach the server exactly as sent plus our headers; random smuggling
// shapes must be refused however they are split. Seeded: HTTP_FUZZ_SEED=n repeats a run.
const test = require('node:test');
const assert = require('node:assert/strict');
const { cutAt, frame } = require('../support/framer');

const SEED = Number(process.env.HTTP_FUZZ_SEED ?? 20261126);
const CASES = 300;

/** mulberry32: a small seeded generator, so a failure can be replayed. */
function generator(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n) => Math.floor(next() * n);
  const pick = (list) => list[int(list.length)];
  const text = (alphabet, min, max) => Array.from({ length: min + int(max - min + 1) }, () => pick(alphabet)).join('');
  return { int, pick, text };
}

const TCHAR = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&\'*+-.^_`|~'.split('');
const VCHAR = 'abcXYZ019 \t!"#$%&()*+,-./:;<=>?@[\\]^_{|}~\xe9\xff'.split('');
const PATH = 'abc/XYZ019-._~%?=&'.split('');

/** A random valid request: its bytes, and what the server must receive for it. */
function request(g) {
  const method = g.pick(['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', g.text(TCHAR, 1, 12)]);
  const version = g.int(5) === 0 ? '1.0' : '1.1';
  const lines = [`Host: ${g.text(PATH, 1, 20)}`];
  for (let n = g.int(6); n > 0; n--) lines.push(`X-${g.text(TCHAR, 1, 10)}: ${g.text(VCHAR, 0, 40).trim()}`);
  const clientXff = g.int(3) === 0 ? `203.0.113.${g.int(255)}` : undefined;
  if (clientXff) lines.splice(g.int(lines.length + 1), 0, `${g.pick(['X-Forwarded-For', 'x-forwarded-for', 'X-FORWARDED-FOR'])}: ${clientXff}`);
  let body = '';
  const framing = version === '1.0' ? g.int(2) : g.int(3); // 0 none, 1 length, 2 chunked
  const payload = () => g.text(['a', '\r', '\n', 'GET / HTTP/1.1\r\n\r\n', '0\r\n\r\n', 'x'], 0, 20);
  if (framing === 1) {
    body = payload();
    lines.push(`${g.pick(['Content-Length', 'content-length', 'CONTENT-LENGTH'])}: ${Buffer.byteLength(body, 'latin1')}`);
  } else if (framing === 2) {
    lines.push(`${g.pick(['Transfer-Encoding', 'transfer-encoding'])}: ${g.pick(['chunked', 'Chunked', 'gzip, chunked'])}`);
    for (let n = g.int(4); n > 0; n--) {
      const data = payload() || 'z';
      const size = Buffer.byteLength(data, 'latin1').toString(16);
      body += `${g.int(2) ? size.toUpperCase() : size}${g.int(3) === 0 ? ';ext=1' : ''}\r\n${data}\r\n`;
    }
    body += '0\r\n';
    if (g.int(2)) body += `X-Trailer: ${g.text(TCHAR, 1, 8)}\r\n`;
    body += '\r\n';
  }
  const requestLine = `${method} /${g.text(PATH, 0, 30)} HTTP/${version}`;
  const sent = `${requestLine}\r\n${lines.join('\r\n')}\r\n\r\n${body}`;
  const kept = lines.filter((l) => !/^x-forwarded-for:/i.test(l));
  const xff = clientXff ? `${clientXff}, 192.0.2.1` : '192.0.2.1';
  const expected = `${requestLine}\r\n${[...kept, `X-Forwarded-For: ${xff}`, 'X-Forwarded-Proto: http'].join('\r\n')}\r\n\r\n${body}`;
  return { sent, expected };
}

const randomCuts = (g, length) => Array.from({ length: g.int(6) }, () => g.int(length + 1));

test(`random pipelined requests, randomly split, reach the server as sent plus our headers (seed ${SEED})`, () => {
  const g = generator(SEED);
  for (let c = 0; c < CASES; c++) {
    const requests = Array.from({ length: 1 + g.int(4) }, () => request(g));
    const bytes = Buffer.from(requests.map((r) => r.sent).join(''), 'latin1');
    const expected = requests.map((r) => r.expected).join('');
    for (let split = 0; split < 4; split++) {
      const got = frame(cutAt(bytes, randomCuts(g, bytes.length)));
      assert.equal(got.refused, undefined, `case ${c}: refused ${JSON.stringify(bytes.toString('latin1'))}`);
      assert.equal(got.bytes.toString('latin1'), expected, `case ${c}`);
    }
  }
});

test(`random smuggling shapes are refused however they are split, and nothing of them is forwarded (seed ${SEED})`, () => {
  const g = generator(SEED + 1);
  const shapes = [
    (r) => r.replace('\r\n\r\n', '\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n'),
    (r) => r.replace('\r\n\r\n', '\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n'),
    (r) => r.replace('\r\nHost:', '\nHost:'),
    (r) => r.replace('\r\nHost:', '\r\n Host:'),
    (r) => r.replace('\r\nHost:', '\r\nHost :'),
    (r) => r.replace('\r\n\r\n', '\r\nTransfer-Encoding: chunked, gzip\r\n\r\n'),
  ];
  for (let c = 0; c < CASES; c++) {
    const good = request(g);
    const bad = g.pick(shapes)(request(g).sent.replace(/\r\n(content-length|transfer-encoding):[^\r]*/ig, ''));
    const bytes = Buffer.from(good.sent + bad, 'latin1');
    const got = frame(cutAt(bytes, randomCuts(g, bytes.length)));
    assert.equal(got.refused?.status, 400, `case ${c}: ${JSON.stringify(bad)}`);
    assert.equal(got.bytes.toString('latin1'), good.expected, `case ${c}: only the good request went on`);
  }
});
