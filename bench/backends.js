'use strict';
// The HTTP backends every balancer relays to. Run as `node backends.js --http` for one backend process.

const { fork } = require('node:child_process');
const { HOST, READY_MS, track, withTimeout } = require('./processes');

// One node:http server replying `ok` with a Content-Length to every request.
function serveHttp() {
  const http = require('node:http');
  const body = Buffer.from('ok\n');
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length });
    res.end(body);
  });
  server.keepAliveTimeout = 60_000; // keep wrk's connections open through the whole run
  server.listen(0, HOST, () => process.send({ port: server.address().port }));
  process.on('disconnect', () => process.exit(0)); // parent died: don't linger
}

function startNodeBackend() {
  const child = fork(__filename, ['--http'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  track(child, 'backend');
  return withTimeout(new Promise((resolve, reject) => {
    child.once('message', (m) => resolve({ child, port: m.port }));
    child.once('exit', (code) => reject(new Error(`backend exited early (code ${code})`)));
  }), READY_MS, 'backend start');
}

if (require.main === module && process.argv[2] === '--http') serveHttp();

module.exports = { startNodeBackend };
