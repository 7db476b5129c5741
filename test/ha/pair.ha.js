'use strict';
// High availability as pen(1) proposes it: pen on several servers, VRRP choosing the active one.
// One Ethernet segment made of network namespaces: a bridge, a client, two balancers and a host
// with three web servers and a Redis. Each balancer runs pen-edge with `client_store redis://…`
// and keepalived, which keeps a virtual address on a balancer whose pen-edge listens (README,
// "High availability"). While the client asks the virtual address for a page every 20 ms, the
// active pen-edge is killed, started again, and the other one stopped with QUIT: each time the
// client is answered again within seconds, by the same server throughout.
// Opt-in (`npm run test:ha`): root, iproute2, keepalived and redis-server.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, spawnSync, execFile, execFileSync } = require('node:child_process');
const { once } = require('node:events');
const { promisify } = require('node:util');
const { PEN, PENCTL, IS_ROOT, fileCreated } = require('../support/harness');

const SEGMENT = '10.99.0'; // a /24 that exists only inside the test's namespaces
const HOSTS = { client: `${SEGMENT}.10`, one: `${SEGMENT}.1`, two: `${SEGMENT}.2`, back: `${SEGMENT}.20` };
const OTHER_CLIENT = `${SEGMENT}.11`; // a second address of the client's host
const VIRTUAL = `${SEGMENT}.100`;
const PORT = 80;
const BACKEND_PORT = 8001;
const REDIS_PORT = 6379;
const REDIS = `redis://${HOSTS.back}:${REDIS_PORT}`;
const CONTROL = '127.0.0.1:10080';
const MAX_GAP_MS = 5000;
const WAIT_MS = 15000; // for anything the test waits on; VRRP needs about 4 s to elect at start
const PREFIX = `penha-${process.pid}`;
const execFileAsync = promisify(execFile);

/** Why this test cannot run here, or false. */
function unavailable() {
  if (!IS_ROOT) return 'network namespaces need root: run `npm run test:ha` as root';
  const tools = [['ip', ['-V'], 'iproute2'], ['keepalived', ['--version'], 'keepalived'], ['redis-server', ['--version'], 'redis-server']];
  const absent = tools.find(([tool, args]) => spawnSync(tool, args).error);
  if (absent) return `${absent[0]} not found: apt-get install -y ${absent[2]}`;
  const probe = spawnSync('ip', ['netns', 'add', `${PREFIX}-probe`], { encoding: 'utf8' });
  if (probe.status !== 0) return `cannot make a network namespace here: ${probe.stderr.trim()}`;
  spawnSync('ip', ['netns', 'del', `${PREFIX}-probe`]);
  return false;
}

function ip(...args) {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * What the test makes, taken apart after it by dismantle: processes (stopped first), network
 * namespaces, and a directory for pid and configuration files.
 */
function newLab(t) {
  const lab = { processes: [], namespaces: [], dir: fs.mkdtempSync(path.join(os.tmpdir(), 'penha-')) };
  t.after(() => dismantle(lab));
  return lab;
}

async function dismantle(lab) {
  await Promise.all(lab.processes.map(stop));
  const left = lab.namespaces.filter((name) => spawnSync('ip', ['netns', 'del', name]).status !== 0);
  fs.rmSync(lab.dir, { recursive: true, force: true });
  assert.deepEqual(left, [], 'network namespaces that could not be deleted');
}

const exited = (child) => child.exitCode !== null || child.signalCode !== null;

/** TERM, and KILL if that has not ended it within 5 s. */
async function stop(child) {
  if (exited(child)) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await child.exited;
  clearTimeout(timer);
}

/**
 * The segment: a namespace per host, its eth0 a veth whose other end is a port of a bridge in a
 * namespace of its own; nothing outside the namespaces is touched. Returns the hosts' namespaces.
 */
function buildSegment(lab) {
  const lan = `${PREFIX}-lan`;
  const ns = Object.fromEntries(Object.keys(HOSTS).map((host) => [host, `${PREFIX}-${host}`]));
  for (const name of [lan, ...Object.values(ns)]) {
    ip('netns', 'add', name);
    lab.namespaces.push(name);
    ip('-n', name, 'link', 'set', 'lo', 'up');
  }
  ip('-n', lan, 'link', 'add', 'br0', 'type', 'bridge');
  ip('-n', lan, 'link', 'set', 'br0', 'up');
  for (const [host, address] of Object.entries(HOSTS)) {
    ip('-n', ns[host], 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', host, 'netns', lan);
    ip('-n', lan, 'link', 'set', host, 'master', 'br0', 'up');
    ip('-n', ns[host], 'addr', 'add', `${address}/24`, 'dev', 'eth0');
    ip('-n', ns[host], 'link', 'set', 'eth0', 'up');
  }
  ip('-n', ns.client, 'addr', 'add', `${OTHER_CLIENT}/24`, 'dev', 'eth0');
  return ns;
}

/**
 * Runs command in namespace ns (`ip netns exec` becomes the command, so child.pid is its PID); its
 * stdout and stderr gather in child.output. Stopped when the lab is taken apart.
 */
function startIn(lab, ns, command, args) {
  const child = spawn('ip', ['netns', 'exec', ns, command, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  lab.processes.push(child);
  child.output = '';
  for (const stream of [child.stdout, child.stderr]) {
    stream.on('data', (data) => {
      child.output += data;
      child.emit('output');
    });
  }
  child.exited = once(child, 'exit').then(() => child.emit('output'));
  return child;
}

/** Resolves once done(child.output) is true; fails when the child exits first, or after ms. */
async function until(child, done, what, ms = WAIT_MS) {
  const signal = AbortSignal.timeout(ms);
  while (!done(child.output)) {
    if (exited(child)) throw new Error(`exited before ${what}:\n${child.output}`);
    await once(child, 'output', { signal }).catch(() => {
      throw new Error(`no ${what} within ${ms} ms:\n${child.output}`);
    });
  }
}

const printed = (re) => (output) => re.test(output);

/** Rejects after ms: a bound for a wait that has no output to watch. */
function late(ms, what) {
  return new Promise((_, reject) => setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms).unref());
}

/** The client's lines so far, parsed. */
function answers(client) {
  return client.output.split('\n').filter((line) => line.endsWith('}')).map((line) => JSON.parse(line));
}

/** A pen-edge serving the virtual address's port in namespace ns, resolved once it serves. */
async function startPen(lab, ns) {
  const pidFile = path.join(lab.dir, `${ns}.pid`);
  const servers = ['a', 'b', 'c'].map((_, i) => `${HOSTS.back}:${BACKEND_PORT + i}`);
  const pen = startIn(lab, ns, process.execPath, [PEN, '-f', '-p', pidFile, '-C', CONTROL, '-u', 'root', '-o', `client_store ${REDIS}`, String(PORT), ...servers]);
  const exited = pen.exited.then(() => { throw new Error(`pen-edge exited:\n${pen.output}`); });
  await Promise.race([fileCreated(pidFile), exited, late(WAIT_MS, `pid file from pen-edge in ${ns}`)]);
  return Object.assign(pen, { ns, pidFile });
}

/** keepalived.conf for one balancer, as README's "High availability" shows it for a real host. */
function keepalivedConf(priority) {
  return `global_defs {
    script_user nobody nogroup
    enable_script_security
}

vrrp_script pen_edge {
    script "/bin/sh -c 'ss -Hltn sport = :${PORT} | grep -q .'"
    interval 1
    fall 1
    rise 2
}

vrrp_instance pen {
    state BACKUP
    nopreempt
    interface eth0
    virtual_router_id 51
    priority ${priority}
    advert_int 1
    virtual_ipaddress {
        ${VIRTUAL}/24
    }
    track_script {
        pen_edge
    }
}
`;
}

/** keepalived (VRRP only, in the foreground, logging to stderr) in namespace ns next to pen. */
function startKeepalived(lab, ns, priority) {
  const conf = path.join(lab.dir, `${ns}-keepalived.conf`);
  fs.writeFileSync(conf, keepalivedConf(priority));
  return startIn(lab, ns, 'keepalived', [
    '--vrrp', '--dont-fork', '--log-console', '--no-syslog', '--use-file', conf,
    '--pid', path.join(lab.dir, `${ns}-keepalived.pid`), '--vrrp_pid', path.join(lab.dir, `${ns}-vrrp.pid`),
  ]);
}

/** Starts the client in its namespace: from address, up to count requests to the virtual address. */
function startClient(lab, ns, from, count) {
  return startIn(lab, ns, process.execPath, [path.join(__dirname, 'client.js'), VIRTUAL, String(PORT), from, String(count)]);
}

/** Resolves once pen has address in its client table with a server. */
async function knows(pen, address) {
  const deadline = Date.now() + WAIT_MS;
  // the table is only seen through the control port, so this asks until it is there (bounded)
  while (Date.now() < deadline) {
    const { stdout: clients } = await execFileAsync('ip', ['netns', 'exec', pen.ns, process.execPath, PENCTL, CONTROL, 'clients']);
    if (clients.split('\n').some((line) => line.startsWith(`${address} `) && !/ server -1 /.test(line))) return;
  }
  throw new Error(`${address} never reached the client table in ${pen.ns}:\n${pen.output}`);
}

/** The longest time between two answers in a row, in ms. */
function longestGap(lines) {
  const times = lines.filter((line) => line.name).map((line) => line.at);
  return Math.max(...times.slice(1).map((at, i) => at - times[i]));
}

/** Resolves once the client has had ten answers through balancer via since then (ms); returns the first. */
async function servedThrough(client, via, since) {
  const through = () => answers(client).filter((a) => a.via === via && a.at > since);
  await until(client, () => through().length >= 10, `ten answers through ${via}`);
  return through()[0];
}

/**
 * Waits until the client is served through balancer via after the event at since (ms), and checks
 * the longest gap between answers from the last one before the event to the first one after.
 */
async function failover(t, client, via, since) {
  const first = await servedThrough(client, via, since);
  const lines = answers(client).filter((a) => a.name && a.at <= first.at);
  const gap = longestGap(lines.slice(lines.findLastIndex((a) => a.at <= since)));
  t.diagnostic(`first answer through ${via} ${first.at - since} ms after it; longest gap ${gap} ms`);
  assert.ok(gap < MAX_GAP_MS, `${gap} ms without an answer`);
}

test('a VRRP pair: the client is served, by one server, through whichever balancer runs pen-edge', { skip: unavailable(), timeout: 60000 }, async (t) => {
  const lab = newLab(t);
  const ns = buildSegment(lab);

  const redis = startIn(lab, ns.back, 'redis-server', ['--bind', HOSTS.back, '--protected-mode', 'no', '--port', String(REDIS_PORT), '--save', '', '--appendonly', 'no']);
  const backends = startIn(lab, ns.back, process.execPath, [path.join(__dirname, 'backends.js'), HOSTS.back, String(BACKEND_PORT), 'a', 'b', 'c']);
  await until(redis, printed(/Ready to accept connections/), 'redis-server ready');
  await until(backends, printed(/^listening$/m), 'backends listening');

  const [one, two] = await Promise.all([startPen(lab, ns.one), startPen(lab, ns.two)]);
  // one after the other: with nopreempt, whichever is master first stays master
  const vrrpOne = startKeepalived(lab, ns.one, 150);
  await until(vrrpOne, printed(/Entering MASTER STATE/), 'balancer one the VRRP master');
  const vrrpTwo = startKeepalived(lab, ns.two, 100);
  await until(vrrpTwo, printed(/Entering BACKUP STATE/), 'balancer two a VRRP backup');

  // another client first: then balancer one gives ours another server than the one a balancer
  // that knows no client gives its first, as balancer two would without client_store
  const other = startClient(lab, ns.client, OTHER_CLIENT, 1);
  await other.exited;
  const [first] = answers(other);
  assert.equal(first.via, HOSTS.one, `the other client's answer: ${other.output}`);

  const client = startClient(lab, ns.client, HOSTS.client, 3000);
  await servedThrough(client, HOSTS.one, 0);
  await knows(two, HOSTS.client); // so that a store too slow fails here, by name

  await t.test('the active pen-edge dies: the other balancer takes the address', async (t) => {
    const killed = Date.now();
    process.kill(one.pid, 'SIGKILL');
    await failover(t, client, HOSTS.two, killed);
  });

  await t.test('it is started again: its pen-edge reads the client table from Redis, its balancer stays the backup', async () => {
    fs.rmSync(one.pidFile); // left by the killed one
    const started = Date.now();
    const again = await startPen(lab, ns.one);
    await knows(again, HOSTS.client);
    await until(vrrpOne, (output) => (output.match(/Entering BACKUP STATE/g) ?? []).length >= 2, 'balancer one a VRRP backup again');
    assert.ok(answers(client).every((a) => a.at < started || a.via !== HOSTS.one), 'no answer through balancer one: the address stays');
  });

  await t.test('the active pen-edge is stopped (QUIT, as systemctl stop): its listener closes at once, and the address moves', async (t) => {
    const quit = Date.now();
    process.kill(two.pid, 'SIGQUIT');
    await failover(t, client, HOSTS.one, quit);
  });

  client.stdin.end();
  await client.exited;
  const lines = answers(client);
  const served = lines.filter((a) => a.name);
  t.diagnostic(`${lines.length} requests, ${lines.length - served.length} failed, longest gap ${longestGap(lines)} ms`);
  assert.ok(longestGap(lines) < MAX_GAP_MS, `${longestGap(lines)} ms without an answer`);
  assert.notEqual(served[0].name, first.name, 'the client was not given the first server');
  assert.deepEqual(new Set(served.map((a) => a.name)), new Set([served[0].name]), 'one server throughout');
  assert.equal(lines.at(-1).via, HOSTS.one, 'served at the end');
});
