'use strict';
// The two HTTP backends every balancer relays to: one nginx serving two ports when nginx is
// there (it costs far less CPU per request than node, which matters when wrk and the backends
// share one core), else two node:http processes. Run as `node backends.js --http` for one of those.

const { fork } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { HOST, READY_MS, freePort, launch, stop, tempDir, track, waitForPort, withTimeout } = require('./processes');

// ---- nginx ----

// A throwaway config: one process (no master, so one PID to stop), logs and temp files in our
// temp dir, `ok` with keep-alive for as long as any scenario runs.
function nginxConfig(dir, ports) {
  return [
    'daemon off;',
    'master_process off;',
    `pid ${path.join(dir, 'nginx.pid')};`,
    `error_log ${path.join(dir, 'nginx-error.log')} warn;`,
    'events { worker_connections 16384; }',
    'http {',
    '  access_log off;',
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${path.join(dir, `nginx-${t}`)};`),
    '  keepalive_requests 100000000;',
    '  keepalive_timeout 300s;',
    '  default_type text/plain;',
    '  server {',
    ...ports.map((p) => `    listen ${HOST}:${p} backlog=4096;`),
    '    location / { return 200 "ok\\n"; }',
    '  }',
    '}',
    '',
  ].join('\n');
}

async function startNginx(bin) {
  const dir = path.join(tempDir(), 'nginx');
  fs.mkdirSync(dir, { recursive: true });
  const ports = [await freePort(), await freePort()];
  const conf = path.join(dir, 'nginx.conf');
  const errorLog = path.join(dir, 'nginx-error.log');
  fs.writeFileSync(conf, nginxConfig(dir, ports));
  const child = launch('nginx', bin, ['-e', errorLog, '-p', dir, '-c', conf]);
  try {
    for (const port of ports) await waitForPort(port, child);
  } catch (err) {
    await stop(child);
    let log = '';
    try { log = fs.readFileSync(errorLog, 'utf8').trim().split('\n').slice(-3).join(' | '); } catch { /* none */ }
    throw new Error(`${err.message}${log ? ` (${log})` : ''}`);
  }
  return { kind: `nginx, one process serving ports ${ports.join(' and ')}`, ports, children: [child] };
}

// ---- node:http ----

// One node:http server replying `ok` with a Content-Length to every request.
function serveHttp() {
  const http = require('node:http');
  const body = Buffer.from('ok\n');
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length });
    res.end(body);
  });
  server.keepAliveTimeout = 300_000; // keep connections open through the whole run
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

async function startNodeBackends() {
  const started = await Promise.all([startNodeBackend(), startNodeBackend()]);
  return { kind: 'node:http, two processes', ports: started.map((b) => b.port), children: started.map((b) => b.child) };
}

// nginx unless `choice` (BENCH_BACKENDS) says node or nginx is missing or fails to start.
async function startBackends(nginx, choice) {
  const wanted = (choice ?? '').trim().toLowerCase();
  if (wanted && !['nginx', 'node'].includes(wanted)) throw new Error(`BENCH_BACKENDS is nginx or node, not ${choice}`);
  if (wanted !== 'node') {
    if (!nginx) {
      console.log('nginx not found; the backends are node:http (apt-get install nginx-light)');
    } else {
      try {
        return await startNginx(nginx);
      } catch (err) {
        console.log(`nginx failed to start (${err.message}); the backends are node:http`);
      }
    }
  }
  return startNodeBackends();
}

if (require.main === module && process.argv[2] === '--http') serveHttp();

module.exports = { startBackends };
