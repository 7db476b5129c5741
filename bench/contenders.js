'use strict';
// The balancers under test: pen-edge and Debian pen with the same flags, and haproxy with a minimal config.

const fs = require('node:fs');
const path = require('node:path');
const { HOST, freePort, launch, tempDir, waitForPidFile, waitForPort } = require('./processes');

const PEN_EDGE = path.resolve(__dirname, '..', 'bin', 'pen');
const PEN_CONN_MAX = 500; // pen's default -x
const HAPROXY_MAXCONN = 4096;

// ctx: backends, certificates (by key type, for scenario.tls), connMax (simultaneous connections the
// scenario needs), onBalancerCpus(cmd, args) (the command line that runs cmd where the balancers run).
// extraArgs: arguments for this pen only (scenario.penEdgeArgs for pen-edge).
async function startPen(name, bin, scenario, ctx, extraArgs = []) {
  const { backends, certificates, connMax, onBalancerCpus } = ctx;
  const tls = certificates[scenario.tls];
  const port = await freePort();
  const pidFile = path.join(tempDir(), `${name.replace(/\W+/g, '_')}.pid`);
  const args = ['-f', ...scenario.penFlags, ...(connMax > PEN_CONN_MAX ? ['-x', String(connMax)] : []),
    ...(scenario.tls ? ['-E', tls.cert, '-K', tls.key] : []), ...extraArgs,
    '-p', pidFile, `${HOST}:${port}`, ...backends.ports.map((b) => `${HOST}:${b}`)];
  const child = launch(name, ...onBalancerCpus(bin, args));
  await waitForPidFile(pidFile, child);
  return { name, port, child };
}

function haproxyConfig(scenario, port, { backends, certificates, connMax }) {
  return [
    'global',
    `  maxconn ${Math.max(HAPROXY_MAXCONN, connMax)}`,
    'defaults',
    ...scenario.haproxy.map((line) => `  ${line}`),
    '  timeout connect 5s',
    '  timeout client 60s',
    '  timeout server 60s',
    'frontend fe',
    `  bind ${HOST}:${port}${scenario.tls ? ` ssl crt ${certificates[scenario.tls].combined}` : ''}`,
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

// Starts every contender there is, side by side. Returns the started ones ({ name, port, child })
// and a FAILED row for each that did not start.
async function startContenders(tools, scenario, ctx) {
  const starts = [
    ['pen-edge', () => startPen('pen-edge', PEN_EDGE, scenario, ctx, scenario.penEdgeArgs)],
    ...(tools.pen ? [['pen (Debian)', () => startPen('pen (Debian)', tools.pen, scenario, ctx)]] : []),
    ...(tools.haproxy ? [['haproxy', () => startHaproxy(tools.haproxy, scenario, ctx)]] : []),
  ];
  const started = [];
  const failed = [];
  for (const [name, start] of starts) {
    try {
      started.push(await start());
    } catch (err) {
      failed.push({ name, failed: true, notes: [`failed to start: ${err.message}`] });
    }
  }
  return { started, failed };
}

module.exports = { startContenders };
