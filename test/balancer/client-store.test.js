'use strict';
// client_store redis://…: two balancers send one client to one server, through a real redis-server
// on loopback, also when Redis stops and comes back in the middle.
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const { once } = require('node:events');
const { namedBackend, startPen, controlOf, exchange, freePort, waitForPort, stderrMatching } = require('../support/harness');

const noRedis = spawnSync('redis-server', ['--version']).error ? 'redis-server not found: apt-get install redis-server' : false;

/** A redis-server of our own on port (no files), stopped after the test. */
async function startRedis(t, port) {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const exited = once(child, 'exit');
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
  });
  await waitForPort(port);
  return { stop: async () => { child.kill('SIGTERM'); await exited; } };
}

/** Resolves once the balancer's client table has address with a server (a bound for a broken run, not a wait). */
async function knows(pen, address, deadline = Date.now() + 20000) {
  const ctl = controlOf(pen);
  while (Date.now() < deadline) {
    const line = (await ctl('clients')).split('\n').find((l) => l.startsWith(`${address} `));
    if (line && !/ server -1 /.test(line)) return line;
  }
  throw new Error(`${address} never reached the other balancer's client table`);
}

test('client_store: the setting, checked', async (t) => {
  const be = await namedBackend('a', t);
  const pen = await startPen(t, [`127.0.0.1:${be.port}`], { control: true });
  const ctl = controlOf(pen);
  assert.equal(await ctl('client_store'), 'local\n');
  assert.match(await ctl('client_store', 'http://x:1'), /^client_store: expected local or redis:\/\/HOST:PORT\[\/DB\], not 'http:\/\/x:1'\n$/);
  assert.match(await ctl('client_store', 'redis://127.0.0.1'), /^client_store: expected local/);
  assert.equal(await ctl('client_store'), 'local\n');
});

test('client_store redis: two balancers send a client to one server, also across a Redis restart', { skip: noRedis }, async (t) => {
  const redisPort = await freePort();
  let redis = await startRedis(t, redisPort);
  const backends = await Promise.all(['a', 'b', 'c'].map((n) => namedBackend(n, t)));
  const args = ['-o', `client_store redis://127.0.0.1:${redisPort}`, ...backends.map((b) => `127.0.0.1:${b.port}`)];
  const [one, two] = [await startPen(t, args, { control: true }), await startPen(t, args, { control: true })];

  // a first client of its own moves the second balancer's round robin off the first one's
  await exchange(two.port, { localAddress: '127.0.0.9' });
  const chosen = new Map();
  for (const address of ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5']) {
    chosen.set(address, await exchange(one.port, { localAddress: address }));
  }
  for (const [address, server] of chosen) {
    await knows(two, address);
    assert.equal(await exchange(two.port, { localAddress: address }), server, address);
  }

  await redis.stop();
  const during = new Map();
  for (const address of ['127.0.0.6', '127.0.0.7']) during.set(address, await exchange(one.port, { localAddress: address })); // from the local table
  assert.deepEqual([...during.values()].map((answer) => /^[abc]\n$/.test(answer)), [true, true]);
  await stderrMatching(one.child, /client_store: redis:\/\/\S+ unreachable \(\w+\); serving from the local client table/);
  redis = await startRedis(t, redisPort);
  await stderrMatching(one.child, /client_store: redis:\/\/\S+ is back/);
  for (const [address, server] of during) {
    await knows(two, address);
    assert.equal(await exchange(two.port, { localAddress: address }), server, address);
  }
  assert.equal((one.child.stderrText.match(/unreachable/g) ?? []).length, 1, 'the outage is logged once');
});
