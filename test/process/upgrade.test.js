'use strict';
// USR2: a new pen-edge takes over the listening socket; the old one drains. Clients see no gap.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const path = require('node:path');
const { startPen, controlOf, exchange, namedBackend, nextPid, stderrMatching, WORKERS_NODE, NO_WORKERS_NODE } = require('../support/harness');
const { certificateSet } = require('../support/certs');

/** An HTTP backend that names itself. */
async function backend(t, name) {
  const server = http.createServer((req, res) => res.end(`${name} ${req.url}`));
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  return server.address().port;
}

/** Stops the pen-edge a test's upgrades left running (started by this test, through the first one): pid() names it. */
function stopLast(t, pid) {
  t.after(() => {
    try { process.kill(pid(), 'SIGTERM'); } catch { /* gone */ }
  });
}

test('USR2: the new process serves on the same socket and control port, the old one exits 0 and leaves it the pid file', async (t) => {
  const port = await backend(t, 'be');
  const pen = await startPen(t, ['-H', `127.0.0.1:${port}`], { control: true });
  const pidFile = path.join(pen.dir, 'pen.pid');
  let pid = pen.pid;
  stopLast(t, () => pid);
  pen.child.kill('SIGUSR2');
  pid = await nextPid(pidFile, pen.pid);
  assert.deepEqual(await pen.child.exited, [0, null]);
  assert.match(pen.child.stderrText, new RegExp(`upgrade: pid ${pid} serves now; this process \\(pid ${pen.pid}\\) drains`));
  assert.equal(fs.readFileSync(pidFile, 'utf8'), String(pid));
  assert.equal(await controlOf(pen)('pid'), `${pid}\n`);
  const res = await fetch(`http://127.0.0.1:${pen.port}/after`);
  assert.equal(await res.text(), 'be /after');
});

test('USR2: the client table goes to the new process, so every client keeps its server', async (t) => {
  const backends = await Promise.all(['a', 'b', 'c'].map((name) => namedBackend(name, t)));
  const pen = await startPen(t, backends.map((b) => `127.0.0.1:${b.port}`), { control: true });
  let pid = pen.pid;
  stopLast(t, () => pid);
  const addresses = ['127.0.0.11', '127.0.0.12', '127.0.0.13', '127.0.0.14'];
  /** which server each address gets, asked in `order` (round robin would give new clients others in another order) */
  const servedBy = async (order) => {
    const got = {};
    for (const localAddress of order) got[localAddress] = await exchange(pen.port, { localAddress });
    return got;
  };
  const before = await servedBy([...addresses].reverse());
  assert.ok(new Set(Object.values(before)).size > 1, 'the clients are spread over the servers');
  pen.child.kill('SIGUSR2');
  pid = await nextPid(path.join(pen.dir, 'pen.pid'), pen.pid);
  assert.deepEqual(await servedBy(addresses), before);
  assert.equal((await controlOf(pen)('clients')).trim().split('\n').length, addresses.length);
});

test('USR2 whose new process cannot start: the old one says why and serves on, control port included', async (t) => {
  const port = await backend(t, 'be');
  const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'pen-upgrade-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const config = path.join(dir, 'pen.cfg');
  fs.writeFileSync(config, 'blacklist 9\n');
  const pen = await startPen(t, ['-F', config, `127.0.0.1:${port}`], { control: true });
  fs.writeFileSync(config, 'blacklist never\n'); // the new process reads it at its start, and stops there
  pen.child.kill('SIGUSR2');
  await stderrMatching(pen.child, /upgrade: .*pen\.cfg:1: blacklist: expected a number[^\n]*; this process serves on\n/);
  assert.equal(await controlOf(pen)('pid'), `${pen.pid}\n`);
  assert.equal(await (await fetch(`http://127.0.0.1:${pen.port}/still`)).text(), 'be /still');
});

test('a bounded load, plain and TLS, keep-alive and new connections, runs across 3 upgrades and 5 HUPs without a failed request', async (t) => {
  const certs = await certificateSet(t);
  const port = await backend(t, 'be');
  const plain = await startPen(t, ['-H', `127.0.0.1:${port}`]);
  const secure = await startPen(t, ['-H', '-E', certs.serverCert, '-K', certs.serverKey, `127.0.0.1:${port}`]);
  const balancers = [plain, secure].map((pen) => ({ pen, pidFile: path.join(pen.dir, 'pen.pid'), pid: pen.pid }));
  for (const b of balancers) stopLast(t, () => b.pid);
  const counts = { ok: 0, failed: [] };
  let running = true;
  let enough = Infinity; // once counts.ok gets there, `served` resolves
  let served;
  const servedEnough = new Promise((r) => { served = r; });
  const request = (b, agent) => new Promise((resolve) => {
    const tls = b.pen === secure;
    const get = (tls ? https : http).get;
    const options = { host: '127.0.0.1', port: b.pen.port, path: '/load', agent, ...(tls && { ca: certs.ca.cert, servername: 'localhost' }) };
    get(options, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => {
        if (body !== 'be /load') counts.failed.push(`${tls ? 'tls' : 'plain'}: ${res.statusCode} ${body}`);
        else if (++counts.ok >= enough) served();
        resolve();
      });
    }).on('error', (err) => {
      counts.failed.push(`${tls ? 'tls' : 'plain'}: ${err.code ?? err.message}`);
      resolve();
    });
  });
  const loop = async (b, keepAlive) => {
    const agent = keepAlive ? new (b.pen === secure ? https : http).Agent({ keepAlive: true, maxSockets: 1 }) : false;
    for (let i = 0; running && i < 20000; i++) await request(b, agent);
    if (agent) agent.destroy();
  };
  const loops = balancers.flatMap((b) => [loop(b, true), loop(b, false)]);
  const deadline = setTimeout(() => { running = false; }, 60000);
  try {
    let hups = 0;
    for (let round = 0; round < 3; round++) {
      for (const b of balancers) {
        if (hups < 5) { process.kill(b.pid, 'SIGHUP'); hups++; }
        const old = b.pid;
        process.kill(old, 'SIGUSR2');
        b.pid = await nextPid(b.pidFile, old); // the old one drains meanwhile, and exits by itself
      }
    }
    while (hups < 5) { process.kill(balancers[hups % 2].pid, 'SIGHUP'); hups++; }
    enough = counts.ok + 50; // the last processes serve too
    await servedEnough;
  } finally {
    running = false;
    clearTimeout(deadline);
    await Promise.all(loops);
  }
  assert.deepEqual(counts.failed, []);
  assert.ok(counts.ok > 200, `${counts.ok} requests`);
});

test('USR2 with workers 2: each worker\'s socket is handed over, and clients connecting throughout are all served', { skip: NO_WORKERS_NODE }, async (t) => {
  const port = await backend(t, 'be');
  const pen = await startPen(t, ['-o', 'workers 2', '-H', `127.0.0.1:${port}`], { node: WORKERS_NODE });
  const pidFile = path.join(pen.dir, 'pen.pid');
  let pid = pen.pid;
  stopLast(t, () => pid);
  let running = true;
  const failed = [];
  let ok = 0;
  const loop = async () => {
    for (let i = 0; running && i < 20000; i++) {
      try {
        if (await (await fetch(`http://127.0.0.1:${pen.port}/w`, { headers: { connection: 'close' } })).text() === 'be /w') ok++;
      } catch (err) {
        failed.push(err.cause?.code ?? err.message);
      }
    }
  };
  const loops = [loop(), loop()];
  try {
    pen.child.kill('SIGUSR2');
    pid = await nextPid(pidFile, pen.pid);
    assert.deepEqual(await pen.child.exited, [0, null]);
  } finally {
    running = false;
    await Promise.all(loops);
  }
  assert.deepEqual(failed, []);
  assert.equal(await (await fetch(`http://127.0.0.1:${pen.port}/w`)).text(), 'be /w');
  assert.ok(ok > 0);
});
