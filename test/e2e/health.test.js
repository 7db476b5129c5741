'use strict';
// Active health checks take a failing server out of rotation and bring it back when it passes;
// a hung server delays only its own checks, and every step of a check (connect included) ends after -t.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const net = require('node:net');
const { once } = require('node:events');
const { startPen, penctl, exchange, namedBackend, stderrMatching, unansweredServer } = require('../support/harness');

async function backend(t, name) {
  const state = { healthy: true };
  const server = http.createServer((req, res) => {
    if (req.url === '/health') { res.statusCode = state.healthy ? 200 : 500; res.end(); return; }
    res.end(name);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  return { state, server, port: server.address().port };
}

async function health(pen, index, want) {
  for (;;) { // each query waits on a reply; a check round happens every second
    const { stdout } = await penctl('--json', `127.0.0.1:${pen.ctl}`, 'servers');
    if (JSON.parse(stdout).servers[index].health === want) return;
  }
}

test('check http: a failing server leaves rotation until it passes again; the change is logged', async (t) => {
  const a = await backend(t, 'a');
  const b = await backend(t, 'b');
  const pen = await startPen(t, ['-r', '-o', 'health_interval 1',
    '-o', `server 0 address 127.0.0.1 port ${a.port} check http /health expect 200`,
    '-o', `server 1 address 127.0.0.1 port ${b.port} check http /health`, 'LISTEN'], { control: true });
  const get = () => exchange(pen.port, { data: 'GET / HTTP/1.0\r\n\r\n' }).then((r) => r.slice(r.indexOf('\r\n\r\n') + 4));
  await health(pen, 0, 'passing');
  a.state.healthy = false;
  await health(pen, 0, 'failing');
  assert.match(await stderrMatching(pen.child, /server 0 health check failed/), /server 0 health check failed: status 500/);
  assert.deepEqual([await get(), await get(), await get()], ['b', 'b', 'b']);
  a.state.healthy = true;
  await health(pen, 0, 'passing');
  assert.deepEqual(new Set([await get(), await get()]), new Set(['a', 'b']));
});

test('check tcp: a server that stops listening is taken out', async (t) => {
  const gone = net.createServer();
  gone.listen(0, '127.0.0.1');
  await once(gone, 'listening');
  const port = gone.address().port;
  const b = await namedBackend('b', t);
  const pen = await startPen(t, ['-r', '-o', 'health_interval 1', '-o', `server 0 address 127.0.0.1 port ${port} check tcp`,
    '-o', `server 1 address 127.0.0.1 port ${b.port}`, 'LISTEN'], { control: true });
  await health(pen, 0, 'passing');
  gone.close();
  await health(pen, 0, 'failing');
  assert.equal((await exchange(pen.port)).trim(), 'b');
  assert.equal((await exchange(pen.port)).trim(), 'b');
  const page = (await penctl(`127.0.0.1:${pen.ctl}`, 'status')).stdout;
  assert.match(page, /<td bgcolor="#80f080">health<\/td>/);
  assert.match(page, /<td>tcp failing<\/td>/, 'the status page shows the failing check');
});

test('a hung server does not hold up the checks of the others: a failing server is still noticed within an interval', { timeout: 10000 }, async (t) => {
  const hung = net.createServer((sock) => sock.on('error', () => {})); // accepts, reads nothing, answers nothing
  hung.listen(0, '127.0.0.1');
  await once(hung, 'listening');
  t.after(() => hung.close());
  const b = await backend(t, 'b');
  // -t 30: the hung check takes 30 s to give up; the others must not wait for it (if they did, the
  // test's 10 s timeout fails it)
  const pen = await startPen(t, ['-t', '30', '-o', 'health_interval 1',
    '-o', `server 0 address 127.0.0.1 port ${hung.address().port} check http /health`,
    '-o', `server 1 address 127.0.0.1 port ${b.port} check http /health`, 'LISTEN'], { control: true });
  // the first round: server 1 answered healthy, server 0 is stuck (the request handler has answered
  // by the time this listener runs)
  await Promise.all([once(hung, 'connection'), once(b.server, 'request')]);
  b.state.healthy = false;
  await health(pen, 1, 'failing');
  const { stdout } = await penctl('--json', `127.0.0.1:${pen.ctl}`, 'servers');
  assert.equal(JSON.parse(stdout).servers[0].health, 'passing', 'the hung check has not finished yet');
});

test('check http: a connect that never completes fails after the -t timeout', { timeout: 8000 }, async (t) => {
  const port = await unansweredServer(t); // undici's own connect timeout would be 10 s
  const pen = await startPen(t, ['-t', '1', '-o', 'health_interval 1',
    '-o', `server 0 address 127.0.0.1 port ${port} check http /health`, 'LISTEN'], { control: true });
  await health(pen, 0, 'failing');
  assert.match(await stderrMatching(pen.child, /server 0 health check failed/), /server 0 health check failed: .*timeout: 1000ms/i);
});
