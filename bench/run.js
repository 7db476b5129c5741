#!/usr/bin/env node
'use strict';
// Side-by-side throughput/latency benchmark: pen-edge (bin/pen) vs Debian pen vs haproxy,
// all balancing the same two local HTTP/1.1 keep-alive backends, measured with wrk.
// Usage: npm run bench   (env: BENCH_SECONDS=10 BENCH_ROUNDS=3 BENCH_CONNECTIONS=64 BENCH_THREADS=2
//                          BENCH_SCENARIOS='tcp keep-alive,tls handshakes')

const { spawn, spawnSync, fork } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const HOST = '127.0.0.1';
const ROOT = path.resolve(__dirname, '..');
const SECONDS = positiveInt(process.env.BENCH_SECONDS, 10);
const ROUNDS = positiveInt(process.env.BENCH_ROUNDS, 3); // contenders take turns, round after round; medians are reported
const CONNECTIONS = positiveInt(process.env.BENCH_CONNECTIONS, 64);
const THREADS = Math.min(positiveInt(process.env.BENCH_THREADS, 2), CONNECTIONS); // wrk needs c >= t
const READY_MS = 10_000;

// Each scenario decides how its balancers are launched and how wrk reaches them:
//   penFlags  flags for both pens (besides -f, -p and the addresses)
//   haproxy   lines for the `defaults` section of haproxy's config
//   tls       terminate TLS in the balancers: pens get -E cert -K key, haproxy's bind gets
//             `ssl crt`, and wrk uses https (the direct baseline stays plain http)
//   wrkArgs   extra wrk arguments
const SCENARIOS = [
  { name: 'tcp keep-alive', penFlags: ['-r'], haproxy: ['mode tcp'] },
  { name: 'http-xff', penFlags: ['-r', '-H'], haproxy: ['mode http', 'option forwardfor', 'http-reuse never'] },
  { name: 'tls keep-alive', tls: true, penFlags: ['-r'], haproxy: ['mode tcp'] },
  // A new TLS connection, so a full handshake, for every request.
  { name: 'tls handshakes', tls: true, penFlags: ['-r'], haproxy: ['mode tcp'], wrkArgs: ['-H', 'Connection: close'] },
];

const children = new Set(); // every process we started, so we can kill exactly those by PID
let tmp = null; // temp dir for pid files, the haproxy config and the TLS certificate

function positiveInt(value, fallback) {
  const n = Number.parseInt(value ?? '', 10);
  return Number.isFinite(n) && n > 0 ? n : fallback;
}

function which(cmd, candidates) {
  return candidates.find((p) => fs.existsSync(p)) ??
    (spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).stdout.trim() || null);
}

// BENCH_SCENARIOS: comma-separated scenario names (case-insensitive); unset = all of them.
function selectScenarios() {
  const wanted = (process.env.BENCH_SCENARIOS ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  if (wanted.length === 0) return SCENARIOS;
  const names = SCENARIOS.map((s) => s.name.toLowerCase());
  const unknown = wanted.filter((w) => !names.includes(w));
  if (unknown.length) {
    console.error(`unknown BENCH_SCENARIOS ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`);
    process.exit(2);
  }
  return SCENARIOS.filter((s) => wanted.includes(s.name.toLowerCase()));
}

// A throwaway self-signed certificate for this run. haproxy wants cert and key in one file.
// Returns the file names, or a string saying why there are none.
function makeCertificate(openssl) {
  if (!openssl) return 'openssl not found';
  const [cert, key, combined] = ['cert.pem', 'key.pem', 'combined.pem'].map((f) => path.join(tmp, f));
  const r = spawnSync(openssl, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-days', '2', '-subj', '/CN=localhost', '-keyout', key, '-out', cert], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) return `openssl failed: ${(r.error?.message ?? r.stderr).trim()}`;
  fs.writeFileSync(combined, fs.readFileSync(cert, 'utf8') + fs.readFileSync(key, 'utf8'));
  return { cert, key, combined };
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// ---- backend (runs in a child process: `node run.js --backend`) ----

function runBackend() {
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

function startBackend() {
  const child = fork(__filename, ['--backend'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  track(child, 'backend');
  return withTimeout(new Promise((resolve, reject) => {
    child.once('message', (m) => resolve({ child, port: m.port }));
    child.once('exit', (code) => reject(new Error(`backend exited early (code ${code})`)));
  }), READY_MS, 'backend start');
}

// ---- process bookkeeping ----

function track(child, name) {
  child.benchName = name;
  child.stderrTail = '';
  children.add(child);
  child.stderr?.on('data', (d) => { child.stderrTail = (child.stderrTail + d).slice(-2000); });
  child.once('exit', () => children.delete(child));
  return child;
}

function launch(name, cmd, args) {
  return track(spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] }), name);
}

async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  process.kill(child.pid, 'SIGTERM');
  try {
    await withTimeout(exited, 3000, `stopping ${child.benchName}`);
  } catch {
    try { process.kill(child.pid, 'SIGKILL'); } catch { /* already gone */ }
    await exited;
  }
}

function cleanupSync() {
  for (const child of children) {
    try { process.kill(child.pid, 'SIGKILL'); } catch { /* already gone */ }
  }
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
}

// Fails fast if the child dies before becoming ready, so we don't sit out the whole timeout.
function exitedEarly(child) {
  return new Promise((_, reject) => child.once('exit', (code, sig) => reject(new Error(
    `${child.benchName} exited early (${sig ?? code}): ${child.stderrTail.trim().split('\n').slice(-3).join(' | ')}`))));
}

// ---- readiness ----

// Resolves once `file` holds a pid. fs.watch on the directory catches the file's creation;
// the content check covers the window between create and write.
function waitForPidFile(file, child) {
  const dir = path.dirname(file);
  let watcher;
  const ready = new Promise((resolve) => {
    const check = () => {
      let text = '';
      try { text = fs.readFileSync(file, 'utf8'); } catch { /* not there yet */ }
      if (/^\s*\d+/.test(text)) resolve();
    };
    watcher = fs.watch(dir, check);
    check(); // it may already exist
  });
  return withTimeout(Promise.race([ready, exitedEarly(child)]), READY_MS, `${child.benchName} pid file`)
    .finally(() => watcher.close());
}

function tryConnect(port) {
  return new Promise((resolve) => {
    const sock = net.connect(port, HOST);
    sock.once('connect', () => { sock.destroy(); resolve(true); });
    sock.once('error', () => resolve(false));
  });
}

async function waitForPort(port, child) {
  const deadline = Date.now() + READY_MS;
  let dead = null;
  exitedEarly(child).catch((err) => { dead = err; });
  while (Date.now() < deadline) {
    if (dead) throw dead;
    if (await tryConnect(port)) return;
    await sleep(50);
  }
  throw new Error(`${child.benchName}: port ${port} not accepting after ${READY_MS} ms`);
}

// An ephemeral port the kernel just handed out; tiny race until the balancer binds it, fine on loopback.
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// ---- contenders ----

async function startPen(name, bin, scenario, { backends, tls }) {
  const port = await freePort();
  const pidFile = path.join(tmp, `${name.replace(/\W+/g, '_')}.pid`);
  const args = ['-f', ...scenario.penFlags, ...(scenario.tls ? ['-E', tls.cert, '-K', tls.key] : []),
    '-p', pidFile, `${HOST}:${port}`, ...backends.map((b) => `${HOST}:${b}`)];
  const child = launch(name, bin, args);
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
    ...backends.map((b, i) => `  server s${i + 1} ${HOST}:${b}`),
    '',
  ].join('\n');
}

async function startHaproxy(bin, scenario, ctx) {
  const port = await freePort();
  const cfg = path.join(tmp, 'haproxy.cfg');
  fs.writeFileSync(cfg, haproxyConfig(scenario, port, ctx));
  const child = launch('haproxy', bin, ['-db', '-f', cfg]); // -db: stay in foreground
  await waitForPort(port, child);
  return { name: 'haproxy', port, child };
}

// ---- CPU time ----

// User + system CPU seconds a process has used so far (Linux /proc), or NaN where unknown.
function cpuSeconds(pid) {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;

// ---- wrk ----

function parseLatency(value, unit) {
  const scale = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit];
  return scale === undefined ? NaN : Number(value) * scale;
}

function parseWrk(out) {
  const requests = out.match(/^\s*(\d+) requests in/m);
  const rps = out.match(/^Requests\/sec:\s+([\d.]+)/m);
  const p99 = out.match(/^\s*99(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$/m);
  const notes = [];
  const errors = out.match(/^\s*Socket errors:.*$/m);
  const non2xx = out.match(/^\s*Non-2xx or 3xx responses:.*$/m);
  if (errors) notes.push(errors[0].trim());
  if (non2xx) notes.push(non2xx[0].trim());
  return {
    requests: requests ? Number(requests[1]) : NaN,
    rps: rps ? Number(rps[1]) : NaN,
    p99: p99 ? parseLatency(p99[1], p99[2]) : NaN,
    notes,
  };
}

function runWrk(bin, scenario, url) {
  const args = [`-t${THREADS}`, `-c${CONNECTIONS}`, `-d${SECONDS}s`, '--latency', ...(scenario.wrkArgs ?? []), url];
  const child = track(spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] }), 'wrk');
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  const done = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  return withTimeout(done, (SECONDS + 30) * 1000, 'wrk')
    .catch(async (err) => { await stop(child); throw err; })
    .then((code) => {
      const result = parseWrk(out);
      if (code !== 0 || Number.isNaN(result.rps)) {
        result.failed = true;
        result.notes.push(`wrk exit ${code}: ${child.stderrTail.trim() || out.trim().split('\n').pop()}`);
      }
      return result;
    });
}

// ---- report ----

function fmt(n, digits) {
  return Number.isFinite(n) ? n.toFixed(digits) : 'n/a';
}

function median(values) {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

// One row per contender from its rounds: the median of each figure, every note kept once.
function summarise(name, rounds) {
  return {
    name,
    rps: median(rounds.map((r) => r.rps)),
    p99: median(rounds.map((r) => r.p99)),
    cpuPerRequest: median(rounds.map((r) => r.cpuPerRequest)),
    failed: rounds.some((r) => r.failed),
    notes: [...new Set(rounds.flatMap((r) => r.notes))],
  };
}

function printTable(scenario, rows) {
  const pen = rows.find((r) => r.name === 'pen (Debian)');
  const table = rows.map((r) => [
    r.name,
    fmt(r.rps, 0),
    Number.isFinite(r.p99) ? `${fmt(r.p99, 2)} ms` : 'n/a',
    fmt(r.cpuPerRequest, 1),
    pen ? fmt(r.rps / pen.rps, 2) : 'n/a',
    pen ? fmt(r.p99 / pen.p99, 2) : 'n/a',
    r.failed ? 'FAILED' : r.notes.length ? 'see notes' : 'ok',
  ]);
  const header = ['contender', 'req/s', 'p99', 'CPU us/req', 'req/s vs pen', 'p99 vs pen', 'status'];
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(`\n== ${scenario.name} (wrk -t${THREADS} -c${CONNECTIONS} -d${SECONDS}s, median of ${ROUNDS} rounds) ==`);
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  table.forEach((row) => console.log(line(row)));
  for (const r of rows) for (const note of r.notes) console.log(`  note: ${r.name}: ${note}`);
}

// ---- main ----

// One wrk run against one target, with the CPU time its balancer used per request.
async function measure(tools, scenario, target) {
  const { child } = target;
  const cpuBefore = child ? cpuSeconds(child.pid) : NaN;
  let row;
  try {
    row = await runWrk(tools.wrk, scenario, `${target.scheme}://${HOST}:${target.port}/`);
  } catch (err) {
    return { failed: true, notes: [err.message] };
  }
  row.cpuPerRequest = ((cpuSeconds(child?.pid) - cpuBefore) / row.requests) * 1e6;
  if (child && (child.exitCode !== null || child.signalCode !== null)) {
    row.failed = true;
    row.notes.push(`exited during run (${child.signalCode ?? child.exitCode}): ${child.stderrTail.trim()}`);
  }
  return row;
}

async function runScenario(scenario, ctx) {
  const { tools, backends } = ctx;
  // Start every contender up front so they run side by side; wrk then hits one at a time
  // so they don't compete for CPU during measurement.
  const started = [];
  const rows = [];
  const attempt = async (name, start) => {
    try {
      started.push(await start());
    } catch (err) {
      rows.push({ name, failed: true, notes: [`failed to start: ${err.message}`] });
    }
  };
  await attempt('pen-edge', () => startPen('pen-edge', path.join(ROOT, 'bin', 'pen'), scenario, ctx));
  if (tools.pen) await attempt('pen (Debian)', () => startPen('pen (Debian)', tools.pen, scenario, ctx));
  if (tools.haproxy) await attempt('haproxy', () => startHaproxy(tools.haproxy, scenario, ctx));

  const scheme = scenario.tls ? 'https' : 'http';
  const targets = [
    { name: `direct (1 backend${scenario.tls ? ', plain http' : ''})`, port: backends[0], scheme: 'http' },
    ...started.map((s) => ({ ...s, scheme })),
  ];
  const rounds = new Map(targets.map((t) => [t.name, []]));
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      for (const t of targets) {
        process.stderr.write(`  ${scenario.name}: round ${round}/${ROUNDS}: ${t.name} ...\n`);
        rounds.get(t.name).push(await measure(tools, scenario, t));
      }
    }
  } finally {
    await Promise.all(started.map((s) => stop(s.child)));
  }
  rows.push(...targets.map((t) => summarise(t.name, rounds.get(t.name))));
  const order = targets.map((t) => t.name);
  rows.sort((a, b) => (order.indexOf(a.name) + 1 || 99) - (order.indexOf(b.name) + 1 || 99));
  printTable(scenario, rows);
}

async function main() {
  const tools = {
    wrk: which('wrk', ['/usr/bin/wrk']),
    pen: which('pen', ['/usr/bin/pen', '/usr/sbin/pen']),
    haproxy: which('haproxy', ['/usr/sbin/haproxy', '/usr/bin/haproxy']),
    openssl: which('openssl', ['/usr/bin/openssl']),
  };
  let scenarios = selectScenarios();
  if (!tools.wrk) {
    console.log('wrk not found; install it to benchmark: apt-get install pen wrk haproxy');
    return;
  }
  if (!fs.existsSync(path.join(ROOT, 'dist', 'process', 'main.js'))) {
    console.log('dist/ missing; building with tsc ...');
    spawnSync('npx', ['tsc', '-p', '.'], { cwd: ROOT, stdio: 'inherit' });
  }
  for (const tool of ['pen', 'haproxy']) {
    if (!tools[tool]) console.log(`${tool} not found, skipping it (apt-get install pen wrk haproxy)`);
  }

  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pen-bench-'));
  const tls = scenarios.some((s) => s.tls) ? makeCertificate(tools.openssl) : null;
  if (typeof tls === 'string') {
    console.log(`${tls}; skipping the TLS scenarios`);
    scenarios = scenarios.filter((s) => !s.tls);
  }
  const backends = await Promise.all([startBackend(), startBackend()]);
  const ctx = { tools, tls, backends: backends.map((b) => b.port) };
  for (const scenario of scenarios) await runScenario(scenario, ctx);
  await Promise.all(backends.map((b) => stop(b.child)));
}

if (process.argv[2] === '--backend') {
  runBackend();
} else {
  process.on('exit', cleanupSync); // also on errors/Ctrl-C: never leave our children or temp files behind
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));
  main().then(() => process.exit(0), (err) => {
    console.error(`bench failed: ${err.stack ?? err}`);
    process.exit(1);
  });
}
