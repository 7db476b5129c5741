'use strict';
// The request framer against Node's own llhttp (a node:http server as the oracle), on the corpus
// in fixtures/http/, with every request split at every byte boundary.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const http = require('node:http');
const net = require('node:net');
const { once } = require('node:events');
const { OPTIONS, frame } = require('../support/framer');

const CORPUS = path.join(__dirname, '..', '..', 'fixtures', 'http');
const corpus = fs.readdirSync(CORPUS).filter((f) => f.endsWith('.http')).map((f) => ({ name: f, bytes: fs.readFileSync(path.join(CORPUS, f)) }));

/** What a node:http server makes of raw bytes: the requests it saw, or that it refused them. */
async function oracle(bytes) {
  const seen = [];
  const server = http.createServer((req, res) => {
    const body = [];
    req.on('data', (d) => body.push(d));
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, headers: req.headers, trailers: req.trailers, body: Buffer.concat(body).toString() });
      res.end();
    });
  });
  let rejected = false;
  server.on('clientError', (err, socket) => { rejected = true; socket.destroy(); });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const s = net.connect(server.address().port, '127.0.0.1');
  s.on('error', () => {});
  s.resume();
  s.end(bytes);
  await new Promise((r) => s.on('close', r));
  server.close();
  return { seen, rejected };
}

const withoutForwarded = (req) => {
  const headers = { ...req.headers };
  delete headers['x-forwarded-for'];
  delete headers['x-forwarded-proto'];
  return { ...req, headers };
};

for (const { name, bytes } of corpus.filter((c) => c.name.startsWith('valid-'))) {
  test(`${name}: the server sees the same requests, each with X-Forwarded-For and X-Forwarded-Proto`, async () => {
    const whole = frame([bytes]);
    assert.equal(whole.refused, undefined);
    const original = await oracle(bytes);
    const rewritten = await oracle(whole.bytes);
    assert.equal(original.rejected, false);
    assert.equal(rewritten.seen.length, original.seen.length);
    rewritten.seen.forEach((req, i) => {
      const client = original.seen[i].headers['x-forwarded-for'];
      assert.equal(req.headers['x-forwarded-for'], client ? `${client}, 192.0.2.1` : '192.0.2.1');
      assert.equal(req.headers['x-forwarded-proto'], 'http');
      assert.deepEqual(withoutForwarded(req), withoutForwarded(original.seen[i]));
    });
  });

  test(`${name}: split at every byte boundary, and byte by byte, the output is the same`, () => {
    const expected = frame([bytes]).bytes;
    for (let cut = 1; cut < bytes.length; cut++) {
      assert.deepEqual(frame([bytes.subarray(0, cut), bytes.subarray(cut)]).bytes, expected, `cut at ${cut}`);
    }
    const single = [];
    for (let i = 0; i < bytes.length; i++) single.push(bytes.subarray(i, i + 1));
    assert.deepEqual(frame(single).bytes, expected);
  });
}

for (const { name, bytes } of corpus.filter((c) => c.name.startsWith('invalid-'))) {
  test(`${name}: refused with 400; the server gets none of its bad bytes`, async () => {
    const r = frame([bytes]);
    assert.equal(r.refused?.status, 400);
    // a bad head is never forwarded; for a bad body, only the (good) head went before the refusal
    const headEnd = bytes.indexOf('\r\n\r\n') + 4;
    const forwardedHead = r.bytes.length === 0 ? '' : r.bytes.toString();
    assert.ok(forwardedHead === '' || (forwardedHead.endsWith('\r\n\r\n') && !/\r\n\r\n./s.test(forwardedHead)), 'at most one head');
    if (forwardedHead) assert.ok(bytes.subarray(headEnd).length > 0 && !forwardedHead.includes(bytes.subarray(headEnd).toString()));
    assert.equal((await oracle(bytes)).rejected, true, 'llhttp refuses it too');
  });
}

test('limits: a long request line gets 414, a large header block 431', () => {
  assert.equal(frame([Buffer.from(`GET /${'a'.repeat(20000)} HTTP/1.1\r\n\r\n`)]).refused.status, 414);
  assert.equal(frame([Buffer.from(`GET / HTTP/1.1\r\n${'X-A: b\r\n'.repeat(3000)}\r\n`)]).refused.status, 431);
});

test('xforwarded replace drops the client\'s header; pen mode keeps it and adds nothing', () => {
  const req = Buffer.from('GET / HTTP/1.1\r\nX-Forwarded-For: 203.0.113.7\r\n\r\n');
  assert.match(frame([req], { options: { ...OPTIONS, forwarded: 'replace' } }).bytes.toString(), /\r\nX-Forwarded-For: 192\.0\.2\.1\r\n/);
  const pen = frame([req], { options: { ...OPTIONS, forwarded: 'pen' } }).bytes.toString();
  assert.match(pen, /X-Forwarded-For: 203\.0\.113\.7\r\n/);
  assert.doesNotMatch(pen, /192\.0\.2\.1/);
});

test('Upgrade and CONNECT: bytes after the head wait for the server; raw if it switched, requests again if not', () => {
  const head = 'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n';
  const raw = Buffer.from([0x81, 0x05, 0x0d, 0x0a, 0x0d, 0x0a, 0x00]);
  const waiting = frame([Buffer.concat([Buffer.from(head), raw])]);
  assert.equal(waiting.paused, true);
  assert.doesNotMatch(waiting.bytes.toString('latin1'), /\x81/, 'nothing after the head before the answer');
  const switched = frame([Buffer.concat([Buffer.from(head), raw])], { answer: true });
  assert.ok(switched.bytes.subarray(switched.bytes.length - raw.length).equals(raw));
  assert.equal(switched.resumed, 1);
  // declined: what follows is parsed as requests, so a smuggled one gets our header or a refusal
  const next = 'GET /next HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n';
  const declined = frame([Buffer.from(head + next)], { answer: false });
  assert.match(declined.bytes.toString(), /GET \/next HTTP\/1\.1\r\nHost: x\r\nX-Forwarded-For: 6\.6\.6\.6, 192\.0\.2\.1\r\n/);
  const smuggled = 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n';
  assert.equal(frame([Buffer.from(head + smuggled)], { answer: false }).refused?.status, 400);
  const connect = frame([Buffer.from('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n\x16\x03\x01')], { answer: true });
  assert.ok(connect.bytes.toString('latin1').endsWith('\r\n\r\n\x16\x03\x01'));
});

test('request heads are checked byte by byte: what passes, and the status of what does not', () => {
  const cases = [
    ['GET / HTTP/1.1\r\nHost: x\r\nX-Tab:\ta\tb\r\nX-Latin: caf\xe9\r\n\r\n', undefined],
    ['GET / HTTP/1.1\r\nHost: x\r\nX-Ctl: a\x01b\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost: x\r\nX-Del: a\x7fb\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost: x\r\nX-Lf: a\nb: c\r\n\r\n', 400],
    ['GET  / HTTP/1.1\r\nHost: x\r\n\r\n', 400],
    ['GET / HTTP/1.1 \r\nHost: x\r\n\r\n', 400],
    ['G(T / HTTP/1.1\r\nHost: x\r\n\r\n', 400],
    ['GET / HTTP/2.0\r\nHost: x\r\n\r\n', 505],
    ['GET / HTTP/1.x\r\nHost: x\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\n: empty-name\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost x\r\n\r\n', 400],
  ];
  for (const [text, status] of cases) {
    assert.equal(frame([Buffer.from(text, 'latin1')]).refused?.status, status, JSON.stringify(text));
  }
});

test('framing header names are matched in any case', () => {
  const post = 'POST / HTTP/1.1\r\nHost: x\r\nCONTENT-length: 5\r\n\r\nhelloGET /next HTTP/1.1\r\nHost: x\r\n\r\n';
  const out = frame([Buffer.from(post)]).bytes.toString();
  assert.equal(out.match(/X-Forwarded-For: 192\.0\.2\.1\r\n/g)?.length, 2, 'both requests found');
  const chunked = 'POST / HTTP/1.1\r\nHost: x\r\ntransfer-ENCODING: Chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n';
  assert.equal(frame([Buffer.from(chunked)]).refused, undefined);
  const xff = frame([Buffer.from('GET / HTTP/1.1\r\nx-FORWARDED-for: 203.0.113.7\r\n\r\n')]).bytes.toString();
  assert.match(xff, /\r\nX-Forwarded-For: 203\.0\.113\.7, 192\.0\.2\.1\r\n/);
  assert.doesNotMatch(xff, /x-FORWARDED-for/);
});

test('a full server pauses the client, whether it filled up on a head or on a body', () => {
  const get = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.equal(frame([get], { serverFull: true }).paused, true, 'a head alone');
  assert.equal(frame([Buffer.from('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi')], { serverFull: true }).paused, true, 'a head and body');
  assert.equal(frame([get]).paused, false, 'room to spare');
});
