'use strict';
// HTTP/2 clients that attack: each is closed with GOAWAY and the code that says why, one line in
// the log tells it, and the other clients are served all along.
const test = require('node:test');
const assert = require('node:assert/strict');
const { startPen, stderrMatching } = require('../support/harness');
const { certificateSet } = require('../support/certs');
const { h2Session, h2Request, echoingBackend } = require('../support/h2');
const f = require('../support/h2-frames');

/** pen-edge with -H on TLS in front of one echoing backend, and a well-behaved client already connected. */
async function attacked(t, options = []) {
  const certs = await certificateSet(t);
  const be = await echoingBackend(t, 'a');
  const pen = await startPen(t, ['-H', '-E', certs.serverCert, '-K', certs.serverKey, ...options, `127.0.0.1:${be.port}`]);
  const bystander = await h2Session(t, pen.port);
  assert.equal((await h2Request(bystander, {})).status, 200);
  return { pen, bystander };
}

/** Many frames in one write. */
const repeated = (n, make) => Buffer.concat(Array.from({ length: n }, (_, i) => make(i)));

/** The code of the GOAWAY the attacker got; a reset connection (the server closed with the flood still unread) counts as none. */
async function goawayOf(attacker, flood) {
  attacker.socket.write(flood);
  return attacker.goaway;
}

test('rapid reset (CVE-2023-44487): streams opened and reset at once → GOAWAY ENHANCE_YOUR_CALM', { timeout: 30000 }, async (t) => {
  const { pen, bystander } = await attacked(t, ['-o', 'http2_max_streams 50']);
  const attacker = await f.rawHttp2(pen.port);
  const code = await goawayOf(attacker, repeated(500, (i) => Buffer.concat([f.headers(1 + 2 * i, f.request(`/${i}`)), f.rstStream(1 + 2 * i)])));
  assert.equal(code, 'ENHANCE_YOUR_CALM');
  await stderrMatching(pen.child, /HTTP\/2 connection from 127\.0\.0\.1 closed with ENHANCE_YOUR_CALM: more than 50 streams reset before their answers within 10 s \(rapid reset\)/);
  assert.equal((await h2Request(bystander, { ':path': '/after' })).status, 200);
});

test('CONTINUATION flood (2024): a header block that never ends → GOAWAY ENHANCE_YOUR_CALM', { timeout: 30000 }, async (t) => {
  const { pen, bystander } = await attacked(t);
  const attacker = await f.rawHttp2(pen.port);
  const flood = Buffer.concat([f.headers(1, f.request('/'), f.FLAG.END_STREAM), repeated(2000, (i) => f.continuation(1, f.headerBlock([[`x-${i}`, 'v']])))]);
  assert.equal(await goawayOf(attacker, flood), 'ENHANCE_YOUR_CALM');
  await stderrMatching(pen.child, /closed with ENHANCE_YOUR_CALM: Too many CONTINUATION frames/);
  assert.equal((await h2Request(bystander, { ':path': '/after' })).status, 200);
});

for (const [name, make] of [['SETTINGS', () => f.settings()], ['PING', (i) => f.ping(i)]]) {
  test(`${name} flood: frames whose acknowledgements pile up → ENHANCE_YOUR_CALM`, { timeout: 30000 }, async (t) => {
    const { pen, bystander } = await attacked(t);
    const attacker = await f.rawHttp2(pen.port);
    const code = await goawayOf(attacker, repeated(20000, make));
    // the GOAWAY is sent; when the server closes with part of the flood unread, TCP resets and the client may lose it
    assert.ok(code === 'ENHANCE_YOUR_CALM' || code === 'closed', code);
    await stderrMatching(pen.child, /closed with ENHANCE_YOUR_CALM: Flooding was detected/);
    assert.equal((await h2Request(bystander, { ':path': '/after' })).status, 200);
  });
}

test('OPTIONS * goes to the server as OPTIONS * HTTP/1.1; a target HTTP/1.1 cannot carry is reset (PROTOCOL_ERROR), and no server is blamed', { timeout: 30000 }, async (t) => {
  const { pen, bystander } = await attacked(t);
  const asterisk = await h2Request(bystander, { ':method': 'OPTIONS', ':path': '*' });
  assert.equal(JSON.parse(asterisk.body.toString()).url, '*');
  const client = await f.rawHttp2(pen.port);
  client.socket.write(f.headers(1, f.headerBlock([[':method', 'GET'], [':scheme', 'https'], [':path', '/a b'], [':authority', 'localhost']])));
  const reset = () => client.frames.find((x) => x.type === f.TYPE.RST_STREAM && x.stream === 1);
  while (!reset()) await new Promise((resolve) => client.socket.once('data', resolve));
  assert.equal(reset().payload.readUInt32BE(0), 1, 'PROTOCOL_ERROR');
  client.socket.destroy();
  assert.equal((await h2Request(bystander, { ':path': '/after' })).status, 200, 'the server was not blacklisted');
});

test('streams beyond http2_max_streams are refused (REFUSED_STREAM) and the connection serves on', { timeout: 30000 }, async (t) => {
  const { pen } = await attacked(t, ['-o', 'http2_max_streams 10']);
  const client = await f.rawHttp2(pen.port);
  client.socket.write(repeated(30, (i) => f.headers(1 + 2 * i, f.request('/', 'POST'), f.FLAG.END_HEADERS))); // bodies never sent: all stay open
  const refused = () => client.frames.filter((x) => x.type === f.TYPE.RST_STREAM && x.payload.readUInt32BE(0) === 7);
  while (refused().length < 20) await new Promise((resolve) => client.socket.once('data', resolve));
  assert.deepEqual(refused().map((x) => x.stream), Array.from({ length: 20 }, (_, i) => 21 + 2 * i));
  client.socket.write(f.rstStream(1)); // one ends: there is room for a new one
  client.socket.write(f.headers(61, f.request('/room')));
  const answered = () => client.frames.some((x) => x.type === f.TYPE.HEADERS && x.stream === 61);
  while (!answered()) await new Promise((resolve) => client.socket.once('data', resolve));
  client.socket.destroy();
});
