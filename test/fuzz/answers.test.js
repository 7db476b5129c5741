'use strict';
// Property-based tests of the reader of servers' answers to HTTP/2 clients' requests (the HTTP/1.1
// client's side): any byte stream, cut anywhere, reads as it does whole, and a well-formed answer
// comes out with its status, headers, body and trailers, however its bytes arrive.
const test = require('node:test');
const assert = require('node:assert/strict');
const { AnswerReader } = require('../../dist/pipelines/answer-reader');
const { Refusal } = require('../../dist/pipelines/http-syntax');
const { fc, fixtures, options, bounded } = require('./fuzz');

const stored = fixtures('answers');
const latin1 = (text) => Buffer.from(text, 'latin1');
const HEAD_MAX = 200;

const token = fc.string({ unit: fc.constantFrom(...'abcxyz019-_'), minLength: 1, maxLength: 8 }).map((t) => `x-${t}`);
const value = fc.string({ unit: fc.constantFrom(...'abc XYZ019!"#/:;=?@'), maxLength: 12 }).map((v) => v.trim());
const bodyText = fc.string({ unit: fc.constantFrom('a', 'b', '\r\n', '0\r\n\r\n', 'HTTP/1.1 200 OK\r\n\r\n'), maxLength: 5 });

/** A well-formed answer: what it is made of, its bytes, and whether it answers a HEAD request. */
const answer = fc.record({
  status: fc.constantFrom(200, 204, 304, 404, 503),
  headers: fc.array(fc.tuple(token, value), { maxLength: 3 }),
  framing: fc.constantFrom('length', 'chunked'),
  chunks: fc.array(bodyText.filter((c) => c !== ''), { maxLength: 3 }),
  trailer: fc.option(fc.tuple(token, value), { nil: undefined }),
  hint: fc.boolean(),
  head: fc.boolean(),
}).map((a) => {
  const noBody = a.head || a.status === 204 || a.status === 304;
  const body = noBody ? '' : a.chunks.join('');
  const lines = [`HTTP/1.1 ${a.status} Reason`, ...a.headers.map(([n, v]) => `${n}: ${v}`)];
  let framed = '';
  if (a.framing === 'length') {
    lines.push(`Content-Length: ${a.head ? 999 : body.length}`);
    framed = body;
  } else {
    lines.push('Transfer-Encoding: chunked');
    const trailer = a.trailer ? `${a.trailer[0]}: ${a.trailer[1]}\r\n` : '';
    framed = noBody ? '' : `${a.chunks.map((c) => `${c.length.toString(16)}\r\n${c}\r\n`).join('')}0\r\n${trailer}\r\n`;
  }
  const hint = a.hint ? 'HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n' : '';
  return { ...a, body, text: `${hint}${lines.join('\r\n')}\r\n\r\n${framed}`, trailers: a.framing === 'chunked' && !noBody && a.trailer ? [a.trailer] : [] };
});

const FRAGMENTS = ['HTTP/1.1 ', 'HTTP/1.0 ', '200', '101', '103', ' OK', '\r\n', '\r', '\n', ':', 'Content-Length: ', '5', 'ff', '0\r\n\r\n',
  'Transfer-Encoding: chunked', 'Connection: close', '\r\n\r\n', 'a', '\x00', '\xff'];
const soup = fc.array(fc.constantFrom(...FRAGMENTS), { maxLength: 30 }).map((parts) => parts.join(''));
const stream = fc.oneof(fc.array(answer, { minLength: 1, maxLength: 3 }).map((as) => as.map((a) => a.text).join('')), soup,
  fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('latin1')));
const cuts = fc.array(fc.nat(), { maxLength: 6 });

/** What the reader makes of the bytes in these pieces: its events, data merged, and how it stopped. */
function read(pieces, heads = []) {
  const events = [];
  let answers = 0;
  const reader = new AnswerReader(HEAD_MAX, {
    answersHead: () => heads[answers] ?? false,
    informational: (headers) => events.push(['info', headers]),
    head: (status, headers) => events.push(['head', status, headers]),
    data: (chunk) => (events.at(-1)?.[0] === 'data' ? events.at(-1).push(chunk.toString('latin1')) : events.push(['data', chunk.toString('latin1')])),
    ended: (trailers) => {
      answers++;
      events.push(['end', trailers ?? {}]);
    },
  });
  try {
    for (const piece of pieces) reader.read(piece);
    reader.closed();
  } catch (err) {
    if (!(err instanceof Refusal)) throw err; // anything else is a crash
    assert.equal(err.status, 502);
    events.push(['refused', err.message]);
  }
  return events.map((e) => (e[0] === 'data' ? ['data', e.slice(1).join('')] : e));
}

function cutAt(bytes, at) {
  const places = [...new Set(at.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  return [...places, bytes.length].map((end, i) => bytes.subarray(i === 0 ? 0 : places[i - 1], end));
}

const splitTitle = 'any byte stream, cut anywhere, reads as it does whole, and fails only with a 502 Refusal';
test(splitTitle, () => {
  fc.assert(fc.property(stream, cuts, bounded((text, at) => {
    const bytes = latin1(text);
    assert.deepEqual(read(cutAt(bytes, at)), read([bytes]));
  })), options(stored, splitTitle));
});

const answerTitle = 'well-formed answers come out whole: status, headers, 103, body, trailers; HEAD, 204 and 304 without a body';
test(answerTitle, () => {
  fc.assert(fc.property(fc.array(answer, { minLength: 1, maxLength: 3 }), cuts, bounded((answers, at) => {
    const events = read(cutAt(latin1(answers.map((a) => a.text).join('')), at), answers.map((a) => a.head));
    const expected = answers.flatMap((a) => [
      ...(a.hint ? [['info', { ':status': 103, link: '</a.css>; rel=preload' }]] : []),
      ['head', a.status, Object.fromEntries([[':status', a.status], ...joined(a.headers), ...(a.framing === 'length' ? [['content-length', String(a.head ? 999 : a.body.length)]] : [])])],
      ...(a.body === '' ? [] : [['data', a.body]]),
      ['end', Object.fromEntries(a.trailers)],
    ]);
    assert.deepEqual(events, expected);
  })), options(stored, answerTitle));
});

/** Header pairs as the reader gives them: repeated names joined with ", ". */
function joined(pairs) {
  const out = new Map();
  for (const [name, v] of pairs) out.set(name, out.has(name) ? `${out.get(name)}, ${v}` : v);
  return [...out];
}
