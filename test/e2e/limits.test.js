'use strict';
// Limits and timers through bin/pen: client table size (-c) and tracking time (-T), soft and hard
// server limits, blacklisting (-b), connect timeout (-t), and no descriptor leaked over many connections.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const net = require('node:net');
const { once } = require('node:events');
const {
  namedBackend, echoBackend, onLoopback, startPen, exchange, penctl, controlOf, freePort, stderrMatching, unansweredServer,
} = require('../support/harness');

const spec = (b) => `127.0.0.1:${b.port}`;
const three = (t) => Promise.all(['be1', 'be2', 'be3'].map((n) => namedBackend(n, t)));
const serversJson = async (pen) => JSON.parse((await penctl('--json', `127.0.0.1:${pen.ctl}`, 'servers')).stdout).servers;

/** Which backend answers each client in turn (127.0.0.N for each N in hosts). */
async function from(port, hosts) {
  const out = [];
  for (const h of hosts) out.push((await exchange(port, { localAddress: `127.0.0.${h}` })).trim());
  return out;
}

/** A backend that answers with its name and keeps the connection open. */
async function holdingBackend(name, t) {
  return onLoopback(t, net.createServer((sock) => {
    sock.on('error', () => {});
    sock.once('data', () => sock.write(`${name}\n`));
  }));
}

/** A client that stays connected (until the test ends): resolves with the first reply. */
async function held(t, port, localAddress) {
  const s = net.connect({ port, host: '127.0.0.1', localAddress });
  t.after(() => s.destroy());
  s.write('hello\n');
  const [reply] = await once(s, 'data');
  return String(reply).trim();
}

test('-c 2: the least recently seen client is evicted and comes back as a new client', async (t) => {
  const b = await three(t);
  const pen = await startPen(t, ['-c', '2', ...b.map(spec)]);
  // new clients take servers in turn (1, 2, 0, …). .2 returns before .4 arrives, so .3 is the least
  // recently seen and is evicted: back as a new client it gets the next server in turn (be2, not be3),
  // which evicts .2 in turn; .4 is still remembered.
  assert.deepEqual(await from(pen.port, [2, 3, 2, 4, 3, 4, 2]), ['be2', 'be3', 'be2', 'be1', 'be2', 'be1', 'be3']);
});

test('-c 3: the same clients all fit and each keeps its server', async (t) => {
  const b = await three(t);
  const pen = await startPen(t, ['-c', '3', ...b.map(spec)]);
  assert.deepEqual(await from(pen.port, [2, 3, 2, 4, 3, 4, 2]), ['be2', 'be3', 'be2', 'be1', 'be3', 'be1', 'be2']);
});

test('-T 1: a client not seen for longer than the tracking time is treated as a new client', async (t) => {
  const b = await three(t);
  const pen = await startPen(t, ['-T', '1', ...b.map(spec)], { control: true });
  const ctl = controlOf(pen);
  assert.equal(await ctl('tracking'), '1\n');
  assert.deepEqual(await from(pen.port, [2, 2]), ['be2', 'be2']);
  // `recent 1` drops the client exactly when it is older than the tracking time: wait for that,
  // one control round trip at a time (about 1–2 s of wall time; the table works in whole seconds)
  for (const deadline = Date.now() + 10000; (await ctl('recent', '1')).includes('127.0.0.2 ');) {
    assert.ok(Date.now() < deadline, 'client 127.0.0.2 never left `recent 1`');
  }
  assert.deepEqual(await from(pen.port, [2]), ['be3']); // the next server in turn, not its old be2
  assert.match(await ctl('clients'), /^127\.0\.0\.2 .* server 2 connects 1 /m);
});

test('hard max: a returning client is admitted up to the hard limit, a new client goes to the next server', async (t) => {
  const [other, limited] = await Promise.all([namedBackend('other', t), holdingBackend('limited', t)]);
  // -h with two servers sends every 127.0.0.x client to server 1 (soft max 1, hard max 2) first
  const pen = await startPen(t, ['-h', spec(other), `${spec(limited)}:1:2`], { control: true });
  assert.equal(await held(t, pen.port, '127.0.0.2'), 'limited'); // 1 connection: the soft max
  assert.equal((await exchange(pen.port, { localAddress: '127.0.0.3' })).trim(), 'other'); // new client: full
  assert.equal(await held(t, pen.port, '127.0.0.2'), 'limited'); // returning client: up to hard
  assert.equal((await exchange(pen.port, { localAddress: '127.0.0.2' })).trim(), 'other'); // hard max reached
  assert.match(await controlOf(pen)('servers'), /^1 addr 127\.0\.0\.1 port \d+ conn 2 max 1 hard 2 /m);
});

/** A backend named be1 on a port that refused connections until now. */
async function revive(t, port) {
  const back = net.createServer((sock) => sock.once('data', () => sock.end('be1\n')));
  back.listen(port, '127.0.0.1');
  await once(back, 'listening');
  t.after(() => back.close());
}

test('-b: a refused server is skipped while blacklisted, even once it is back; `server N blacklist 0` ends that', async (t) => {
  const be2 = await namedBackend('be2', t);
  const port = await freePort();
  // -r: the servers in turn, 1, 0, 1, 0 …; server 0 refuses at first
  const pen = await startPen(t, ['-r', '-b', '30', `127.0.0.1:${port}`, spec(be2)], { control: true });
  const ctl = controlOf(pen);
  assert.equal(await ctl('blacklist'), '30\n');
  assert.deepEqual(await from(pen.port, [2, 2]), ['be2', 'be2']); // the second: refused, blacklisted, next server
  await revive(t, port);
  assert.deepEqual(await from(pen.port, [2, 2]), ['be2', 'be2']);
  assert.deepEqual((await serversJson(pen)).map((s) => s.blacklisted), [true, false]);
  assert.equal(await ctl('server', '0', 'blacklist', '0'), '');
  assert.deepEqual((await serversJson(pen)).map((s) => s.blacklisted), [false, false]);
  assert.deepEqual(await from(pen.port, [2, 2]), ['be1', 'be2']);
});

test('-b 0: a refused server is not blacklisted and gets its turn again once it is back', async (t) => {
  const be2 = await namedBackend('be2', t);
  const port = await freePort();
  const pen = await startPen(t, ['-r', '-b', '0', `127.0.0.1:${port}`, spec(be2)], { control: true });
  assert.deepEqual(await from(pen.port, [2, 2]), ['be2', 'be2']);
  assert.deepEqual((await serversJson(pen)).map((s) => s.blacklisted), [false, false]);
  await revive(t, port);
  assert.deepEqual(await from(pen.port, [2, 2]), ['be2', 'be1']);
});

test('-t 1: a server whose connect does not complete is given up after the timeout, blacklisted, and the client fails over', { timeout: 20000 }, async (t) => {
  const be1 = await namedBackend('be1', t);
  const silent = await unansweredServer(t);
  // the first new client goes to server 1 (the unanswered one)
  const pen = await startPen(t, ['-d', '-t', '1', spec(be1), `127.0.0.1:${silent}`], { control: true });
  const started = Date.now();
  assert.equal((await exchange(pen.port, { localAddress: '127.0.0.2' })).trim(), 'be1');
  assert.ok(Date.now() - started >= 950, `failed over after ${Date.now() - started} ms, before the 1 s timeout`);
  assert.match(await stderrMatching(pen.child, /blacklisting server 1/), /blacklisting server 1 because of connect timeout/);
  assert.deepEqual((await serversJson(pen)).map((s) => s.blacklisted), [false, true]);
});

/** Runs fn(i) for i in [0, count), at most `width` at a time. */
async function inWaves(count, width, fn) {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < count) await fn(next++);
  }));
}

/** How many objects pen's heap holds, from a heap snapshot (taken after a full collection). */
async function heapObjects(pen, ctl, dir) {
  const before = new Set(fs.readdirSync(dir));
  process.kill(pen.pid, 'SIGWINCH');
  await ctl('pid'); // answered once the snapshot is written: the event loop waits for it
  const file = fs.readdirSync(dir).find((f) => f.endsWith('.heapsnapshot') && !before.has(f));
  const { snapshot: { meta }, nodes } = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
  // JavaScript objects, closures and arrays: what a connection's state is made of (not code V8 compiles meanwhile)
  const types = meta.node_types[0];
  const counted = new Set(['object', 'closure', 'array'].map((type) => types.indexOf(type)));
  const width = meta.node_fields.length;
  let objects = 0;
  for (let i = 0; i < nodes.length; i += width) if (counted.has(nodes[i])) objects++;
  return objects;
}

test('nothing is left behind: 10,000 connections ending every way leave pen with its descriptors and no more memory', async (t) => {
  const echo = await echoBackend(t);
  // never answers; closes when the client's end reaches it, as a server reading its request would
  const silent = await onLoopback(t, net.createServer((sock) => sock.on('error', () => {}).resume()));
  // answers, then resets the connection
  const resetting = await onLoopback(t, net.createServer((sock) => sock.on('error', () => {}).once('data', () => {
    sock.write('bye\n');
    sock.resetAndDestroy();
  })));
  const dead = await freePort();
  // -b 0: the dead server is tried (and refuses) on every connection
  const snapshots = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'pen-heap-'));
  t.after(() => fs.rmSync(snapshots, { recursive: true, force: true }));
  const pen = await startPen(t, ['-b', '0', '-x', '2000', spec(echo)],
    { control: true, env: { NODE_OPTIONS: `--heapsnapshot-signal=SIGWINCH --diagnostic-dir=${snapshots}` } });
  const ctl = controlOf(pen);
  const fds = () => fs.readdirSync(`/proc/${pen.pid}/fd`).length;
  const client = (i) => ({ port: pen.port, host: '127.0.0.1', localAddress: `127.0.0.${2 + (i % 200)}` });
  const WAYS = 6;
  const EACH = 10_000 / WAYS | 0;
  const WIDTH = 50;
  const server = (b) => ctl('server', '0', 'address', '127.0.0.1', 'port', String(b.port ?? b));

  /** Every way a connection can end, EACH times. */
  const allWays = async () => {
    await server(echo);
    // 1. normal: request, echo, the client half-closes, both close
    await inWaves(EACH, WIDTH, async (i) => assert.equal(await exchange(pen.port, { end: true, localAddress: client(i).localAddress }), 'hello\n'));
    // 2. the client resets the connection in the middle of the relay
    await inWaves(EACH, WIDTH, async (i) => {
      const s = net.connect(client(i));
      s.on('error', () => {});
      s.write('x');
      await once(s, 'data');
      s.resetAndDestroy();
      await once(s, 'close');
    });
    // 3. the server answers and resets
    await server(resetting);
    await inWaves(EACH, WIDTH, async (i) => assert.match(await exchange(pen.port, { localAddress: client(i).localAddress }), /^(bye\n)?$/));
    // 4. the client leaves before the server answers, before or after pen reached the server,
    // closing or resetting, with or without a request
    await server(silent);
    await inWaves(EACH * 2, WIDTH, async (i) => {
      const s = net.connect(client(i));
      s.on('error', () => {});
      await once(s, 'connect');
      if (i % 2) s.write('request\n');
      if (i % 3 === 0) s.resetAndDestroy();
      else s.destroy();
      await once(s, 'close');
    });
    // 5. the server refuses: pen closes the client
    await server(dead);
    await inWaves(EACH, WIDTH, async (i) => assert.equal(await exchange(pen.port, { localAddress: client(i).localAddress }), ''));
  };

  await server(echo);
  assert.equal(await exchange(pen.port, { end: true }), 'hello\n'); // warm up
  let baseline = Infinity;
  for (let i = 0; i < 5; i++) { // quiet value: control connections come and go between readings
    await ctl('servers');
    baseline = Math.min(baseline, fds());
  }
  await allWays();
  const settled = async () => {
    let now = fds();
    for (const deadline = Date.now() + 10000; now !== baseline && Date.now() < deadline;) { // pen closes its ends after ours: wait one reply at a time
      await ctl('servers');
      now = fds();
    }
    assert.equal(now, baseline, `pen holds ${now} descriptors, ${baseline} before the connections`);
    assert.match(await ctl('servers'), /^0 .* conn 0 /);
  };
  await settled();
  // the first 10,000 made whatever is made once; another 10,000 must leave no object behind
  const objects = await heapObjects(pen, ctl, snapshots);
  await allWays();
  await settled();
  const grown = await heapObjects(pen, ctl, snapshots) - objects;
  assert.ok(grown < 1000, `pen's heap holds ${grown} more objects after 10,000 more connections`);
});
