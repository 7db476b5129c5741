'use strict';
// The balancers under test: pen-edge and Debian pen with the same flags, and haproxy with a minimal config.

const fs = require('node:fs');
const path = require('node:path');
const { HOST, freePort, launch, tempDir, waitForPidFile, waitForPort } = require('./processes');

// ctx.onBalancerCpus(cmd, args) gives the command line that runs cmd where the balancers run.
async function startPen(name, bin, scenario, { backends, tls, onBalancerCpus }) {
  const port = await freePort();
  const pidFile = path.join(tempDir(), `${name.replace(/\W+/g, '_')}.pid`);
  const args = ['-f', ...scenario.penFlags, ...(scenario.tls ? ['-E', tls.cert, '-K', tls.key] : []),
    '-p', pidFile, `${HOST}:${port}`, ...backends.ports.map((b) => `${HOST}:${b}`)];
  const child = launch(name, ...onBalancerCpus(bin, args));
  await waitForPidFile(pidFile, child);
  return { name, port, child };
}

function haproxyConfig(scenario, port, { backends, tls }) {
  return [
    'global',
    '  maxconn 4096',
    'defaults',
    ...scenario.haproxy.map((line) => `  ${line}`),
    '  timeout connect 5s',
    '  timeout client 60s',
    '  timeout server 60s',
    'frontend fe',
    `  bind ${HOST}:${port}${scenario.tls ? ` ssl crt ${tls.combined}` : ''}`,
    '  default_backend be',
    'backend be',
    '  balance roundrobin',
    ...backends.ports.map((b, i) => `  server s${i + 1} ${HOST}:${b}`),
    '',
  ].join('\n');
}

async function startHaproxy(bin, scenario, ctx) {
  const port = await freePort();
  const cfg = path.join(tempDir(), 'haproxy.cfg');
  fs.writeFileSync(cfg, haproxyConfig(scenario, port, ctx));
  const child = launch('haproxy', ...ctx.onBalancerCpus(bin, ['-db', '-f', cfg])); // -db: stay in foreground
  await waitForPort(port, child);
  return { name: 'haproxy', port, child };
}

module.exports = { startPen, startHaproxy };
