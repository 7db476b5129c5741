'use strict';
// Active health checks take a failing server out of rotation and bring it back when it passes.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const net = require('node:net');
const { once } = require('node:events');
const { startPen, penctl, exchange, namedBackend, stderrMatching } = require('../support/harness');

async function backend(t, name) {
  const state = { healthy: true };
  const server = http.createServer((req, res) => {
    if (req.url === '/health') { res.statusCode = state.healthy ? 200 : 500; res.end(); return; }
    res.end(name);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  return { state, port: server.address().port };
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
});
