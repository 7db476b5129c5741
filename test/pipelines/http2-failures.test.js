'use strict';
// HTTP/2 clients when servers close or fail, and while requests wait for a connection: what is
// sent again, where, what the client gets, and that none of it is blamed on the wrong side.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const net = require('node:net');
const tls = require('node:tls');
const { once } = require('node:events');
const { onLoopback, unansweredServer, controlOf, stderrMatching } = require('../support/harness');
const { h2Pen, h2Session, h2Request, echoingBackend } = require('../support/h2');

/** A raw server that answers each connection's first request with `answer` and then does `after(socket)`. */
function rawServer(t, answer, after) {
  return onLoopback(t, net.createServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', () => {
      socket.write(answer);
      after(socket);
    });
  }));
}

test('a server that closes after every answer (HTTP/1.0): a burst of GETs is all answered, pipelining stops, the server is not blamed', async (t) => {
  const be = await rawServer(t, 'HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok', (socket) => socket.end());
  const pen = await h2Pen(t, [be.port], [], { control: true });
  const session = await h2Session(t, pen.port);
  for (let i = 0; i < 3; i++) assert.equal((await h2Request(session, { ':path': `/warm${i}` })).status, 200); // known fast now
  const burst = await Promise.all(Array.from({ length: 20 }, (_, i) => h2Request(session, { ':path': `/burst${i}` })));
  assert.deepEqual(burst.map((a) => a.status), Array(20).fill(200));
  assert.equal((await h2Request(session, { ':path': '/after' })).status, 200);
  assert.doesNotMatch(await controlOf(pen)('servers'), /blacklisted/i);
  assert.doesNotMatch(pen.child.stderrText, /HTTP 50\d/);
});

test('a PUT whose server hangs up before the body goes to the next server with its body, which came after the failure', async (t) => {
  const hanging = await onLoopback(t, net.createServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', () => socket.destroy());
  }));
  const live = await echoingBackend(t, 'live');
  const pen = await h2Pen(t, [hanging.port, `${live.port}:0:0:0:1`], ['-d', '-o', 'prio']);
  const session = await h2Session(t, pen.port);
  const stream = session.request({ ':method': 'PUT', ':path': '/put' }, { endStream: false });
  const answered = (async () => {
    const [headers] = await once(stream, 'response');
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    return { status: headers[':status'], body: JSON.parse(Buffer.concat(chunks).toString()) };
  })();
  await stderrMatching(pen.child, /blacklisting server 0/); // pen-edge has seen the failure: the request moves on
  stream.end('hello');
  const { status, body } = await answered;
  assert.equal(status, 200);
  assert.deepEqual([body.name, body.method, body.bytes], ['live', 'PUT', 5]);
});

test('requests waiting for a connection to a server whose connect timed out go where their client went, after one timeout, not one each', async (t) => {
  const silent = await unansweredServer(t);
  const live = await echoingBackend(t, 'live');
  const pen = await h2Pen(t, [`${silent}:1`, `${live.port}:0:0:0:1`], ['-o', 'prio', '-t', '1']);
  const session = await h2Session(t, pen.port);
  const started = performance.now();
  const answers = await Promise.all([0, 1, 2, 3].map((i) => h2Request(session, { ':path': `/wait${i}` })));
  assert.deepEqual(answers.map((a) => JSON.parse(a.body.toString()).name), ['live', 'live', 'live', 'live']);
  // one after another, each would have waited for a connect timeout of its own: 4 s
  assert.ok(performance.now() - started < 2500, `answered after ${Math.round(performance.now() - started)} ms`);
});

test('a request whose whole body came while it waited for a connection is not timed out for it (http_head_timeout)', async (t) => {
  let release;
  const released = new Promise((resolve) => { release = resolve; });
  const be = await onLoopback(t, http.createServer((req, res) => {
    let bytes = 0;
    req.on('data', (c) => { bytes += c.length; });
    req.on('end', () => {
      if (req.url === '/slow') released.then(() => res.end('slow\n'));
      else res.end(`${req.method} ${bytes}\n`);
    });
  }));
  const pen = await h2Pen(t, [`${be.port}:1`], ['-o', 'http_head_timeout 1']);
  const session = await h2Session(t, pen.port);
  const slow = h2Request(session, { ':path': '/slow' });
  await once(be, 'request');
  const post = h2Request(session, { ':method': 'POST', ':path': '/post' }, 'whole body');
  setTimeout(release, 1500).unref(); // the POST waits for the one connection longer than http_head_timeout
  const answer = await post;
  assert.deepEqual([answer.status, answer.body.toString()], [200, 'POST 10\n']);
  assert.equal((await slow).status, 200);
});

test('resets pen-edge sends when servers cut answers off do not count as the client\'s rapid reset', async (t) => {
  const be = await rawServer(t, 'HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nabc', (socket) => socket.destroy());
  const pen = await h2Pen(t, [be.port], ['-o', 'http2_max_streams 3']);
  const session = await h2Session(t, pen.port);
  let goaway;
  session.on('goaway', (code) => { goaway = code; });
  for (let i = 0; i < 6; i++) {
    const answer = await h2Request(session, { ':path': `/cut${i}` });
    assert.ok(answer.reset !== undefined || answer.body.length < 100, 'the client learns the answer was cut off');
  }
  assert.equal(goaway, undefined);
  assert.ok(!session.closed && !session.destroyed);
  assert.doesNotMatch(pen.child.stderrText, /rapid reset/);
});

test('an answer with both Transfer-Encoding and Content-Length is framed by the encoding, and its Content-Length left out', async (t) => {
  const be = await rawServer(t, 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n', () => {});
  const pen = await h2Pen(t, [be.port]);
  const session = await h2Session(t, pen.port);
  const answer = await h2Request(session, { ':path': '/' });
  assert.equal(answer.status, 200);
  assert.equal(answer.headers['content-length'], undefined);
  assert.equal(answer.body.toString(), 'hello');
});

test('a request the client resets while it waits for a connection is never sent to the server', async (t) => {
  const paths = [];
  let release;
  const released = new Promise((resolve) => { release = resolve; });
  const be = await onLoopback(t, http.createServer((req, res) => {
    paths.push(req.url);
    req.resume();
    if (req.url === '/slow') released.then(() => res.end('slow\n'));
    else res.end('ok\n');
  }));
  const pen = await h2Pen(t, [`${be.port}:1`]);
  const session = await h2Session(t, pen.port);
  const slow = h2Request(session, { ':path': '/slow' });
  await once(be, 'request');
  const cancelled = session.request({ ':method': 'POST', ':path': '/cancelled' }, { endStream: false });
  cancelled.on('error', () => {});
  cancelled.write('part of a body');
  cancelled.close(0x8); // CANCEL
  await once(cancelled, 'close');
  release();
  assert.equal((await slow).status, 200);
  assert.equal((await h2Request(session, { ':path': '/after' })).status, 200);
  assert.deepEqual(paths, ['/slow', '/after']);
});

for (const goaway of [false, true]) {
  test(`a client that ends its side of the connection ${goaway ? 'after' : 'without'} GOAWAY gets the answers under way, then the connection closes, and only the next client is counted`, async (t) => {
    const held = [];
    const be = await onLoopback(t, http.createServer((req, res) => {
      req.resume();
      if (req.url.startsWith('/held')) held.push(res);
      else res.end('ok\n');
    }));
    const pen = await h2Pen(t, [be.port], [], { control: true });
    const raw = tls.connect({ port: pen.port, host: '127.0.0.1', servername: 'localhost', rejectUnauthorized: false, ALPNProtocols: ['h2'] });
    const leaving = await h2Session(t, pen.port, { createConnection: () => raw });
    const answers = Array.from({ length: 3 }, (_, i) => h2Request(leaving, { ':path': `/held${i}` }));
    while (held.length < 3) await once(be, 'request');
    if (goaway) leaving.goaway(0);
    raw.end(); // done sending; it still reads
    for (const res of held) res.end('late\n');
    assert.deepEqual((await Promise.all(answers)).map((a) => [a.status, String(a.body)]), Array(3).fill([200, 'late\n']));
    await once(raw, 'close'); // pen-edge closed its side too
    const next = await h2Session(t, pen.port);
    assert.equal((await h2Request(next, { ':path': '/' })).status, 200);
    assert.match((await controlOf(pen)('servers')).split('\n')[0], / conn 1 /);
  });
}
