'use strict';
// HTTP/2 clients on the TLS listener (-H): ALPN, the translation to HTTP/1.1 servers, bodies both
// ways, the balancer's choices for an h2 connection, failover, limits, logs and counts, QUIT.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const tls = require('node:tls');
const { once } = require('node:events');
const { startPen, freePort, onLoopback, unansweredServer, controlOf, fileCreated, WORKERS_NODE, NO_WORKERS_NODE } = require('../support/harness');
const { certificateSet } = require('../support/certs');
const { h2Pen, h2Session, h2Request, echoingBackend, holdingBackend } = require('../support/h2');
const { request, metric } = require('../support/web');
const run = require('node:util').promisify(require('node:child_process').execFile);

const json = (answer) => JSON.parse(answer.body.toString());

/** The protocol ALPN chooses when the client offers `offered`. */
async function alpn(port, offered) {
  const s = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', rejectUnauthorized: false, ALPNProtocols: offered });
  await once(s, 'secureConnect');
  s.destroy();
  return s.alpnProtocol;
}

test('ALPN offers h2 before http/1.1 with -H (http2 on by default); http2 off offers http/1.1 only; HTTP/1.1 clients are served as before', async (t) => {
  const be = await echoingBackend(t, 'a');
  const pen = await h2Pen(t, [be.port], [], { control: true });
  assert.equal(await alpn(pen.port, ['h2', 'http/1.1']), 'h2');
  assert.equal(await alpn(pen.port, ['http/1.1', 'h2']), 'h2');
  assert.equal(await alpn(pen.port, ['http/1.1']), 'http/1.1');
  const s = tls.connect({ port: pen.port, host: '127.0.0.1', servername: 'localhost', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
  await once(s, 'secureConnect');
  s.end('GET /one HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  let reply = '';
  s.on('data', (d) => { reply += d; });
  await once(s, 'close');
  assert.match(reply, /^HTTP\/1\.1 200 OK\r\n/);
  assert.equal(JSON.parse(reply.slice(reply.indexOf('{'))).url, '/one');
  const ctl = controlOf(pen);
  assert.equal(await ctl('http2'), 'on\n');
  assert.equal(await ctl('http2_max_streams'), '100\n');
  const off = await h2Pen(t, [be.port], ['-o', 'http2 off']);
  assert.equal(await alpn(off.port, ['h2', 'http/1.1']), 'http/1.1');
});

test('an h2 request reaches the HTTP/1.1 server with Host from :authority and the forwarding headers; the answer keeps its headers', async (t) => {
  const be = await echoingBackend(t, 'a');
  const pen = await h2Pen(t, [be.port]);
  const session = await h2Session(t, pen.port);
  const answer = await h2Request(session, {
    ':path': '/where?q=1', ':authority': 'www.example.test', 'x-forwarded-for': '192.0.2.7', 'x-client-verify': 'SUCCESS',
    'cookie': 'c=3', 'user-agent': 'h2-test',
  });
  assert.equal(answer.status, 200);
  const seen = json(answer);
  assert.equal(seen.url, '/where?q=1');
  assert.equal(seen.headers.host, 'www.example.test');
  assert.equal(seen.headers['x-forwarded-for'], '192.0.2.7, 127.0.0.1');
  assert.equal(seen.headers['x-forwarded-proto'], 'https');
  assert.equal(seen.headers['x-forwarded-port'], String(pen.port));
  assert.equal(seen.headers['x-client-verify'], 'NONE', 'a forged certificate result is replaced');
  assert.equal(seen.headers.cookie, 'c=3');
  assert.equal(seen.headers['user-agent'], 'h2-test');
  assert.deepEqual(answer.headers['set-cookie'], ['a=1', 'b=2']);
  assert.equal(answer.headers.connection, undefined);
  assert.equal(answer.headers['keep-alive'], undefined);
});

test('with -G and forwarded rfc7239: the client certificate headers and Forwarded go with every h2 request', async (t) => {
  const certs = await certificateSet(t);
  const be = await echoingBackend(t, 'a');
  const pen = await startPen(t, ['-H', '-E', certs.serverCert, '-K', certs.serverKey, '-G', certs.caFile, '-o', 'forwarded rfc7239', `127.0.0.1:${be.port}`]);
  const session = await h2Session(t, pen.port, { cert: certs.client.cert, key: certs.client.private });
  const seen = json(await h2Request(session, {})).headers;
  assert.equal(seen['x-client-verify'], 'SUCCESS');
  assert.equal(seen['x-client-subject-dn'], 'CN=client one');
  assert.match(seen['x-client-cert-sha256'], /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  assert.equal(seen.forwarded, 'for=127.0.0.1;proto=https');
});

test('client_acl applies to h2 clients: a refused one is closed before any request', async (t) => {
  const be = await echoingBackend(t, 'a');
  const pen = await h2Pen(t, [be.port], ['-o', 'acl 1 deny 127.0.0.1', '-o', 'client_acl 1']);
  const session = require('node:http2').connect(`https://127.0.0.1:${pen.port}`, { servername: 'localhost', rejectUnauthorized: false });
  session.on('error', () => {});
  const stream = session.request({ ':path': '/' });
  stream.on('error', () => {});
  stream.on('response', () => assert.fail('a refused client got an answer'));
  await new Promise((resolve) => session.on('close', resolve)); // reset or closed: once() would reject on the reset's error
});

test('workers 2: h2 clients are served by every worker, and each connection keeps one server', { skip: NO_WORKERS_NODE }, async (t) => {
  const [a, b] = [await echoingBackend(t, 'a'), await echoingBackend(t, 'b')];
  const pen = await h2Pen(t, [a.port, b.port], ['-o', 'workers 2'], { node: WORKERS_NODE });
  const sessions = await Promise.all(Array.from({ length: 6 }, () => h2Session(t, pen.port)));
  for (const session of sessions) {
    const names = await Promise.all(Array.from({ length: 5 }, () => h2Request(session, {}).then((r) => json(r).name)));
    assert.equal(new Set(names).size, 1);
  }
});

test('server N proxy_protocol: the connections to it are the h2 client\'s own, each starting with its PROXY header', async (t) => {
  const heads = []; // the first line each connection to the server starts with
  const backend = await onLoopback(t, net.createServer((s) => {
    let got = '';
    let first = true;
    s.on('data', (d) => {
      got += d;
      while (got.includes('\r\n\r\n')) { // a request head (the PROXY line before the first)
        if (first) heads.push(got.slice(0, got.indexOf('\r\n')));
        first = false;
        got = got.slice(got.indexOf('\r\n\r\n') + 4);
        s.write('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n');
      }
    });
  }));
  const certs = await certificateSet(t);
  const pen = await startPen(t, ['-H', '-E', certs.serverCert, '-K', certs.serverKey, '-o', `server 0 address 127.0.0.1 port ${backend.port} proxy_protocol 1`, 'LISTEN']);
  const session = await h2Session(t, pen.port, { localAddress: '127.0.0.5' });
  assert.deepEqual((await Promise.all([h2Request(session, {}), h2Request(session, {})])).map((r) => r.body.toString()), ['ok\n', 'ok\n']);
  assert.ok(heads.length >= 1);
  for (const head of heads) assert.match(head, new RegExp(`^PROXY TCP4 127\\.0\\.0\\.5 127\\.0\\.0\\.1 \\d+ ${pen.port}$`));
});

test('bodies stream both ways; HEAD, 204 and 304 have none; trailers both ways and 103 Early Hints pass; 100-continue is answered', async (t) => {
  const be = await echoingBackend(t, 'a');
  const pen = await h2Pen(t, [be.port]);
  const session = await h2Session(t, pen.port);
  const upload = Buffer.alloc(3 * 1024 * 1024 + 7, 'u');
  const posted = await h2Request(session, { ':method': 'POST', ':path': '/upload' }, upload);
  assert.equal(posted.status, 200);
  assert.equal(json(posted).bytes, upload.length);
  assert.equal(json(posted).headers['transfer-encoding'], 'chunked', 'no length given: the server gets it chunked');
  const trailing = await h2Request(session, { ':method': 'POST', ':path': '/trailing' }, 'a body',
    { 'x-checksum': 'c0ffee', 'x-forwarded-for': '198.51.100.9', 'x-client-verify': 'SUCCESS', authorization: 'Basic Zm9v' });
  assert.deepEqual([json(trailing).bytes, json(trailing).trailers], [6, { 'x-checksum': 'c0ffee' }],
    'the client\'s trailers follow the last chunk, less what a trailer may not carry or the balancer vouches for');
  const sized = await h2Request(session, { ':method': 'PUT', ':path': '/sized', 'content-length': '5' }, 'hello');
  assert.equal(json(sized).headers['content-length'], '5');
  const download = await h2Request(session, { ':path': '/bytes/5000000' });
  assert.equal(download.body.length, 5000000);
  assert.equal(download.headers['content-length'], '5000000');
  const head = await h2Request(session, { ':method': 'HEAD', ':path': '/bytes/1000' });
  assert.deepEqual([head.status, head.headers['content-length'], head.body.length], [200, '1000', 0]);
  for (const status of [204, 304]) {
    const empty = await h2Request(session, { ':path': `/status/${status}` });
    assert.deepEqual([empty.status, empty.body.length, empty.headers['x-from']], [status, 0, 'a']);
  }
  const trailed = await h2Request(session, { ':path': '/trailers', te: 'trailers' });
  assert.equal(trailed.body.toString(), 'body then trailer');
  assert.equal(trailed.trailers['x-checksum'], 'abc123');
  const hinted = await h2Request(session, { ':path': '/hints' });
  assert.equal(hinted.status, 200);
  assert.deepEqual(hinted.informational.map((h) => [h[':status'], h.link]), [[103, '</style.css>; rel=preload; as=style']]);
  const continued = await h2Request(session, { ':method': 'POST', ':path': '/expecting', expect: '100-continue' }, 'after the 100');
  assert.deepEqual(continued.informational.map((h) => h[':status']), [100]);
  assert.equal(json(continued).bytes, 'after the 100'.length);
  assert.equal(json(continued).headers.expect, undefined);
});

/** pen-edge's peak resident memory so far (VmHWM), in bytes. */
const peakMemory = (pid) => Number(/VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;

test('a 128 MiB download and a 128 MiB upload stream through at the pace of the side that reads: neither is held whole', async (t) => {
  const be = await echoingBackend(t, 'a');
  const pen = await h2Pen(t, [be.port]);
  const session = await h2Session(t, pen.port);
  const before = peakMemory(pen.child.pid);
  const size = 128 * 1024 * 1024;
  const download = session.request({ ':path': `/stream/${size}` });
  let received = 0;
  download.on('data', (c) => { received += c.length; });
  await once(download, 'end');
  assert.equal(received, size);
  const upload = session.request({ ':method': 'POST', ':path': '/upload', 'content-length': String(size) }, { endStream: false });
  const chunk = Buffer.alloc(1024 * 1024, 'u');
  for (let sent = 0; sent < size; sent += chunk.length) {
    if (!upload.write(chunk)) await once(upload, 'drain');
  }
  upload.end();
  const [headers] = await once(upload, 'response');
  let body = '';
  upload.on('data', (c) => { body += c; });
  await once(upload, 'end');
  assert.deepEqual([headers[':status'], JSON.parse(body).bytes], [200, size]);
  const grown = peakMemory(pen.child.pid) - before;
  // 48 MiB on Node 20, 75 on Node 24: buffers and garbage in flight, well short of either transfer whole
  assert.ok(grown < size - 16 * 1024 * 1024, `pen-edge's peak memory grew by ${Math.round(grown / 1048576)} MiB`);
});

test('an h2 connection is one client: all its requests go to one server, and the client table sends its next connection there too', async (t) => {
  const [a, b] = [await echoingBackend(t, 'a'), await echoingBackend(t, 'b')];
  const pen = await h2Pen(t, [a.port, b.port]);
  const first = await h2Session(t, pen.port);
  const names = await Promise.all(Array.from({ length: 20 }, (_, i) => h2Request(first, { ':path': `/${i}` }).then((r) => json(r).name)));
  assert.equal(new Set(names).size, 1, `one server for one connection: ${names}`);
  first.close();
  const second = await h2Session(t, pen.port);
  assert.equal(json(await h2Request(second, {})).name, names[0]);
  // connections a browser opens at once share the server chosen for the first
  const fresh = await h2Pen(t, [a.port, b.port]);
  const together = await Promise.all(Array.from({ length: 6 }, () => h2Session(t, fresh.port)));
  const chosen = await Promise.all(together.map((session) => h2Request(session, {}).then((r) => json(r).name)));
  assert.equal(new Set(chosen).size, 1, `${chosen}`);
});

test("a server's max bounds the connections its pool opens to it; more requests wait their turn", async (t) => {
  const be = await echoingBackend(t, 'a');
  let sockets = 0;
  be.on('connection', () => sockets++);
  const pen = await h2Pen(t, [`${be.port}:2`]);
  const session = await h2Session(t, pen.port);
  const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => h2Request(session, { ':path': `/bytes/${1000 + i}` })));
  assert.deepEqual(answers.map((r) => r.body.length), Array.from({ length: 30 }, (_, i) => 1000 + i));
  assert.ok(sockets <= 2, `${sockets} connections to a server with max 2`);
});

test('a server moved with `server N port P` gets the next requests of a connection already open; the old connections finish and close', async (t) => {
  const [a, b] = [await echoingBackend(t, 'a'), await echoingBackend(t, 'b')];
  const toA = [];
  a.on('connection', (socket) => toA.push(once(socket, 'close')));
  const pen = await h2Pen(t, [a.port], [], { control: true });
  const session = await h2Session(t, pen.port);
  assert.equal(json(await h2Request(session, {})).name, 'a');
  const slow = h2Request(session, { ':path': '/stream/3000000' }); // perhaps still under way when the server moves
  await controlOf(pen)(`server 0 port ${b.port}`);
  assert.deepEqual((await Promise.all([0, 1, 2].map(() => h2Request(session, {})))).map((r) => json(r).name), ['b', 'b', 'b']);
  assert.equal((await slow).body.length, 3000000, 'the answer under way finished');
  await Promise.all(toA);
});

/**
 * How pen-edge spreads `n` requests sent at once over its connections to a server, after a few
 * answered one after another (so that it knows how fast the server answers). pen-edge times the
 * answers on its own clock, which a busy machine slows, so when `until` is given the round is
 * run again, up to 5 times, until its spread satisfies it.
 */
async function spread(t, options, n, { backend = {}, until = () => true } = {}) {
  const be = await holdingBackend(t, backend);
  const pen = await h2Pen(t, [be.port], options);
  const session = await h2Session(t, pen.port);
  let held;
  for (let round = 0; round < 5 && !(held && until(held)); round++) {
    for (let i = 0; i < 5; i++) assert.equal((await h2Request(session, {})).status, 200);
    be.hold(n);
    const answers = await Promise.all(Array.from({ length: n }, (_, i) => h2Request(session, { ':path': `/${i}` })));
    assert.ok(answers.every((a) => a.status === 200 && a.body.toString() === 'ok'));
    held = await be.held;
  }
  return held;
}

test('GET and HEAD wait behind each other on a connection to a server that answers fast (http2_pipeline deep), never on a slow one, and not at all with http2_pipeline 1', async (t) => {
  const pipelined = await spread(t, [], 48, { until: (held) => held.length < 48 });
  assert.ok(pipelined.length < 48 && Math.max(...pipelined) <= 16, `48 requests on ${pipelined.length} connections: ${pipelined}`);
  const deeper = await spread(t, ['-o', 'http2_pipeline 48'], 48, { until: (held) => held.length < 3 });
  assert.ok(deeper.length < 3 && Math.max(...deeper) > 16, `http2_pipeline 48: ${deeper}`);
  assert.deepEqual(await spread(t, ['-o', 'http2_pipeline 1'], 48), Array(48).fill(1), 'each request on a connection of its own');
  assert.deepEqual(await spread(t, [], 12, { backend: { delay: 30 } }), Array(12).fill(1), 'a server slower than 10 ms gets no request behind another');
});

/**
 * A raw HTTP/1.1 server that ends its connections in each of the ways HTTP/1.1 allows, as the
 * path asks: /close (Connection: close), /until-close (a body up to the close), /garbage (no
 * HTTP at all); /dropped is answered as the first request of a connection, and closed unanswered
 * as a later one (as a server closes a kept connection just as a request goes out).
 */
async function endingBackend(t) {
  return onLoopback(t, net.createServer((socket) => {
    socket.on('error', () => {});
    let requests = 0;
    socket.on('data', (chunk) => {
      const path = chunk.toString('latin1').split(' ')[1];
      requests++;
      if (path === '/close') socket.end('HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 5\r\n\r\nclose');
      else if (path === '/until-close') socket.end('HTTP/1.1 200 OK\r\n\r\nthe body runs to the close');
      else if (path === '/garbage') socket.write('NOT HTTP\r\n\r\n');
      else if (path === '/dropped' && requests > 1) socket.destroy();
      else socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${path.length}\r\n\r\n${path}`);
    });
  }));
}

test('answers that end their connection (Connection: close, a body up to the close) pass whole; a kept connection the server closes as a request goes out is replaced without blame; an answer that is not HTTP is the server\'s failure', async (t) => {
  const be = await endingBackend(t);
  const pen = await h2Pen(t, [be.port]);
  const session = await h2Session(t, pen.port);
  const get = async (path) => {
    const answer = await h2Request(session, { ':path': path });
    return [answer.status, answer.body.toString()];
  };
  assert.deepEqual(await get('/close'), [200, 'close']);
  assert.deepEqual(await get('/after-close'), [200, '/after-close']);
  assert.deepEqual(await get('/until-close'), [200, 'the body runs to the close']);
  assert.deepEqual(await get('/kept'), [200, '/kept']);
  assert.deepEqual(await get('/dropped'), [200, '/dropped'], 'sent again on a new connection');
  assert.deepEqual(await get('/still-served'), [200, '/still-served'], 'the server was not blacklisted');
  assert.equal((await get('/garbage'))[0], 503, 'a failure of the server: blacklisted, and no other server is left');
});

/** A server that takes requests and closes without answering. */
async function hangingUp(t) {
  return onLoopback(t, net.createServer((s) => {
    s.on('error', () => {});
    s.once('data', () => s.destroy());
  }));
}

test('a server that fails: a connect error or an idempotent request moves on to the next server; a sent body gets 502, none left 503, a connect timeout 504', async (t) => {
  const be = await echoingBackend(t, 'live');
  const refused = await freePort();
  const later = `${be.port}:0:0:0:1`; // prio 1: tried after the failing server (prio 0)
  const viaRefused = await h2Pen(t, [refused, later], ['-o', 'prio'], { control: true });
  const session = await h2Session(t, viaRefused.port);
  const posted = await h2Request(session, { ':method': 'POST', ':path': '/after-refusal' }, 'a body never sent to the refusing server');
  assert.deepEqual([posted.status, json(posted).name], [200, 'live'], 'nothing was sent before the connect failed: any request may go on');
  const servers = (await controlOf(viaRefused)('servers')).split('\n');
  assert.match(servers[0], /^0 addr 127\.0\.0\.1 port \d+ conn 0 .* sx 0 rx 0$/);
  const [, sent] = servers[1].match(/^1 addr 127\.0\.0\.1 port \d+ conn 1 .* sx (\d+) rx \d+$/);
  assert.ok(Number(sent) > 40, 'the connection counts on the server that took over, with the head and the 40-byte body sent there');

  const hangup = await hangingUp(t);
  const viaHangup = await h2Pen(t, [hangup.port, later], ['-o', 'prio']);
  const posting = await h2Session(t, viaHangup.port);
  const lost = await h2Request(posting, { ':method': 'POST', ':path': '/post' }, 'sent, then the server hung up');
  assert.equal(lost.status, 502, 'a POST whose body went out is not sent again');
  const again = await h2Pen(t, [hangup.port, later], ['-o', 'prio']); // the first one blacklisted the server that hangs up
  const getting = await h2Session(t, again.port);
  const retried = await h2Request(getting, { ':path': '/get' });
  assert.deepEqual([retried.status, json(retried).name], [200, 'live'], 'a GET goes to the next server');

  const deadEnd = await h2Pen(t, [refused, await freePort()]);
  const none = await h2Request(await h2Session(t, deadEnd.port), {});
  assert.equal(none.status, 503);
  assert.match(none.body.toString(), /503 Service Unavailable/);

  const silent = await unansweredServer(t);
  const viaSilent = await h2Pen(t, [silent], ['-t', '1']);
  assert.equal((await h2Request(await h2Session(t, viaSilent.port), {})).status, 504);
});

test('limits: streams at once as http2_max_streams says, 431 over http_header_max, 408 when a request body stops coming', async (t) => {
  const be = await echoingBackend(t, 'a');
  const pen = await h2Pen(t, [be.port], ['-o', 'http2_max_streams 7', '-o', 'http_header_max 4096', '-o', 'http_head_timeout 1']);
  const session = await h2Session(t, pen.port);
  if (!session.remoteSettings.maxConcurrentStreams || session.remoteSettings.maxConcurrentStreams > 7) await once(session, 'remoteSettings');
  assert.equal(session.remoteSettings.maxConcurrentStreams, 7);
  // curl sends it (Node's client would refuse to send a header list over the size the server announced)
  const big = await run('curl', ['-sk', '--http2', '-o', '/dev/null', '-w', '%{http_version} %{http_code}', '-H', `x-big: ${'b'.repeat(5000)}`, `https://127.0.0.1:${pen.port}/big`]);
  assert.equal(big.stdout, '2 431');
  const started = Date.now();
  const stream = session.request({ ':method': 'POST', ':path': '/never-ends' }, { endStream: false });
  stream.write('the start of a body that stops');
  const [headers] = await once(stream, 'response');
  assert.equal(headers[':status'], 408);
  assert.ok(Date.now() - started >= 900, 'after http_head_timeout without a byte');
  stream.destroy();
  assert.equal((await h2Request(session, {})).status, 200, 'the connection serves on');
});

test('requests are counted: a JSON log line each, pen log lines, /metrics and the dashboard', async (t) => {
  const be = await echoingBackend(t, 'a');
  const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'pen-h2-log-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const web = await freePort();
  const jsonLog = path.join(dir, 'json.log');
  const pen = await h2Pen(t, [be.port], ['-l', jsonLog, '-o', 'log_format json', '-o', `web ${web}`]);
  const session = await h2Session(t, pen.port);
  await h2Request(session, { ':path': '/first' });
  await h2Request(session, { ':path': '/bytes/10' });
  session.close();
  await once(session, 'close');
  const watcher = fs.watch(dir);
  t.after(() => watcher.close());
  const lines = () => (fs.existsSync(jsonLog) ? fs.readFileSync(jsonLog, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);
  while (lines().length < 2) await once(watcher, 'change');
  assert.deepEqual(lines().map((l) => [l.method, l.path, l.status, l.client]), [['GET', '/first', 200, '127.0.0.1'], ['GET', '/bytes/10', 200, '127.0.0.1']]);
  assert.equal(lines()[1].bytes, 10);
  const metrics = await request(web, '/metrics');
  assert.equal(metric(metrics.body, 'pen_http_requests_total'), 2);
  assert.equal(JSON.parse((await request(web, '/status.json')).body).http.requests, 2, 'the dashboard counts them too');

  const penLog = path.join(dir, 'pen.log');
  const plain = await h2Pen(t, [be.port], ['-l', penLog]);
  await h2Request(await h2Session(t, plain.port), { ':path': '/logged' });
  await fileCreated(penLog);
  while (!fs.readFileSync(penLog, 'utf8').includes('\n')) await once(watcher, 'change');
  assert.match(fs.readFileSync(penLog, 'utf8'), /^127\.0\.0\.1 \d+ 127\.0\.0\.1 GET \/logged HTTP\/2\.0\n$/);
});

test('servers counts what h2 requests and their answers took on the server\'s connection, heads and bodies (framed by length), as for HTTP/1.1 clients', async (t) => {
  let socket; // the server's side of pen-edge's connection
  const be = await onLoopback(t, require('node:http').createServer((req, res) => {
    socket = req.socket;
    req.resume();
    req.on('end', () => (req.url === '/early' ? res.writeEarlyHints({ link: '</a.css>; rel=preload' }, () => res.end('with a 103\n')) : res.end('counted\n')));
  }));
  const pen = await h2Pen(t, [be.port], [], { control: true });
  const session = await h2Session(t, pen.port);
  assert.equal((await h2Request(session, { ':path': '/counted' })).body.toString(), 'counted\n');
  assert.equal((await h2Request(session, { ':path': '/early', ':method': 'POST', 'content-length': '6' }, 'a body')).body.toString(), 'with a 103\n');
  const [line] = (await controlOf(pen)('servers')).split('\n');
  assert.match(line, new RegExp(` sx ${socket.bytesRead} rx ${socket.bytesWritten}$`));
});

test('QUIT: an h2 client is sent GOAWAY, the request it has under way is answered, then pen-edge exits', async (t) => {
  let release;
  const held = new Promise((resolve) => { release = resolve; });
  const be = await onLoopback(t, require('node:http').createServer((req, res) => {
    req.resume();
    if (req.url === '/held') held.then(() => res.end('released\n'));
    else res.end('at once\n');
  }));
  const pen = await h2Pen(t, [be.port]);
  const session = await h2Session(t, pen.port);
  assert.equal((await h2Request(session, {})).body.toString(), 'at once\n');
  const pending = h2Request(session, { ':path': '/held' });
  await new Promise((resolve) => be.once('request', resolve));
  const goaway = once(session, 'goaway');
  pen.child.kill('SIGQUIT');
  await goaway;
  release();
  const answer = await pending;
  assert.deepEqual([answer.status, answer.body.toString()], [200, 'released\n']);
  const [code] = await once(pen.child, 'exit');
  assert.equal(code, 0);
});
