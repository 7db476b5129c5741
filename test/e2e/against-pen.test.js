'use strict';
// Differential tests against Debian's pen 0.34.1: both balancers get the same arguments and the same
// three backends; the same clients must reach the same backends, and read-only penctl replies
// after the same traffic must be identical.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFile } = require('node:child_process');
const { IS_ROOT, namedBackend, startPen, exchange, penctl, freePort, spawnServing } = require('../support/harness');

const REAL_PEN = '/usr/bin/pen';
const REAL_PENCTL = '/usr/bin/penctl';
const NO_PEN = fs.existsSync(REAL_PEN) ? false : 'install pen (apt-get install pen) to compare with the real pen';
const NO_PENCTL = fs.existsSync(REAL_PENCTL) ? false : 'install pen (apt-get install pen) to compare with the real penctl';

/** Starts the real pen in the foreground, in a temporary directory (where any core file would go). */
async function startRealPen(t, args) {
  const [port, ctl] = [await freePort(), await freePort()];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'real-pen-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const pidFile = path.join(dir, 'pen.pid');
  const full = ['-f', '-p', pidFile, '-C', `127.0.0.1:${ctl}`, ...(IS_ROOT ? ['-u', 'root'] : []),
    ...args.map((a) => (a === 'LISTEN' ? `127.0.0.1:${port}` : a))];
  // pen writes its pid file once its listeners are open; a probe connection would count as a client
  await spawnServing(t, REAL_PEN, full, pidFile, { cwd: dir });
  return { port, ctl };
}

function realPenctl(...args) {
  return new Promise((resolve) => {
    execFile(REAL_PENCTL, args, (err, stdout) => resolve(err ? `penctl failed: ${err.message}` : stdout));
  });
}

/** Both balancers with the same arguments and backends. */
async function both(t, options) {
  const backends = await Promise.all(['be1', 'be2', 'be3'].map((n) => namedBackend(n, t)));
  const args = [...options, 'LISTEN', ...backends.map((b) => `127.0.0.1:${b.port}`)];
  const [real, ours] = await Promise.all([startRealPen(t, args), startPen(t, args, { control: true })]);
  return {
    real: { ...real, ctl: (...cmd) => realPenctl(`127.0.0.1:${real.ctl}`, ...cmd) },
    ours: { ...ours, ctl: async (...cmd) => (await penctl(`127.0.0.1:${ours.ctl}`, ...cmd)).stdout },
  };
}

// clients 127.0.0.2 … 127.0.0.12, then all of them again in reverse, then a few once more
const CLIENTS = [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
const VISITS = [...CLIENTS, ...[...CLIENTS].reverse(), 5, 2, 12, 7];

async function answers(port) {
  const out = [];
  for (const h of VISITS) out.push(`127.0.0.${h} → ${(await exchange(port, { localAddress: `127.0.0.${h}` })).trim()}`);
  return out;
}

/** `servers` once every connection is closed (a client can see its close just before pen counts it). */
async function settledServers(ctl) {
  let reply = '';
  for (const deadline = Date.now() + 5000; Date.now() < deadline;) {
    reply = await ctl('servers');
    if (!/ conn [1-9]/.test(reply)) break;
  }
  return reply;
}

const READ_ONLY = ['mode', 'recent', 'blacklist', 'timeout', 'tracking', 'clients_max', 'conn_max', 'debug'];

for (const [name, options] of [['default (client table)', []], ['-r (round robin)', ['-r']], ['-h (hash)', ['-h']]]) {
  test(`${name}: every client reaches the same backend as with the real pen; penctl replies match`, { skip: NO_PEN }, async (t) => {
    const { real, ours } = await both(t, options);
    const expected = await answers(real.port);
    assert.deepEqual(await answers(ours.port), expected);
    await t.test('read-only penctl replies after the same traffic', { skip: NO_PENCTL }, async () => {
      assert.equal(await settledServers(ours.ctl), await settledServers(real.ctl), 'servers');
      for (const command of READ_ONLY) assert.equal(await ours.ctl(command), await real.ctl(command), command);
    });
  });
}
