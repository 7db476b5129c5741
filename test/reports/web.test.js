'use strict';
// `web [ADDR:]PORT`: /metrics (Prometheus text through prom-client), /status.json and the dashboard's
// files, served by the main thread; `web_acl`; the counters behind them, with one thread and with
// `workers 2`.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const tls = require('node:tls');
const { spawnSync } = require('node:child_process');
const { once } = require('node:events');
const { startPen, controlOf, freePort, nextPid, runPen, stderrMatching, namedBackend, WORKERS_NODE, NO_WORKERS_NODE } = require('../support/harness');
const { certificateSet } = require('../support/certs');
const { request, httpBackend, metric } = require('../support/web');

const NO_PROMTOOL = spawnSync('promtool', ['--version']).error ? 'promtool not found: apt-get install -y prometheus' : false;

/** bin/pen with `web` on a fresh port (pen.web) and a control port. */
async function startWithWeb(t, args, options = {}) {
  const web = await freePort();
  const pen = await startPen(t, ['-o', `web ${web}`, ...args], { control: true, ...options });
  return { ...pen, web };
}

/** Sends raw bytes to port and resolves with what came back before the close. */
function raw(port, data, localAddress = '127.0.0.1') {
  return new Promise((resolve) => {
    const chunks = [];
    const s = net.connect({ port, host: '127.0.0.1', localAddress }, () => s.write(data));
    s.on('data', (c) => chunks.push(c));
    s.on('error', () => {});
    s.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
  });
}

test('web PORT serves on 127.0.0.1 and replies with its address; `no web` stops it; write keeps it', async (t) => {
  const be = await namedBackend('a', t);
  const pen = await startWithWeb(t, [`127.0.0.1:${be.port}`]);
  const ctl = controlOf(pen);
  assert.equal(await ctl('web'), `127.0.0.1:${pen.web}\n`);
  assert.equal((await request(pen.web, '/metrics')).status, 200);
  // only loopback's 127.0.0.1: another local address finds nothing listening
  await assert.rejects(new Promise((resolve, reject) => net.connect(pen.web, '127.0.0.2', resolve).on('error', reject)), { code: 'ECONNREFUSED' });
  assert.equal(await ctl('web_acl', '4'), '4\n');
  const file = `${pen.dir}/written.cfg`;
  assert.equal(await ctl('write', file), '');
  const written = fs.readFileSync(file, 'utf8');
  assert.match(written, new RegExp(`^web 127\\.0\\.0\\.1:${pen.web}$`, 'm'));
  assert.match(written, /^web_acl 4$/m);
  assert.equal(await ctl('no', 'web'), '');
  assert.equal(await ctl('web'), 'off\n');
  await assert.rejects(request(pen.web, '/metrics'), { code: 'ECONNREFUSED' });
  assert.equal(await ctl('no', 'web_acl'), '');
  assert.match(await ctl('write', file), /^$/);
  assert.match(fs.readFileSync(file, 'utf8'), /^no web_acl\nno web$/m);
});

test('web moves once the new address listens; a port it cannot bind is the error reply and the old one serves on', async (t) => {
  const be = await namedBackend('a', t);
  const pen = await startWithWeb(t, [`127.0.0.1:${be.port}`]);
  const ctl = controlOf(pen);
  assert.match(await ctl('web', `127.0.0.1:${be.port}`), new RegExp(`^error: web 127\\.0\\.0\\.1:${be.port}: can't bind local address \\(EADDRINUSE\\)\\n$`));
  assert.equal(await ctl('web'), `127.0.0.1:${pen.web}\n`);
  assert.equal((await request(pen.web, '/status.json')).status, 200);
  const next = await freePort();
  assert.equal(await ctl('web', `127.0.0.1:${next}`), `127.0.0.1:${next}\n`);
  assert.equal((await request(next, '/status.json')).status, 200);
  await assert.rejects(request(pen.web, '/status.json'), { code: 'ECONNREFUSED' });
  assert.match(await ctl('web', '/tmp/x'), /^web: expected \[ADDR:\]PORT, not '\/tmp\/x'\n$/);
});

test('a web port that cannot be bound at start stops the start with one line', async (t) => {
  const be = await namedBackend('a', t);
  const r = await runPen(['-f', '-o', `web ${be.port}`, `127.0.0.1:${await freePort()}`, `127.0.0.1:${be.port}`]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `pen: web 127.0.0.1:${be.port}: can't bind local address (EADDRINUSE)\n`);
});

test('web_acl N refuses the clients ACL N denies; without it every client may connect', async (t) => {
  const be = await namedBackend('a', t);
  const pen = await startWithWeb(t, ['-o', 'acl 3 deny 127.0.0.2', `127.0.0.1:${be.port}`]);
  const ctl = controlOf(pen);
  assert.equal((await request(pen.web, '/metrics', { localAddress: '127.0.0.2' })).status, 200);
  assert.equal(await ctl('web_acl', '3'), '3\n');
  await assert.rejects(request(pen.web, '/metrics', { localAddress: '127.0.0.2' }), { code: 'ECONNRESET' });
  assert.equal((await request(pen.web, '/metrics', { localAddress: '127.0.0.3' })).status, 200);
  assert.equal(await ctl('web_acl'), '3\n');
  assert.equal(await ctl('no', 'web_acl'), '');
  assert.equal(await ctl('web_acl'), 'off\n');
  assert.equal((await request(pen.web, '/metrics', { localAddress: '127.0.0.2' })).status, 200);
});

test('/metrics counts connections, bytes, requests, the balancer\'s own errors, countries, servers and health checks', async (t) => {
  const [a, b] = [await httpBackend(t, 'a'), await httpBackend(t, 'b')];
  const dead = await freePort(); // refuses: blacklisted at its first connection
  const pen = await startWithWeb(t, ['-H', '-o', 'geo_map 127.0.1.0/24 DE EU', '-o', 'geo_map 127.0.0.0/24 US NA',
    '-o', 'health_interval 1', '-o', 'server 1 check http /', '-o', `server 2 check tcp`,
    `127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`, `127.0.0.1:${dead}`]);
  for (let i = 0; i < 6; i++) assert.match((await request(pen.port, '/', { localAddress: `127.0.${i % 2}.${10 + i}` })).body, /^[ab]\n$/);
  assert.match(await raw(pen.port, 'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n'), /^HTTP\/1\.1 400 /);
  assert.match(await raw(pen.port, `GET /${'x'.repeat(9000)} HTTP/1.1\r\n`), /^HTTP\/1\.1 414 /);
  await stderrMatching(pen.child, /server 2 health check failed/); // the checks ran, one passed, one failed
  const { status, headers, body } = await request(pen.web, '/metrics');
  assert.equal(status, 200);
  assert.match(headers['content-type'], /^text\/plain; version=0\.0\.4/);
  const value = (name, labels) => metric(body, name, labels);
  assert.equal(value('pen_connections_total'), 8);
  assert.ok(value('pen_connections_active') >= 0);
  assert.equal(value('pen_http_requests_total'), 6);
  assert.equal(value('pen_http_errors_total', { status: '400' }), 1);
  assert.equal(value('pen_http_errors_total', { status: '414' }), 1);
  assert.equal(value('pen_http_errors_total', { status: '503' }), 0);
  assert.equal(value('pen_geo_connections_total', { country: 'US' }), 5); // three clients and the two refused
  assert.equal(value('pen_geo_connections_total', { country: 'DE' }), 3);
  assert.equal(value('pen_clients'), 7);
  assert.equal(value('pen_server_connections_total', { server: '0' }) + value('pen_server_connections_total', { server: '1' }), 8); // the refused two too: pen connects before it reads
  assert.equal(value('pen_server_connections_total', { server: '2' }), 0);
  assert.ok(value('pen_server_connections', { server: '0' }) >= 0);
  assert.equal(value('pen_server_up', { server: '0', address: `127.0.0.1:${a.port}` }), 1);
  assert.equal(value('pen_server_up', { server: '2', address: `127.0.0.1:${dead}` }), 0);
  assert.ok(value('pen_health_checks_total', { server: '1', result: 'passed' }) >= 1);
  assert.ok(value('pen_health_checks_total', { server: '2', result: 'failed' }) >= 1);
  assert.equal(value('pen_health_checks_total', { server: '0', result: 'passed' }), undefined, 'a server without a check has none');
  assert.ok(value('pen_bytes_total', { direction: 'in' }) > 6 * 20);
  assert.ok(value('pen_bytes_total', { direction: 'out' }) > 6 * 20);
  assert.equal(value('pen_tls_handshakes_total', { result: 'ok' }), 0);
  assert.equal(value('pen_workers'), 1);
  assert.ok(value('process_resident_memory_bytes') > 0, 'prom-client\'s process metrics');
  assert.ok(value('nodejs_eventloop_lag_seconds') >= 0);
});

test('/metrics counts TLS handshakes made and failed, and 503 when no server can take a request', async (t) => {
  const certs = await certificateSet(t);
  const dead = await freePort();
  const pen = await startWithWeb(t, ['-H', '-E', certs.serverCert, '-K', certs.serverKey, `127.0.0.1:${dead}`]);
  const secure = tls.connect({ port: pen.port, host: '127.0.0.1', ca: certs.ca.cert, servername: 'localhost' });
  await once(secure, 'secureConnect');
  secure.end('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  let answer = '';
  for await (const chunk of secure) answer += chunk;
  assert.match(answer, /^HTTP\/1\.1 502 /); // refused: blacklisted, and nothing left to try
  await raw(pen.port, 'GET / HTTP/1.1\r\n\r\n'); // no TLS hello: the handshake fails
  await stderrMatching(pen.child, /TLS handshake with 127\.0\.0\.1 failed/);
  const secure2 = tls.connect({ port: pen.port, host: '127.0.0.1', ca: certs.ca.cert, servername: 'localhost' });
  await once(secure2, 'secureConnect');
  secure2.end('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  answer = '';
  for await (const chunk of secure2) answer += chunk;
  assert.match(answer, /^HTTP\/1\.1 503 /); // the only server is blacklisted now
  const { body } = await request(pen.web, '/metrics');
  assert.equal(metric(body, 'pen_tls_handshakes_total', { result: 'ok' }), 2);
  assert.equal(metric(body, 'pen_tls_handshakes_total', { result: 'failed' }), 1);
  assert.equal(metric(body, 'pen_http_errors_total', { status: '502' }), 1);
  assert.equal(metric(body, 'pen_http_errors_total', { status: '503' }), 1);
  assert.equal(metric(body, 'pen_server_up', { server: '0', address: `127.0.0.1:${dead}` }), 0);
});

test('/metrics counts the errors clients were sent: a refusal behind an answer that never came is not one, the 502 in its place is', async (t) => {
  const closing = net.createServer((socket) => socket.once('data', () => socket.end())); // takes a request, closes unanswered
  closing.listen(0, '127.0.0.1');
  await once(closing, 'listening');
  t.after(() => closing.close());
  const pen = await startWithWeb(t, ['-H', `127.0.0.1:${closing.address().port}`]);
  const smuggling = 'POST /admin HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n';
  const reply = await raw(pen.port, `GET / HTTP/1.1\r\nHost: x\r\n\r\n${smuggling}`);
  assert.match(reply, /^HTTP\/1\.1 502 /);
  assert.doesNotMatch(reply, / 400 /);
  await stderrMatching(pen.child, /HTTP 400 to 127\.0\.0\.1: /); // the refusal is still told, with its reason
  const { body } = await request(pen.web, '/metrics');
  assert.equal(metric(body, 'pen_http_errors_total', { status: '502' }), 1);
  assert.equal(metric(body, 'pen_http_errors_total', { status: '400' }), 0);
});

test('/metrics is clean under promtool check metrics', { skip: NO_PROMTOOL }, async (t) => {
  const be = await httpBackend(t, 'a');
  const pen = await startWithWeb(t, ['-H', '-o', 'geo_map 127.0.0.0/8 US', '-o', 'server 0 check tcp', `127.0.0.1:${be.port}`]);
  await request(pen.port, '/');
  const { body } = await request(pen.web, '/metrics');
  const check = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' });
  assert.equal(check.status, 0, `${check.stdout}${check.stderr}`);
  assert.equal(check.stdout + check.stderr, '');
});

test('/status.json has the server table, connections, clients, countries and the rates of the last minutes', async (t) => {
  const [a, b] = [await httpBackend(t, 'a'), await httpBackend(t, 'b')];
  const pen = await startWithWeb(t, ['-H', '-o', 'geo_map 127.0.1.0/24 DE EU', '-o', 'server 1 blacklist 60', `127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`]);
  for (let i = 0; i < 3; i++) await request(pen.port, '/', { localAddress: `127.0.1.${20 + i}` });
  await request(pen.port, '/', { localAddress: '127.0.0.30' });
  const { status, headers, body } = await request(pen.web, '/status.json');
  assert.equal(status, 200);
  assert.equal(headers['content-type'], 'application/json');
  const s = JSON.parse(body);
  assert.equal(s.workers, 1);
  assert.equal(s.connections.max, 500);
  assert.equal(s.connections.total, 4);
  assert.equal(s.http.requests, 4);
  assert.equal(s.http.errors['400'], 0);
  assert.deepEqual(s.clients, { count: 4, max: 2048 });
  assert.deepEqual(s.countries, [{ country: 'DE', clients: 3, connections: 3 }]);
  assert.equal(s.servers.length, 2);
  // open connections, sent and received: numbers whose values the relay's timing decides
  assert.deepEqual({ ...s.servers[0], connections: 0, sent: 0, received: 0 }, {
    index: 0, address: '127.0.0.1', port: a.port, state: 'up', connections: 0, connectionsTotal: 4, max: 0, hard: 0, weight: 0, prio: 0,
    blacklistedFor: 0, health: 'unchecked', sent: 0, received: 0,
  });
  assert.equal(s.servers[1].state, 'blacklisted');
  assert.ok(s.servers[1].blacklistedFor > 50 && s.servers[1].blacklistedFor <= 60);
  assert.ok(s.bytes.in > 0 && s.bytes.out > 0);
  assert.equal(s.history.seconds, 1);
  assert.ok(Array.isArray(s.history.connections) && Array.isArray(s.history.requests));
});

test('the web endpoint serves the dashboard\'s files, 404 elsewhere, and GET and HEAD only', async (t) => {
  const be = await namedBackend('a', t);
  const pen = await startWithWeb(t, [`127.0.0.1:${be.port}`]);
  const page = await request(pen.web, '/');
  assert.equal(page.status, 200);
  assert.match(page.headers['content-type'], /^text\/html/);
  assert.equal(page.headers['content-security-policy'], "default-src 'self'");
  assert.match(page.body, /<script src="dashboard\.js" defer><\/script>/);
  assert.doesNotMatch(page.body, /https?:\/\//, 'the page loads nothing from elsewhere');
  for (const [path, type] of [['/dashboard.js', /^text\/javascript/], ['/dashboard.css', /^text\/css/], ['/favicon.svg', /^image\/svg\+xml/]]) {
    const file = await request(pen.web, path);
    assert.equal(file.status, 200, path);
    assert.match(file.headers['content-type'], type);
    assert.doesNotMatch(file.body.replace('http://www.w3.org/2000/svg', ''), /https?:\/\//, `${path} loads nothing from elsewhere`);
  }
  assert.equal((await request(pen.web, '/nothing')).status, 404);
  assert.equal((await request(pen.web, '/metrics?x=1')).status, 200);
  const post = await request(pen.web, '/metrics', { method: 'POST' });
  assert.equal(post.status, 405);
  assert.equal(post.headers.allow, 'GET, HEAD');
  const head = await request(pen.web, '/status.json', { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
});

test('USR2: the new process serves the web endpoint; when it cannot start, the old one serves it on', async (t) => {
  const be = await httpBackend(t, 'a');
  const pen = await startWithWeb(t, [`127.0.0.1:${be.port}`]);
  const pidFile = path.join(pen.dir, 'pen.pid');
  let pid = pen.pid;
  t.after(() => {
    try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
  });
  pen.child.kill('SIGUSR2');
  pid = await nextPid(pidFile, pen.pid);
  assert.deepEqual(await pen.child.exited, [0, null]);
  assert.equal(JSON.parse((await request(pen.web, '/status.json')).body).pid, pid);
  const config = path.join(pen.dir, 'pen.cfg');
  fs.writeFileSync(config, 'blacklist 9\n');
  const second = await startWithWeb(t, ['-F', config, `127.0.0.1:${be.port}`]);
  fs.writeFileSync(config, 'blacklist never\n'); // the new process reads it at its start, and stops there
  second.child.kill('SIGUSR2');
  await stderrMatching(second.child, /this process serves on\n/);
  assert.equal(JSON.parse((await request(second.web, '/status.json')).body).pid, second.pid);
});

test('with workers 2, /metrics and /status.json count every worker\'s connections and requests', { skip: NO_WORKERS_NODE }, async (t) => {
  const [a, b] = [await httpBackend(t, 'a'), await httpBackend(t, 'b')];
  const pen = await startWithWeb(t, ['-H', '-o', 'workers 2', '-o', 'geo_map 127.0.2.0/24 FR EU', `127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`],
    { node: WORKERS_NODE });
  const clients = 24;
  await Promise.all(Array.from({ length: clients }, (_, i) => request(pen.port, '/', { localAddress: `127.0.2.${10 + i}` })));
  const { body } = await request(pen.web, '/metrics');
  assert.equal(metric(body, 'pen_workers'), 2);
  assert.equal(metric(body, 'pen_connections_total'), clients);
  assert.equal(metric(body, 'pen_http_requests_total'), clients);
  assert.equal(metric(body, 'pen_geo_connections_total', { country: 'FR' }), clients);
  assert.equal(metric(body, 'pen_server_connections_total', { server: '0' }) + metric(body, 'pen_server_connections_total', { server: '1' }), clients);
  assert.equal(metric(body, 'pen_clients'), clients);
  const status = JSON.parse((await request(pen.web, '/status.json')).body);
  assert.equal(status.workers, 2);
  assert.equal(status.connections.total, clients);
  assert.equal(status.http.requests, clients);
  assert.deepEqual(status.countries, [{ country: 'FR', clients, connections: clients }]);
  assert.equal(status.servers[0].connectionsTotal + status.servers[1].connectionsTotal, clients);
});
