#!/usr/bin/env node
'use strict';
// Side-by-side throughput/latency benchmark: pen-edge (bin/pen) vs Debian pen vs haproxy,
// all balancing the same two local HTTP/1.1 keep-alive backends, measured with wrk (h2load for HTTP/2).
// Usage: npm run bench   (env: BENCH_SECONDS=10 BENCH_ROUNDS=3 BENCH_CONNECTIONS=64,256 BENCH_THREADS=2
//                          BENCH_SCENARIOS='tcp keep-alive,conn per request' BENCH_PIN=0 BENCH_BACKENDS=node)

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { startBackends } = require('./backends');
const { makeCertificate } = require('./certificates');
const { startContenders, node24 } = require('./contenders');
const { describe, moveToCpus, onCpus, planPinning } = require('./pinning');
const { HOST, cleanupSync, cpuSeconds, mainThreadCpuSeconds, running, stop, tempDir, which } = require('./processes');
const { measureIdle } = require('./idle');
const { printIdleTable, printTable, printCompareTable, printRatioTable, summarise, summariseIdle } = require('./report');
const { connectionCounts, parseConnections, selectScenarios } = require('./scenarios');
const { buildFullHandshakes, runWrk } = require('./wrk');
const { runH2load } = require('./h2load');

const ROOT = path.resolve(__dirname, '..');
const SECONDS = positiveInt(process.env.BENCH_SECONDS, 10);
const ROUNDS = positiveInt(process.env.BENCH_ROUNDS, 3); // contenders take turns, round after round; medians are reported
const THREADS = positiveInt(process.env.BENCH_THREADS, 2); // wrk's and h2load's

function positiveInt(value, fallback) {
  const n = Number.parseInt(value ?? '', 10);
  return Number.isFinite(n) && n > 0 ? n : fallback;
}

// One run of a load tool against a target: `load()` resolves to the tool's row, which gets the
// CPU time the target's balancer used per request; a failed run is a failed row.
async function withCpu(scenario, child, load) {
  const cpuBefore = child ? cpuSeconds(child.pid) : NaN;
  const mainBefore = child && scenario.threadCpu ? mainThreadCpuSeconds(child.pid) : NaN;
  let row;
  try {
    row = await load();
  } catch (err) {
    return { failed: true, notes: [err.message] };
  }
  row.cpuPerRequest = ((cpuSeconds(child?.pid) - cpuBefore) / row.requests) * 1e6;
  row.mainCpuPerRequest = ((mainThreadCpuSeconds(child?.pid) - mainBefore) / row.requests) * 1e6;
  if (child && !running(child)) {
    row.failed = true;
    row.notes.push(`exited during run (${child.signalCode ?? child.exitCode}): ${child.stderrTail.trim()}`);
  }
  return row;
}

// One wrk run against one target.
function measureWrk(ctx, scenario, target, connections) {
  const run = {
    bin: ctx.tools.wrk, threads: Math.min(THREADS, connections), connections, seconds: SECONDS,
    args: scenario.wrkArgs ?? [], onCpus: ctx.onLoadCpus,
    preload: scenario.fullHandshakes && target.scheme === 'https' ? ctx.fullHandshakes?.path : null,
  };
  return withCpu(scenario, target.child, () => runWrk(run, `${target.scheme}://${HOST}:${target.port}/`));
}

// One h2load run against one target, over the target's protocol.
function measureH2load(ctx, scenario, target, connections) {
  const run = {
    bin: ctx.tools.h2load, threads: Math.min(THREADS, connections), connections, seconds: SECONDS,
    args: target.protocol.args, alpn: target.protocol.alpn, onCpus: ctx.onLoadCpus,
  };
  return withCpu(scenario, target.child, () => runH2load(run, `https://${HOST}:${target.port}/`));
}

// How each load tool measures a scenario: its targets from the contenders started (and the rows
// of those that failed to start), one measurement, and the tool's part of the table's title.
const WRK = {
  targets(scenario, ctx, started, failed) {
    const scheme = scenario.tls ? 'https' : 'http';
    const direct = { name: `direct (1 backend${scenario.tls ? ', plain http' : ''})`, port: ctx.backends.ports[0], scheme: 'http' };
    return { targets: [direct, ...started.map((s) => ({ ...s, scheme }))], failed };
  },
  measure: measureWrk,
  title: (scenario, connections) => `wrk -t${Math.min(THREADS, connections)} -c${connections} -d${SECONDS}s`,
};
// A target for each contender and protocol, e.g. 'pen-edge h2'; no direct baseline, as the
// backends speak neither TLS nor h2.
const H2LOAD = {
  targets(scenario, ctx, started, failed) {
    const each = (c) => scenario.h2load.map((protocol) => ({ ...c, name: `${c.name} ${protocol.alpn}`, protocol }));
    return { targets: started.flatMap(each), failed: failed.flatMap(each) };
  },
  measure: measureH2load,
  title: (scenario, connections) => `h2load -t${Math.min(THREADS, connections)} -c${connections} -D${SECONDS}s; ` +
    scenario.h2load.map((p) => `${p.alpn} ${p.args.join(' ')}`).join(', '),
};

// Every target measured once a round, one at a time, for ROUNDS rounds. Returns each target's
// rounds by its name.
async function takeTurns(label, targets, measureOne) {
  const rounds = new Map(targets.map((t) => [t.name, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const t of targets) {
      process.stderr.write(`  ${label}: round ${round}/${ROUNDS}: ${t.name} ...\n`);
      rounds.get(t.name).push(await measureOne(t));
    }
  }
  return rounds;
}

// Where a scenario's processes run: the balancers on their CPU and wrk and the backends on
// the others, as planned; anywhere when pinning is off or the scenario is `unpinned`. The
// backends, started once, are moved.
function placeProcesses(plan, backends, scenario) {
  const pinned = plan.on && !scenario.unpinned;
  if (plan.on) {
    for (const child of backends.children) {
      const err = moveToCpus(plan, child.pid, pinned ? plan.load : plan.all);
      if (err) throw new Error(err);
    }
  }
  return {
    onBalancerCpus: (cmd, args) => onCpus(plan, pinned ? plan.balancers : null, cmd, args),
    onLoadCpus: (cmd, args) => onCpus(plan, pinned ? plan.load : null, cmd, args),
  };
}

const ORDER = ['direct', 'pen-edge', 'pen (Debian)', 'haproxy'];

function byContender(a, b) {
  const place = (row) => ORDER.findIndex((name) => row.name.startsWith(name));
  return place(a) - place(b);
}

// All contenders run side by side for the whole scenario; the load tool hits one at a time so
// they don't compete for CPU during a measurement. One table per connection count.
async function runLoadScenario(scenario, base) {
  const counts = connectionCounts(scenario, base.connections);
  // twice the clients: room for connections still closing when new ones arrive
  const ctx = { ...base, ...placeProcesses(base.pinning, base.backends, scenario), connMax: 2 * Math.max(...counts) };
  const tool = scenario.h2load ? H2LOAD : WRK;
  const print = scenario.compare ? printCompareTable : scenario.ratios ? printRatioTable : printTable;
  const contenders = await startContenders(ctx.tools, scenario, ctx);
  const { targets, failed } = tool.targets(scenario, ctx, contenders.started, contenders.failed);
  try {
    for (const connections of counts) {
      const rounds = await takeTurns(`${scenario.name} (-c${connections})`, targets,
        (t) => tool.measure(ctx, scenario, t, connections));
      const rows = [...targets.map((t) => summarise(t.name, rounds.get(t.name))), ...failed].sort(byContender);
      const unpinned = scenario.unpinned && ctx.pinning.on ? ', unpinned' : '';
      print(`${scenario.name} (${tool.title(scenario, connections)}, median of ${ROUNDS} rounds${unpinned})`, rows, scenario);
    }
  } finally {
    await Promise.all(contenders.started.map((s) => stop(s.child)));
  }
}

// Fresh contenders every round, so each starts from the same memory; measured one at a time.
async function runIdleScenario(scenario, base) {
  const ctx = { ...base, ...placeProcesses(base.pinning, base.backends, scenario), connMax: scenario.idle + 1000 };
  const rounds = new Map(); // contender name -> its rounds, a failed start counting as a failed round
  const record = (name, result) => rounds.set(name, [...(rounds.get(name) ?? []), result]);
  for (let round = 1; round <= ROUNDS; round++) {
    const { started, failed } = await startContenders(ctx.tools, scenario, ctx);
    for (const f of failed) record(f.name, f);
    try {
      for (const c of started) {
        process.stderr.write(`  ${scenario.name}: round ${round}/${ROUNDS}: ${c.name} ...\n`);
        record(c.name, await measureIdle(c, scenario.idle));
      }
    } finally {
      await Promise.all(started.map((s) => stop(s.child)));
    }
  }
  const rows = [...rounds].map(([name, r]) => summariseIdle(name, r)).sort(byContender);
  printIdleTable(`${scenario.name} (${scenario.idle} idle connections through each balancer, median of ${ROUNDS} rounds)`, rows);
}

// The scenario without its pen-edges marked node24 (where there is no Node 24).
function withoutNode24(scenario) {
  return scenario.penEdges ? { ...scenario, penEdges: scenario.penEdges.filter((p) => !p.node24) } : scenario;
}

async function main() {
  const tools = {
    wrk: which('wrk', ['/usr/bin/wrk']),
    h2load: which('h2load', ['/usr/bin/h2load']),
    pen: which('pen', ['/usr/bin/pen', '/usr/sbin/pen']),
    haproxy: which('haproxy', ['/usr/sbin/haproxy', '/usr/bin/haproxy']),
    openssl: which('openssl', ['/usr/bin/openssl']),
    nginx: which('nginx', ['/usr/sbin/nginx']),
    taskset: which('taskset', ['/usr/bin/taskset']),
  };
  let scenarios;
  let connections;
  try {
    scenarios = selectScenarios(process.env.BENCH_SCENARIOS);
    connections = parseConnections(process.env.BENCH_CONNECTIONS);
  } catch (err) {
    console.error(err.message);
    process.exit(2);
  }
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

  if (!tools.h2load && scenarios.some((s) => s.h2load)) {
    console.log('h2load not found; skipping the h2 scenario (apt-get install nghttp2-client)');
    scenarios = scenarios.filter((s) => !s.h2load);
  }

  const certificates = {};
  for (const kind of new Set(scenarios.map((s) => s.tls).filter(Boolean))) {
    const made = makeCertificate(tools.openssl, tempDir(), kind);
    if (typeof made === 'string') {
      console.log(`${made}; skipping the ${kind} TLS scenarios`);
      scenarios = scenarios.filter((s) => s.tls !== kind);
    } else {
      certificates[kind] = made;
    }
  }
  let fullHandshakes = null;
  if (scenarios.some((s) => s.fullHandshakes)) {
    fullHandshakes = buildFullHandshakes(tempDir());
    if (typeof fullHandshakes === 'string') {
      console.log(`${fullHandshakes}; wrk may resume TLS sessions in the handshake scenarios`);
      fullHandshakes = null;
    }
  }
  let node = null; // Node 24, for the workers scenarios and the pen-edges marked node24
  if (scenarios.some((s) => s.workersNode || s.penEdges?.some((p) => p.node24))) {
    node = node24();
    if (typeof node === 'string') {
      console.log(`${node}; skipping the workers scenarios and the pen-edges on Node 24`);
      scenarios = scenarios.filter((s) => !s.workersNode).map(withoutNode24);
      node = null;
    }
  }
  const pinning = planPinning(process.env.BENCH_PIN, tools.taskset);
  const backends = await startBackends(tools.nginx, process.env.BENCH_BACKENDS);
  console.log(`backends: ${backends.kind}`);
  console.log(`pinning: ${describe(pinning)}`);
  console.log(`pen-edge: ${process.execPath} ${process.version}` +
    (node ? `; in the workers scenarios and as 'pen-edge (Node 24)': ${path.relative(ROOT, node.path)} ${node.version}` : ''));
  const ctx = { tools, certificates, fullHandshakes, pinning, backends, connections, node24: node };
  for (const scenario of scenarios) await (scenario.idle ? runIdleScenario : runLoadScenario)(scenario, ctx);
  await Promise.all(backends.children.map(stop));
}

process.on('exit', cleanupSync); // also on errors/Ctrl-C: never leave our children or temp files behind
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));
main().then(() => process.exit(0), (err) => {
  console.error(`bench failed: ${err.stack ?? err}`);
  process.exit(1);
});
