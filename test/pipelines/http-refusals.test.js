'use strict';
// What the balancer answers itself on an HTTP listener (-H) when a request is bad: through
// bin/pen, the client gets the status and the connection closes; the backend sees nothing.
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { once } = require('node:events');
const { onLoopback, startPen, stderrMatching } = require('../support/harness');

/** A backend that counts the bytes it was sent and answers nothing. */
async function countingBackend(t) {
  const server = net.createServer((sock) => sock.on('data', (d) => { server.received += d.length; }));
  server.received = 0;
  return onLoopback(t, server);
}

/** Sends bytes and resolves with everything the balancer sent back before it closed. */
async function refusal(port, bytes) {
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => {});
  let reply = '';
  s.on('data', (d) => { reply += d; });
  s.write(bytes);
  await once(s, 'close');
  return reply;
}

test('not HTTP at all (a TLS hello, an SSH banner, a bare word): 400 at once, no waiting for more', async (t) => {
  const be = await countingBackend(t);
  const pen = await startPen(t, ['-H', `127.0.0.1:${be.port}`]);
  for (const bytes of [Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00]), 'SSH-2.0-OpenSSH_9.2\r\n', 'hello\r\n']) {
    assert.match(await refusal(pen.port, bytes), /^HTTP\/1\.1 400 Bad Request\r\n/, JSON.stringify(bytes.toString()));
  }
  assert.equal(be.received, 0);
  await stderrMatching(pen.child, /HTTP 400 to 127\.0\.0\.1: not an HTTP request/); // and each refusal is logged
});

test('a long request line 414, a large head 431 (limit set by http_header_max), a huge length 413', async (t) => {
  const be = await countingBackend(t);
  const pen = await startPen(t, ['-H', '-o', 'http_header_max 2048', `127.0.0.1:${be.port}`]);
  assert.match(await refusal(pen.port, `GET /${'a'.repeat(4000)} HTTP/1.1\r\nHost: x\r\n\r\n`), /^HTTP\/1\.1 414 URI Too Long\r\n/);
  assert.match(await refusal(pen.port, `GET / HTTP/1.1\r\n${'X-Filler: 0123456789\r\n'.repeat(120)}\r\n`), /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
  assert.match(await refusal(pen.port, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999\r\n\r\n'), /^HTTP\/1\.1 413 Content Too Large\r\n/);
  assert.equal(be.received, 0);
});

test('http_head_timeout: a request head that stops half way gets 408', async (t) => {
  const be = await countingBackend(t);
  const pen = await startPen(t, ['-H', '-o', 'http_head_timeout 1', `127.0.0.1:${be.port}`]);
  assert.match(await refusal(pen.port, 'GET / HTTP/1.1\r\nHost: x\r\n'), /^HTTP\/1\.1 408 Request Timeout\r\n/);
  assert.equal(be.received, 0);
  // a client that connects and sends nothing is closed once the time is up, without a word
  const silent = require('node:net').connect(pen.port, '127.0.0.1');
  let got = '';
  silent.on('data', (d) => { got += d; });
  const started = Date.now();
  await new Promise((r) => silent.once('close', r));
  assert.equal(got, '');
  assert.ok(Date.now() - started >= 900, 'not before http_head_timeout');
});
