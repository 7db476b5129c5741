'use strict';
// Upgrade and CONNECT with -H: the connection turns raw only when the server switched (101, or
// 2xx to CONNECT); when it declines, what follows is still framed and gets X-Forwarded-For.
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const http = require('node:http');
const net = require('node:net');
const tls = require('node:tls');
const { once } = require('node:events');
const { onLoopback, startPen } = require('../support/harness');
const { certificateSet } = require('../support/certs');

/** Reads from s until `done(text)` holds; resolves with the text. */
async function readUntil(s, done) {
  let text = '';
  const onData = (d) => { text += d.toString('latin1'); };
  s.on('data', onData);
  while (!done(text)) await once(s, 'data');
  s.off('data', onData);
  return text;
}

/** A backend that answers every request head with 200 and the X-Forwarded-For it got, and
 *  upgrades nothing (as a server that does not speak the protocol asked for). */
async function decliningBackend(t) {
  return onLoopback(t, net.createServer((sock) => {
    let pending = '';
    sock.on('data', (d) => {
      pending += d.toString('latin1');
      for (let end; (end = pending.indexOf('\r\n\r\n')) >= 0; pending = pending.slice(end + 4)) {
        const xff = /^x-forwarded-for: (.*)$/im.exec(pending.slice(0, end))?.[1] ?? '';
        sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${xff.length + 1}\r\n\r\n${xff}\n`);
      }
    });
  }));
}

test('an upgrade the server declines leaves the connection HTTP: the next request gets our header, smuggling a 400', async (t) => {
  const be = await decliningBackend(t);
  const pen = await startPen(t, ['-H', `127.0.0.1:${be.port}`]);
  const s = net.connect({ port: pen.port, host: '127.0.0.1', localAddress: '127.0.0.5' });
  s.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n' +
    'GET /next HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n');
  const replies = await readUntil(s, (text) => text.split('HTTP/1.1 200').length === 3 && text.endsWith('\n'));
  assert.match(replies, /\r\n\r\n127\.0\.0\.5\n/);
  assert.match(replies, /\r\n\r\n6\.6\.6\.6, 127\.0\.0\.5\n$/);
  s.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
  assert.match(await readUntil(s, (text) => text.includes('\r\n\r\n')), /^HTTP\/1\.1 400 /);
  s.destroy();
});

test('a WebSocket handshake through TLS: after the 101 the frames pass both ways untouched', async (t) => {
  const certs = await certificateSet(t);
  const backend = http.createServer((req, res) => res.end());
  backend.on('upgrade', (req, socket) => {
    const accept = crypto.createHash('sha1').update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    socket.pipe(socket); // echoes the frames as they are
  });
  const be = await onLoopback(t, backend);
  const pen = await startPen(t, ['-H', '-E', certs.serverCert, '-K', certs.serverKey, `127.0.0.1:${be.port}`]);
  const s = tls.connect({ port: pen.port, host: '127.0.0.1', servername: 'localhost', ca: certs.ca.cert });
  await once(s, 'secureConnect');
  const key = crypto.randomBytes(16).toString('base64');
  s.write(`GET /chat HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  const head = await readUntil(s, (text) => text.includes('\r\n\r\n'));
  assert.match(head, /^HTTP\/1\.1 101 /);
  const expected = crypto.createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
  assert.match(head, new RegExp(`Sec-WebSocket-Accept: ${expected.replace(/[+/]/g, '\\$&')}\r\n`));
  // a masked text frame "GET / HTTP/1.1\r\n\r\n": HTTP-looking bytes must not be framed any more
  const payload = Buffer.from('GET / HTTP/1.1\r\n\r\n');
  const mask = crypto.randomBytes(4);
  const frame = Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, payload.map((b, i) => b ^ mask[i % 4])]);
  s.write(frame);
  const echoed = await readUntil(s, (text) => text.length >= frame.length);
  assert.ok(Buffer.from(echoed, 'latin1').equals(frame));
  s.destroy();
});

test('CONNECT: after a 2xx from the server the connection is a tunnel', async (t) => {
  const be = await onLoopback(t, net.createServer((sock) => {
    let head = Buffer.alloc(0);
    const readHead = (d) => { // the head and our headers may come in separate writes
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      sock.off('data', readHead);
      sock.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      sock.write(head.subarray(end + 4));
      sock.pipe(sock);
    };
    sock.on('data', readHead);
  }));
  const pen = await startPen(t, ['-H', `127.0.0.1:${be.port}`]);
  const s = net.connect(pen.port, '127.0.0.1');
  s.write('CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n');
  assert.match(await readUntil(s, (text) => text.includes('\r\n\r\n')), /^HTTP\/1\.1 200 /);
  const hello = Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00]);
  s.write(hello);
  assert.ok(Buffer.from(await readUntil(s, (text) => text.length >= hello.length), 'latin1').equals(hello));
  s.destroy();
});

test('a 101 whose head ends in bare LFs and comes in two reads still switches; so does one after a response head of 20 KiB', async (t) => {
  let second;
  const be = await onLoopback(t, net.createServer((s) => {
    s.on('error', () => {});
    let head = '';
    s.on('data', (d) => {
      if (head.endsWith('\r\n\r\n')) return void s.emit('frame', d.toString()); // switched: the client's frames
      head += d.toString();
      if (!head.endsWith('\r\n\r\n')) return;
      if (head.startsWith('GET /big')) { head = ''; return void s.write(`HTTP/1.1 200 OK\r\nX-Big: ${'b'.repeat(20 * 1024)}\r\nContent-Length: 2\r\n\r\nok`); }
      s.write('HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\nConnection: Upgrade\n'); // the rest once the client has this
      second = () => s.write('\nSERVERFRAME');
    });
    be.socket = s;
  }));
  const pen = await startPen(t, ['-H', `127.0.0.1:${be.port}`]);
  for (const before of [undefined, 'GET /big HTTP/1.1\r\nHost: x\r\n\r\n']) {
    const client = net.connect(pen.port, '127.0.0.1').on('error', () => {});
    t.after(() => client.destroy());
    let got = '';
    const gets = (text) => new Promise((resolve) => {
      const look = () => (got.includes(text) ? resolve() : client.once('data', (d) => { got += d; look(); }));
      look();
    });
    if (before) {
      client.write(before);
      await gets('\r\n\r\nok');
    }
    client.write('GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    await gets('Connection: Upgrade\n');
    second();
    await gets('SERVERFRAME');
    const frame = new Promise((resolve) => be.socket.once('frame', resolve));
    client.write('CLIENTFRAME');
    assert.equal(await frame, 'CLIENTFRAME');
  }
});
