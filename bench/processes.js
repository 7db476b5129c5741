'use strict';
// The processes the bench starts: bookkeeping, readiness, stopping, and what /proc says about them.

const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const HOST = '127.0.0.1';
const READY_MS = 10_000;

const children = new Set(); // every process we started, so we can kill exactly those by PID
let tmp = null; // temp dir for pid files, configs and certificates

function tempDir() {
  tmp ??= fs.mkdtempSync(path.join(os.tmpdir(), 'pen-bench-'));
  return tmp;
}

function which(cmd, candidates) {
  return candidates.find((p) => fs.existsSync(p)) ??
    (spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).stdout.trim() || null);
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

// ---- bookkeeping ----

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

// Runs a program (e.g. a load tool) to its end, bounded at `ms`, after which it is stopped. Resolves
// to its exit code, its whole stdout and the tail of its stderr.
async function runToEnd(name, [cmd, args], ms, env = process.env) {
  const child = track(spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env }), name);
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  // 'close', not 'exit': the output may still be in the pipes when the process has exited
  const done = new Promise((resolve) => child.once('close', (code) => resolve(code)));
  const code = await withTimeout(done, ms, name).catch(async (err) => { await stop(child); throw err; });
  return { code, out, stderr: child.stderrTail };
}

function running(child) {
  return child.exitCode === null && child.signalCode === null;
}

async function stop(child) {
  if (!running(child)) return;
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

// ---- /proc ----

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;

// A process and all its descendants (a balancer with worker processes counts as all of them).
function processTree(pid) {
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) {
    let tasks = [];
    try { tasks = fs.readdirSync(`/proc/${tree[i]}/task`); } catch { continue; /* gone */ }
    for (const tid of tasks) {
      let children = '';
      try { children = fs.readFileSync(`/proc/${tree[i]}/task/${tid}/children`, 'utf8'); } catch { /* gone */ }
      tree.push(...children.split(' ').filter(Boolean).map(Number));
    }
  }
  return tree;
}

// Sums a figure over a process tree; NaN when the process itself cannot be read.
function sumOverTree(pid, figure) {
  const [own, ...rest] = processTree(pid).map(figure);
  return rest.reduce((sum, n) => sum + (Number.isFinite(n) ? n : 0), own);
}

// User + system CPU seconds a process (all its threads) has used so far (Linux /proc), or NaN
// where unknown; `file` picks another stat file, e.g. one thread's.
function ownCpuSeconds(pid, file = `/proc/${pid}/stat`) {
  try {
    const fields = fs.readFileSync(file, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

// Resident memory of a process in KiB (VmRSS), or NaN where unknown.
function ownRssKiB(pid) {
  try {
    return Number(fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s*(\d+) kB/m)[1]);
  } catch {
    return NaN;
  }
}

// The same for a process with its descendants.
function cpuSeconds(pid) {
  return sumOverTree(pid, (p) => ownCpuSeconds(p));
}

// The same for a process's main thread alone (the thread whose id is the process's).
function mainThreadCpuSeconds(pid) {
  return ownCpuSeconds(pid, `/proc/${pid}/task/${pid}/stat`);
}

function rssKiB(pid) {
  return sumOverTree(pid, ownRssKiB);
}

module.exports = {
  HOST, READY_MS, tempDir, which, sleep, withTimeout, track, launch, runToEnd, running, stop, cleanupSync,
  exitedEarly, waitForPidFile, waitForPort, freePort, cpuSeconds, mainThreadCpuSeconds, rssKiB,
};
