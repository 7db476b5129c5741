'use strict';
// bin/pen -H end to end: X-Forwarded-* on every request of a keep-alive connection, errors, Upgrade over TLS.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const net = require('node:net');
const tls = require('node:tls');
const { once } = require('node:events');
const { Client } = require('undici');
const { startPen, freePort, unansweredServer, onLoopback } = require('../support/harness');
const { certificateSet } = require('../support/certs');

async function headerEcho(t) {
  const server = http.createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ url: req.url, port: req.socket.remotePort, xff: req.headers['x-forwarded-for'], proto: req.headers['x-forwarded-proto'], xport: req.headers['x-forwarded-port'], forwarded: req.headers.forwarded }));
  });
  server.on('upgrade', (req, socket) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n');
    socket.pipe(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  return server;
}

test('every request of a keep-alive connection gets X-Forwarded-For, appended to the client\'s', async (t) => {
  const be = await headerEcho(t);
  const pen = await startPen(t, ['-H', `127.0.0.1:${be.address().port}`]);
  const client = new Client(`http://127.0.0.1:${pen.port}`, { localAddress: '127.0.0.8', pipelining: 1 });
  t.after(() => client.close());
  const answers = [];
  for (const url of ['/1', '/2', '/3']) {
    const r = await client.request({ path: url, method: 'GET', headers: url === '/2' ? { 'x-forwarded-for': '203.0.113.9' } : {} });
    answers.push(await r.body.json());
  }
  assert.equal(new Set(answers.map((a) => a.port)).size, 1, 'one backend connection');
  assert.deepEqual(answers.map((a) => a.xff), ['127.0.0.8', '203.0.113.9, 127.0.0.8', '127.0.0.8']);
  assert.ok(answers.every((a) => a.proto === 'http'));
});

test('a smuggling attempt gets 400 and the connection is closed; the backend sees nothing', async (t) => {
  let requests = 0;
  const be = http.createServer((req, res) => { requests++; res.end(); });
  be.listen(0, '127.0.0.1');
  await once(be, 'listening');
  t.after(() => be.close());
  const pen = await startPen(t, ['-H', `127.0.0.1:${be.address().port}`]);
  const reply = await new Promise((resolve) => {
    const s = net.connect(pen.port, '127.0.0.1');
    let r = '';
    s.on('data', (d) => { r += d; });
    s.on('close', () => resolve(r));
    s.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\n');
  });
  assert.match(reply, /^HTTP\/1\.1 400 Bad Request\r\n/);
  assert.equal(requests, 0);
});

test('no server: 503; server refusing: 502', async (t) => {
  const blacklisted = await startPen(t, ['-H', '-o', 'server 0 blacklist 60', `127.0.0.1:${await freePort()}`]);
  const get = async (port) => {
    const c = new Client(`http://127.0.0.1:${port}`);
    try { return (await c.request({ path: '/', method: 'GET' })).statusCode; } finally { await c.close(); }
  };
  assert.equal(await get(blacklisted.port), 503);
  const refused = await startPen(t, ['-H', `127.0.0.1:${await freePort()}`]);
  assert.equal(await get(refused.port), 502);
});

test('over TLS: X-Forwarded-Proto https and X-Forwarded-Port; a WebSocket-style Upgrade turns the connection raw', async (t) => {
  const certs = await certificateSet(t);
  const be = await headerEcho(t);
  const pen = await startPen(t, ['-H', '-E', certs.serverCert, '-K', certs.serverKey, `127.0.0.1:${be.address().port}`]);
  const s = tls.connect({ port: pen.port, host: '127.0.0.1', servername: 'localhost', ca: certs.ca.cert });
  await once(s, 'secureConnect');
  let got = '';
  s.on('data', (d) => { got += d; });
  s.write('GET /h HTTP/1.1\r\nHost: x\r\n\r\n');
  while (!got.includes('}')) await once(s, 'data');
  const body = JSON.parse(got.slice(got.indexOf('{')));
  assert.equal(body.proto, 'https');
  assert.equal(body.xport, String(pen.port));
  got = '';
  s.write('GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n');
  while (!got.includes('\r\n\r\n')) await once(s, 'data');
  assert.match(got, /^HTTP\/1\.1 101 /);
  got = '';
  s.write('GET /not-http-anymore\r\n\r\n');
  while (got.length < 24) await once(s, 'data');
  assert.equal(got, 'GET /not-http-anymore\r\n\r\n');
  s.destroy();
});

test('trusted_proxies: a trusted proxy\'s X-Forwarded-For names the client for routing; forwarded rfc7239 adds Forwarded', async (t) => {
  const [us, de] = await Promise.all([headerEcho(t), headerEcho(t)]);
  const pen = await startPen(t, ['-H', '-o', 'geo_map 198.51.100.0/24 US NA', '-o', 'geo_map 203.0.113.0/24 DE EU', '-o', 'geo_routing on',
    '-o', `server 0 address 127.0.0.1 port ${us.address().port} geo US`, '-o', `server 1 address 127.0.0.1 port ${de.address().port} geo DE`,
    '-o', 'acl 6 permit 127.0.0.1', '-o', 'trusted_proxies 6', '-o', 'forwarded rfc7239', 'LISTEN'], { control: true });
  const ask = async (localAddress, xff) => {
    const c = new Client(`http://127.0.0.1:${pen.port}`, { localAddress });
    try {
      const r = await c.request({ path: '/', method: 'GET', headers: { 'x-forwarded-for': xff } });
      return { server: r.headers['x-server'], body: await r.body.json() };
    } finally { await c.close(); }
  };
  const viaProxy = await ask('127.0.0.1', '203.0.113.50');
  assert.equal(viaProxy.body.xff, '203.0.113.50, 127.0.0.1');
  assert.equal(viaProxy.body.forwarded, 'for=127.0.0.1;proto=http');
  const { penctl } = require('../support/harness');
  const clients = (await penctl(`127.0.0.1:${pen.ctl}`, 'clients')).stdout;
  assert.match(clients, /^203\.0\.113\.50 country DE continent EU server 1 /m);
  const untrusted = await ask('127.0.0.3', '203.0.113.51');
  assert.equal(untrusted.body.xff, '203.0.113.51, 127.0.0.3');
  assert.match((await penctl(`127.0.0.1:${pen.ctl}`, 'clients')).stdout, /^127\.0\.0\.3 /m);
});

test('trusted_proxies: the real client is the one the log names and client_acl judges', async (t) => {
  const fs = require('node:fs');
  const os = require('node:os');
  const path = require('node:path');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pen-trusted-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const log = path.join(dir, 'pen.log');
  const be = await headerEcho(t);
  const pen = await startPen(t, ['-H', '-l', log, '-o', 'acl 6 permit 127.0.0.1', '-o', 'trusted_proxies 6',
    '-o', 'acl 7 deny 203.0.113.0 255.255.255.0', '-o', 'client_acl 7', `127.0.0.1:${be.address().port}`]);
  const ask = async (xff) => {
    const c = new Client(`http://127.0.0.1:${pen.port}`);
    try {
      const r = await c.request({ path: '/who', method: 'GET', headers: { 'x-forwarded-for': xff } });
      await r.body.dump();
      return r.statusCode;
    } catch (err) {
      return err.code; // closed without an answer
    } finally { await c.close(); }
  };
  assert.equal(await ask('198.51.100.7'), 200);
  // refused by client_acl as 203.0.113.9, not admitted as the proxy 127.0.0.1: closed, as pen closes refused clients
  assert.equal(await ask('203.0.113.9'), 'UND_ERR_SOCKET');
  const watcher = fs.watch(dir);
  t.after(() => watcher.close());
  const logged = () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '');
  while (!/\n$/.test(logged())) await once(watcher, 'change');
  assert.match(logged(), /^198\.51\.100\.7 \d+ 127\.0\.0\.1 GET \/who HTTP\/1\.1\n$/);
});

test('a backend that never completes the connect: 504 after the connect timeout', async (t) => {
  const port = await unansweredServer(t);
  const pen = await startPen(t, ['-H', '-t', '1', `127.0.0.1:${port}`]);
  const c = new Client(`http://127.0.0.1:${pen.port}`);
  t.after(() => c.close());
  assert.equal((await c.request({ path: '/', method: 'GET' })).statusCode, 504);
});

test('-H: 1,500 large request heads sent at once to a server that reads slowly arrive whole and in order', async (t) => {
  let received = '';
  let allIn;
  const arrived = new Promise((resolve) => { allIn = resolve; });
  const be = await onLoopback(t, net.createServer((s) => {
    s.on('error', () => {});
    s.on('data', (d) => { // a chunk a turn: pen-edge's writes stay partly queued while it reads on
      received += d.toString('latin1');
      if (received.includes('GET /r1499 ') && received.endsWith('\r\n\r\n')) return allIn();
      s.pause();
      setImmediate(() => s.resume());
    });
  }));
  const pen = await startPen(t, ['-H', `127.0.0.1:${be.port}`]);
  const pad = (k) => String.fromCharCode(97 + (k % 26));
  const heads = Array.from({ length: 1500 }, (_, k) => `GET /r${k} HTTP/1.1\r\nHost: x\r\nX-Pad: ${pad(k).repeat(8000)}\r\n\r\n`);
  const client = net.connect(pen.port, '127.0.0.1').on('error', () => {});
  t.after(() => client.destroy());
  client.on('data', () => {});
  for (let k = 0; k < heads.length; k += 7) client.write(heads.slice(k, k + 7).join('')); // heads split across reads anywhere
  await arrived;
  const got = received.split('\r\n\r\n').filter(Boolean);
  assert.equal(got.length, heads.length);
  got.forEach((head, k) => assert.ok(head.startsWith(`GET /r${k} HTTP/1.1\r\nHost: x\r\nX-Pad: ${pad(k).repeat(8000)}\r\nX-Forwarded-For: 127.0.0.1`), `head ${k} arrived whole`));
});

test('-H: request trailers pass on, but one naming a forwarding or client certificate header is refused, never sent', async (t) => {
  let received = '';
  const be = await onLoopback(t, net.createServer((s) => {
    s.on('error', () => {});
    s.on('data', (d) => {
      received += d.toString('latin1');
      if (received.endsWith('\r\n\r\n') && received.includes('0\r\n')) s.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
  }));
  const pen = await startPen(t, ['-H', `127.0.0.1:${be.port}`]);
  const post = async (trailer) => {
    const client = net.connect(pen.port, '127.0.0.1').on('error', () => {});
    t.after(() => client.destroy());
    client.end(`POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n${trailer}\r\n\r\n`);
    let answer = '';
    for await (const chunk of client) answer += chunk;
    return answer;
  };
  assert.match(await post('X-Checksum: abc'), /^HTTP\/1\.1 200 /);
  assert.match(received, /\r\n0\r\nX-Checksum: abc\r\n\r\n$/);
  for (const spoof of ['X-Forwarded-For: 6.6.6.6', 'X-Client-Verify: SUCCESS', 'X-Note: a\u0001b']) {
    received = '';
    assert.match(await post(spoof), /^HTTP\/1\.1 400 /, spoof);
    assert.ok(!received.includes(spoof), `${spoof} never reached the server`);
  }
});
