'use strict';
// The raw path: every byte both ways, half-close passed on, counters per server and client.
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const crypto = require('node:crypto');
const { once } = require('node:events');
const { echoBackend, onLoopback, readSlowly, sendingBackend, startPen, penctl } = require('../support/harness');

test('a large transfer arrives intact in both directions', async (t) => {
  const be = await echoBackend(t);
  const pen = await startPen(t, [`127.0.0.1:${be.port}`]);
  const payload = crypto.randomBytes(8 * 1024 * 1024);
  const s = net.connect(pen.port, '127.0.0.1');
  const chunks = [];
  s.on('data', (c) => chunks.push(c));
  s.end(payload); // half-close: the echo must still come back in full
  await once(s, 'close');
  assert.ok(Buffer.concat(chunks).equals(payload));
});

test('after the client half-closes, the server reply still reaches it', async (t) => {
  const server = net.createServer({ allowHalfOpen: true }, (sock) => {
    const got = [];
    sock.on('data', (c) => got.push(c));
    sock.on('end', () => sock.end(`got ${Buffer.concat(got).length} bytes`));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const pen = await startPen(t, [`127.0.0.1:${server.address().port}`]);
  const s = net.connect(pen.port, '127.0.0.1');
  let reply = '';
  s.on('data', (c) => { reply += c; });
  s.end('x'.repeat(1000));
  await once(s, 'close');
  assert.equal(reply, 'got 1000 bytes');
});

test('servers and recent count connections and bytes', async (t) => {
  const be = await echoBackend(t);
  const pen = await startPen(t, [`127.0.0.1:${be.port}`], { control: true });
  const s = net.connect({ port: pen.port, host: '127.0.0.1', localAddress: '127.0.0.7' });
  s.write('0123456789');
  await once(s, 'data');
  const during = await penctl(`127.0.0.1:${pen.ctl}`, 'servers');
  assert.match(during.stdout, /^0 addr 127\.0\.0\.1 port \d+ conn 1 max 0 hard 0 weight 0 prio 0 sx 10 rx 10\n$/);
  s.end();
  await once(s, 'close');
  let after;
  do after = await penctl(`127.0.0.1:${pen.ctl}`, 'servers'); while (!/conn 0/.test(after.stdout));
  const recent = await penctl(`127.0.0.1:${pen.ctl}`, 'recent');
  assert.equal(recent.stdout, '127.0.0.7 connects 1 sx 10 rx 10\n');
});

test('tcp_fastclose both: one side closing closes the other at once', async (t) => {
  const server = net.createServer({ allowHalfOpen: true }, (sock) => sock.on('error', () => {}).resume());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const pen = await startPen(t, ['-o', 'tcp_fastclose both', `127.0.0.1:${server.address().port}`]);
  const s = net.connect({ port: pen.port, host: '127.0.0.1', allowHalfOpen: true });
  await once(server, 'connection');
  s.resume();
  s.end();
  await once(s, 'end'); // the backend never closed: pen closed the client side at once
  s.destroy();
});

test('tcp_fastclose both: the last bytes before a close still arrive, both ways, for many connections at once', async (t) => {
  const said = Array.from({ length: 20 }, (_, n) => `last words ${n} `.repeat(n + 1));
  const heard = [];
  let allHeard;
  const everyoneHeard = new Promise((resolve) => { allHeard = resolve; });
  const listener = await onLoopback(t, net.createServer((sock) => {
    let got = '';
    sock.on('data', (c) => { got += c; }).on('error', () => {}).on('end', () => {
      if (heard.push(got) === said.length) allHeard();
    });
  }));
  const talker = await onLoopback(t, net.createServer((sock) => sock.on('error', () => {}).end(`goodbye ${sock.remotePort}`)));
  const toListener = await startPen(t, ['-o', 'tcp_fastclose both', `127.0.0.1:${listener.port}`]);
  const fromTalker = await startPen(t, ['-o', 'tcp_fastclose both', `127.0.0.1:${talker.port}`]);
  await Promise.all(said.map(async (words) => {
    const s = net.connect({ port: toListener.port, host: '127.0.0.1', allowHalfOpen: true }).on('error', () => {});
    s.resume();
    s.end(words);
    await once(s, 'close');
  }));
  await everyoneHeard;
  assert.deepEqual([...heard].sort(), [...said].sort());
  const farewells = await Promise.all(said.map(async () => {
    const s = net.connect(fromTalker.port, '127.0.0.1');
    let got = '';
    s.on('data', (c) => { got += c; });
    await once(s, 'close');
    return got;
  }));
  assert.ok(farewells.every((f) => /^goodbye \d+$/.test(f)), farewells.join(' | '));
});

test('idle_timeout closes a connection with no traffic', async (t) => {
  const be = await echoBackend(t);
  const pen = await startPen(t, ['-o', 'idle_timeout 1', `127.0.0.1:${be.port}`]);
  const s = net.connect(pen.port, '127.0.0.1');
  s.resume();
  await once(s, 'close');
});

test('a server that speaks first reaches a client that sends nothing', async (t) => {
  const banner = await onLoopback(t, net.createServer((sock) => sock.end('220 ready\r\n')));
  const pen = await startPen(t, [`127.0.0.1:${banner.port}`]);
  const s = net.connect(pen.port, '127.0.0.1');
  let got = '';
  s.on('data', (c) => { got += c; });
  await once(s, 'end');
  s.destroy();
  assert.equal(got, '220 ready\r\n');
});

test('a slow reader gets every byte of a large reply in order', async (t) => {
  const payload = crypto.randomBytes(16 * 1024 * 1024);
  const source = await sendingBackend(t, payload);
  const pen = await startPen(t, [`127.0.0.1:${source.port}`]);
  const got = await readSlowly(net.connect(pen.port, '127.0.0.1'));
  assert.equal(got.length, payload.length);
  assert.equal(got.sha256, crypto.createHash('sha256').update(payload).digest('hex'));
});

test('bytes sent with the PROXY header and a half-close before the server answers all arrive', async (t) => {
  const be = await echoBackend(t);
  const pen = await startPen(t, ['-o', 'acl 5 permit 127.0.0.1', '-o', 'proxy_protocol 5', `127.0.0.1:${be.port}`]);
  const body = crypto.randomBytes(100_000);
  const s = net.connect(pen.port, '127.0.0.1');
  const chunks = [];
  s.on('data', (c) => chunks.push(c));
  s.end(Buffer.concat([Buffer.from('PROXY TCP4 203.0.113.7 127.0.0.1 40000 80\r\n'), body]));
  await once(s, 'close');
  assert.ok(Buffer.concat(chunks).equals(body));
});

test('connection after connection (reusing read buffers), each gets exactly its own bytes back', async (t) => {
  const be = await echoBackend(t);
  const pen = await startPen(t, [`127.0.0.1:${be.port}`]);
  const transfer = async () => {
    const payload = crypto.randomBytes(256 * 1024);
    const s = net.connect(pen.port, '127.0.0.1');
    const chunks = [];
    s.on('data', (c) => chunks.push(c));
    s.end(payload);
    await once(s, 'close');
    return Buffer.concat(chunks).equals(payload);
  };
  for (let round = 0; round < 10; round++) {
    assert.deepEqual(await Promise.all([transfer(), transfer(), transfer()]), [true, true, true], `round ${round}`);
  }
});

test('many connections sending small pieces at once (writes gathered together) each get exactly their bytes back', async (t) => {
  const be = await echoBackend(t);
  const pen = await startPen(t, [`127.0.0.1:${be.port}`]);
  const talk = async () => {
    const pieces = Array.from({ length: 150 }, () => crypto.randomBytes(1 + crypto.randomInt(3000)));
    const sent = Buffer.concat(pieces);
    const s = net.connect(pen.port, '127.0.0.1');
    const chunks = [];
    s.on('data', (c) => chunks.push(c));
    await once(s, 'connect');
    for (const piece of pieces) {
      if (!s.write(piece)) await once(s, 'drain'); // eslint-disable-line no-await-in-loop
      await new Promise(setImmediate); // eslint-disable-line no-await-in-loop
    }
    s.end();
    await once(s, 'close');
    return Buffer.concat(chunks).equals(sent);
  };
  const results = await Promise.all(Array.from({ length: 30 }, talk));
  assert.equal(results.filter(Boolean).length, 30);
});

