'use strict';
// Where pen listens and where it connects: host:port, a bare port (all addresses), [::1]:port,
// unix sockets on either side; -P and -Q accepted and ignored; bin/pen started from elsewhere.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const net = require('node:net');
const { once } = require('node:events');
const { PEN, controlOf, echoBackend, exchange, freePort, penctl, spawnServing, startPen, waitForPort } = require('../support/harness');

/** A fresh temporary directory, removed after the test. */
function tempDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pen-listen-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Starts `command -f -p PIDFILE …args` (args include the listen address); resolves once it serves. */
function serve(t, args, { command = PEN, cwd, pidFile = path.join(tempDir(t), 'pen.pid') } = {}) {
  return spawnServing(t, command, ['-f', '-p', pidFile, ...args], pidFile, { cwd });
}

/** Connects to a unix socket, sends data, half-closes, and resolves with everything received. */
function exchangeOnPath(socketPath, data = 'hello\n') {
  return new Promise((resolve, reject) => {
    const chunks = [];
    const s = net.connect({ path: socketPath });
    s.on('connect', () => s.end(data));
    s.on('data', (c) => chunks.push(c));
    s.on('error', reject);
    s.on('close', () => resolve(Buffer.concat(chunks).toString()));
  });
}

/** An echo server on a unix socket path. */
async function echoOnPath(t, socketPath) {
  const server = net.createServer({ allowHalfOpen: true }, (sock) => sock.on('error', () => {}).pipe(sock));
  server.listen(socketPath);
  await once(server, 'listening');
  t.after(() => server.close());
  return server;
}

async function ipv6LoopbackWorks() {
  const probe = net.createServer();
  const ok = await new Promise((resolve) => {
    probe.once('error', () => resolve(false));
    probe.listen(0, '::1', () => resolve(true));
  });
  if (ok) await new Promise((r) => probe.close(r));
  return ok;
}

test('127.0.0.1:PORT: pen listens on that address and relays', async (t) => {
  const be = await echoBackend(t);
  const port = await freePort();
  await serve(t, [`127.0.0.1:${port}`, `127.0.0.1:${be.port}`]);
  assert.equal(await exchange(port, { end: true }), 'hello\n');
});

test('a bare PORT listens on all IPv4 addresses', async (t) => {
  const be = await echoBackend(t);
  const port = await freePort();
  await serve(t, [String(port), `127.0.0.1:${be.port}`]);
  assert.equal(await exchange(port, { end: true }), 'hello\n');
  assert.equal(await exchange(port, { end: true, host: '127.0.0.7', localAddress: '127.0.0.7' }), 'hello\n');
});

test('[::1]:PORT, and pen\'s own ::1:PORT, listen on the IPv6 loopback', async (t) => {
  if (!(await ipv6LoopbackWorks())) return t.skip('::1 is not available on this machine');
  const be = await echoBackend(t);
  for (const listen of [(port) => `[::1]:${port}`, (port) => `::1:${port}`]) {
    const port = await freePort();
    await serve(t, [listen(port), `127.0.0.1:${be.port}`]);
    assert.equal(await exchange(port, { end: true, host: '::1', localAddress: '::1' }), 'hello\n', listen(port));
  }
});

test('a unix socket path as the listen address', async (t) => {
  const be = await echoBackend(t);
  const socketPath = path.join(tempDir(t), 'pen.sock');
  await serve(t, [socketPath, `127.0.0.1:${be.port}`]);
  assert.equal(await exchangeOnPath(socketPath), 'hello\n');
  assert.equal(await exchangeOnPath(socketPath, 'again\n'), 'again\n');
});

test('a unix socket path as a server', async (t) => {
  const backendPath = path.join(tempDir(t), 'backend.sock');
  await echoOnPath(t, backendPath);
  const pen = await startPen(t, [backendPath], { control: true });
  assert.equal(await exchange(pen.port, { end: true }), 'hello\n');
  // pen reports a unix socket's port as 1, and so does every report here, JSON included
  const ctl = controlOf(pen);
  assert.match(await ctl('servers'), new RegExp(`^0 addr ${backendPath} port 1 conn 0 `));
  assert.equal(JSON.parse((await penctl('--json', `127.0.0.1:${pen.ctl}`, 'servers')).stdout).servers[0].port, 1);
  assert.match(await ctl('status'), new RegExp(`<td>${backendPath}</td>\n<td>[^<]*</td>\n<td>1</td>`));
});

test('-P and -Q are accepted and change nothing', async (t) => {
  const be = await echoBackend(t);
  const port = await freePort();
  await serve(t, ['-P', '-Q', `127.0.0.1:${port}`, `127.0.0.1:${be.port}`]);
  assert.equal(await exchange(port, { end: true }), 'hello\n');
});

test('bin/pen works from another working directory and through a symlink; relative paths follow the cwd', async (t) => {
  const be = await echoBackend(t);
  const port = await freePort();
  const dir = tempDir(t);
  const link = path.join(dir, 'pen');
  fs.symlinkSync(PEN, link); // as npm links bin/pen into a bin directory
  const cwd = os.tmpdir();
  const pidFile = path.relative(cwd, path.join(dir, 'pen.pid'));
  await serve(t, [`127.0.0.1:${port}`, `127.0.0.1:${be.port}`], { command: link, cwd, pidFile });
  assert.equal(await exchange(port, { end: true }), 'hello\n');
});

/** The inode of the socket listening on 127.0.0.1:port, from /proc/net/tcp; undefined if none. */
function listeningInode(port) {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const row = fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').map((l) => l.trim().split(/\s+/))
    .find((f) => f[1] === local && f[3] === '0A'); // 0A: LISTEN
  return row?.[9];
}

/** How many of pid's descriptors are the socket with this inode. */
function descriptorsOf(pid, inode) {
  return fs.readdirSync(`/proc/${pid}/fd`).filter((fd) => {
    try { return fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`; } catch { return false; }
  }).length;
}

test('clients are accepted through several descriptors of the listening socket (libuv takes one connection per handle per turn); moving the listener closes them all',
  { skip: process.platform !== 'linux' && 'reads /proc' }, async (t) => {
    const be = await echoBackend(t);
    const pen = await startPen(t, [`127.0.0.1:${be.port}`], { control: true });
    const inode = listeningInode(pen.port);
    assert.ok(inode, 'listening socket found');
    assert.ok(descriptorsOf(pen.pid, inode) > 1, `${descriptorsOf(pen.pid, inode)} descriptor(s) on the listening socket`);
    const replies = await Promise.all(Array.from({ length: 100 }, () => exchange(pen.port, { end: true })));
    assert.deepEqual(new Set(replies), new Set(['hello\n']));

    const moved = await freePort();
    await controlOf(pen)('listen', `127.0.0.1:${moved}`);
    await waitForPort(moved);
    for (let i = 0; i < 200 && listeningInode(pen.port) !== undefined; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(listeningInode(pen.port), undefined, 'the old port no longer listens');
    assert.equal(descriptorsOf(pen.pid, inode), 0);
    assert.equal(await exchange(moved, { end: true }), 'hello\n');
  });
