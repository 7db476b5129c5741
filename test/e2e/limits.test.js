'use strict';
// Limits and timers through bin/pen: client table size (-c) and tracking time (-T), soft and hard
// server limits, blacklisting (-b), connect timeout (-t), and no descriptor leaked over many connections.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
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
  // one penctl round trip at a time (about 1–2 s of wall time; the table works in whole seconds)
  for (let tries = 0; (await ctl('recent', '1')).includes('127.0.0.2 '); tries++) {
    assert.ok(tries < 500, 'client 127.0.0.2 never left `recent 1`');
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

test('no descriptor is leaked: 200 connections ending in different ways leave pen with the descriptors it had', async (t) => {
  const echo = await echoBackend(t);
  // never answers; closes when the client's end reaches it, as a server reading its request would
  const silent = await onLoopback(t, net.createServer((sock) => sock.on('error', () => {}).resume()));
  const dead = await freePort();
  // -b 0: the dead server is tried (and refuses) on every connection
  const pen = await startPen(t, ['-b', '0', spec(echo)], { control: true });
  const ctl = controlOf(pen);
  const fds = () => fs.readdirSync(`/proc/${pen.pid}/fd`).length;
  const client = (i) => ({ port: pen.port, host: '127.0.0.1', localAddress: `127.0.0.${2 + i}` });
  const ROUNDS = 50;

  assert.equal(await exchange(pen.port, { end: true }), 'hello\n'); // warm up
  let baseline = Infinity;
  for (let i = 0; i < 5; i++) { // quiet value: control connections come and go between readings
    await ctl('servers');
    baseline = Math.min(baseline, fds());
  }

  // 1. normal: request, echo, close
  await Promise.all(Array.from({ length: ROUNDS }, (_, i) => exchange(pen.port, { end: true, localAddress: client(i).localAddress })
    .then((reply) => assert.equal(reply, 'hello\n'))));
  // 2. the client resets the connection in the middle of the relay
  await Promise.all(Array.from({ length: ROUNDS }, async (_, i) => {
    const s = net.connect(client(i));
    s.on('error', () => {});
    s.write('x');
    await once(s, 'data');
    s.resetAndDestroy();
    await once(s, 'close');
  }));
  // 3. the client leaves before the server answers: at once, or closing or resetting once the
  // server has the connection
  assert.equal(await ctl('server', '0', 'address', '127.0.0.1', 'port', String(silent.port)), '');
  for (let i = 0; i < ROUNDS; i++) {
    const s = net.connect(client(i));
    s.on('error', () => {});
    if (i % 3 === 0) {
      await once(s, 'connect');
    } else {
      s.write('request\n');
      await once(silent, 'connection');
    }
    if (i % 3 === 2) s.resetAndDestroy();
    else s.destroy();
    await once(s, 'close');
  }
  // 4. the server refuses: pen closes the client
  assert.equal(await ctl('server', '0', 'address', '127.0.0.1', 'port', String(dead)), '');
  await Promise.all(Array.from({ length: ROUNDS }, (_, i) => exchange(pen.port, { localAddress: client(i).localAddress })
    .then((reply) => assert.equal(reply, ''))));

  let now = fds();
  for (let tries = 0; now !== baseline && tries < 100; tries++) { // pen closes its ends after ours: wait one reply at a time
    await ctl('servers');
    now = fds();
  }
  assert.equal(now, baseline, `pen holds ${now} descriptors, ${baseline} before the connections`);
  assert.match(await ctl('servers'), /^0 .* conn 0 /);
});
