'use strict';
// Issue #14: a bad request after good ones in the same packet (-H). The client gets the answers
// to the good ones first, in order, then the error, then the close; a server that never answers
// or closes first does not hang it (504 after the answer timeout, 502 when it closes).
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const net = require('node:net');
const { once } = require('node:events');
const { onLoopback, startPen, stderrMatching } = require('../support/harness');

const GET = (path) => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;
const SMUGGLING = 'POST /admin HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n';
const BAD_CHUNK = 'POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n';

/** Sends bytes in one write; resolves with all the balancer sent back before it closed, and how long that took. */
async function exchange(port, bytes) {
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => {});
  const chunks = [];
  s.on('data', (d) => chunks.push(d));
  await once(s, 'connect');
  const start = Date.now();
  s.write(bytes);
  await once(s, 'close');
  return { reply: Buffer.concat(chunks).toString('latin1'), ms: Date.now() - start };
}

/** The responses in text, each { status, body } (Content-Length or chunked); `rest` what follows the last. */
function responses(text) {
  const found = [];
  let p = 0;
  while (p < text.length) {
    const headEnd = text.indexOf('\r\n\r\n', p);
    if (headEnd < 0) break;
    const head = text.slice(p, headEnd);
    const status = Number(/^HTTP\/1\.[01] (\d{3}) /.exec(head)?.[1]);
    if (!status) break;
    let q = headEnd + 4;
    let body = '';
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    if (length) {
      body = text.slice(q, q + Number(length[1]));
      q += Number(length[1]);
    } else if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
      for (;;) {
        const lineEnd = text.indexOf('\r\n', q);
        const size = parseInt(text.slice(q, lineEnd), 16);
        q = lineEnd + 2;
        if (size === 0) break;
        body += text.slice(q, q + size);
        q += size + 2;
      }
      q = text.indexOf('\r\n\r\n', q - 2) + 4; // after the trailers
    }
    found.push({ status, body });
    p = q;
  }
  return { found, rest: text.slice(p) };
}

/** A node:http backend: `/N` is answered with its name, `/chunked/N` in two chunks a turn apart. */
async function namingBackend(t) {
  const server = http.createServer((req, res) => {
    server.requests.push(req.url);
    if (req.url.startsWith('/chunked/')) {
      res.write(`answer to ${req.url}, `);
      setImmediate(() => res.end('in two chunks'));
    } else {
      res.end(`answer to ${req.url}`);
    }
  });
  server.requests = [];
  return onLoopback(t, server);
}

/** A raw backend: `onRequest(socket)` once the first bytes of a connection came. */
async function rawBackend(t, onRequest) {
  const server = net.createServer((sock) => {
    sock.on('error', () => {});
    sock.once('data', () => onRequest(sock));
  });
  return onLoopback(t, server);
}

test('a good GET and a smuggling attempt in one write: the full answer to the GET, then 400, then the close', async (t) => {
  const be = await namingBackend(t);
  const pen = await startPen(t, ['-H', `127.0.0.1:${be.port}`]);
  const { reply } = await exchange(pen.port, GET('/1') + SMUGGLING);
  const { found, rest } = responses(reply);
  assert.deepEqual(found.map((r) => r.status), [200, 400], reply);
  assert.equal(found[0].body, 'answer to /1');
  assert.equal(rest, '');
  assert.deepEqual(be.requests, ['/1'], 'the server never sees the refused request');
  await stderrMatching(pen.child, /HTTP 400 to 127\.0\.0\.1: both Content-Length and Transfer-Encoding/);
});

test('two pipelined GETs before garbage: both answers in order (chunked, then by length), then 400', async (t) => {
  const be = await namingBackend(t);
  const pen = await startPen(t, ['-H', `127.0.0.1:${be.port}`]);
  const { reply } = await exchange(pen.port, `${GET('/chunked/1')}${GET('/2')}hello there\r\n\r\n`);
  const { found, rest } = responses(reply);
  assert.deepEqual(found, [
    { status: 200, body: 'answer to /chunked/1, in two chunks' },
    { status: 200, body: 'answer to /2' },
    { status: 400, body: found[2]?.body },
  ], reply);
  assert.equal(rest, '');
  assert.deepEqual(be.requests, ['/chunked/1', '/2']);
});

test('a bad body: the request before it is answered, then 400 at once (its own half-sent request is not waited for)', async (t) => {
  const be = await rawBackend(t, (sock) => {
    // answers the GET, and (as servers may) the POST on its head alone: that answer is not passed on
    sock.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirstHTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n');
  });
  const pen = await startPen(t, ['-H', '-o', 'http_head_timeout 30', `127.0.0.1:${be.port}`]);
  const { reply, ms } = await exchange(pen.port, GET('/1') + BAD_CHUNK);
  const { found, rest } = responses(reply);
  assert.deepEqual(found, [{ status: 200, body: 'first' }, { status: 400, body: found[1]?.body }], reply);
  assert.equal(rest, '');
  assert.ok(ms < 10000, `answered after ${ms} ms, not after the answer timeout`);
});

test('a backend that never answers: 504 once it has been silent for http_answer_timeout, then the close', async (t) => {
  let received = 0;
  const be = await onLoopback(t, net.createServer((sock) => sock.on('data', (d) => { received += d.length; })));
  const pen = await startPen(t, ['-H', '-o', 'http_answer_timeout 1', `127.0.0.1:${be.port}`]);
  const { reply, ms } = await exchange(pen.port, GET('/1') + SMUGGLING);
  const { found, rest } = responses(reply);
  assert.deepEqual(found.map((r) => r.status), [504], reply);
  assert.equal(rest, '');
  assert.ok(ms >= 900 && ms < 10000, `closed after ${ms} ms`);
  assert.ok(received > 0, 'the GET went to the server');
  await stderrMatching(pen.child, /HTTP 504 to 127\.0\.0\.1: no answer from the server in time/);
});

test('a backend that closes without answering: 502 and the close, no waiting', async (t) => {
  const be = await rawBackend(t, (sock) => sock.end());
  const pen = await startPen(t, ['-H', '-o', 'http_head_timeout 30', `127.0.0.1:${be.port}`]);
  const { reply, ms } = await exchange(pen.port, GET('/1') + SMUGGLING);
  const { found, rest } = responses(reply);
  assert.deepEqual(found.map((r) => r.status), [502], reply);
  assert.equal(rest, '');
  assert.ok(ms < 10000, `closed after ${ms} ms`);
  await stderrMatching(pen.child, /HTTP 502 to 127\.0\.0\.1: the server closed before answering/);
});

test('a backend that answers one of two and closes: that answer, then 502 in place of the other', async (t) => {
  const be = await rawBackend(t, (sock) => sock.end('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none'));
  const pen = await startPen(t, ['-H', '-o', 'http_head_timeout 30', `127.0.0.1:${be.port}`]);
  const { reply } = await exchange(pen.port, GET('/1') + GET('/2') + SMUGGLING);
  const { found, rest } = responses(reply);
  assert.deepEqual(found.map((r) => [r.status, r.status === 200 ? r.body : '']), [[200, 'one'], [502, '']], reply);
  assert.equal(rest, '');
});

test('an answer that runs to the close gets nothing of ours appended: it ends with the server\'s close', async (t) => {
  const answer = 'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\na body that ends with the connection';
  const be = await rawBackend(t, (sock) => sock.end(answer));
  const pen = await startPen(t, ['-H', '-o', 'http_head_timeout 30', `127.0.0.1:${be.port}`]);
  const { reply } = await exchange(pen.port, GET('/1') + SMUGGLING);
  assert.equal(reply, answer);
});

test('a refused request with nothing owed is still answered at once', async (t) => {
  const be = await namingBackend(t);
  const pen = await startPen(t, ['-H', '-o', 'http_head_timeout 30', `127.0.0.1:${be.port}`]);
  const { reply, ms } = await exchange(pen.port, SMUGGLING + GET('/1'));
  assert.deepEqual(responses(reply).found.map((r) => r.status), [400], reply);
  assert.ok(ms < 10000);
  assert.deepEqual(be.requests, []);
});
