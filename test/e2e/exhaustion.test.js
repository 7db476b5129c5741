'use strict';
// Running out of descriptors: under `ulimit -n 256`, 600 clients at once. The control port keeps
// answering (a reserve is kept), nothing crashes or spins, and service resumes as clients leave.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { echoBackend, spawnServing, freePort, penctl, exchange, stderrMatching, PEN, IS_ROOT } = require('../support/harness');

test('ulimit -n 256 and 600 clients at once: the control port answers, and service resumes', async (t) => {
  const be = await echoBackend(t);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pen-fds-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const [port, ctl] = [await freePort(), await freePort()];
  const pidFile = path.join(dir, 'pen.pid');
  const args = ['-f', '-p', pidFile, '-C', `127.0.0.1:${ctl}`, ...(IS_ROOT ? ['-u', 'root'] : []), `127.0.0.1:${port}`, `127.0.0.1:${be.port}`];
  const pen = await spawnServing(t, 'bash', ['-c', `ulimit -n 256 && exec "${process.execPath}" "${PEN}" ${args.join(' ')}`], pidFile);
  assert.match(await stderrMatching(pen, /ulimit -n leaves/), /-x 500: ulimit -n leaves descriptors for \d+ connections/);

  const clients = [];
  const closed = [];
  for (let i = 0; i < 600; i++) {
    const s = net.connect({ port, host: '127.0.0.1', localAddress: `127.0.${1 + (i >> 8)}.${i & 255 || 1}` }).on('error', () => {});
    s.write('x');
    closed.push(new Promise((resolve) => s.once('close', resolve))); // not once(): a reset is an 'error' first
    clients.push(s);
  }
  t.after(() => clients.forEach((s) => s.destroy()));
  // each is connected (held or waiting) or already closed by pen for want of descriptors
  await Promise.all(clients.map((s) => new Promise((resolve) => s.once('connect', resolve).once('close', resolve))));
  const servers = await penctl(`127.0.0.1:${ctl}`, 'servers');
  assert.match(servers.stdout, /^0 addr 127\.0\.0\.1 port \d+ conn \d+ /);
  const held = Number(/conn (\d+)/.exec(servers.stdout)[1]);
  assert.ok(held > 0 && held < 128, `${held} connections held`);

  clients.forEach((s) => s.destroy());
  await Promise.all(closed);
  // pen sees the clients leave a little after they have: service resumes as descriptors free up
  let answer = '';
  for (let attempt = 0; attempt < 200 && answer !== 'after'; attempt++) answer = await exchange(port, { data: 'after', end: true });
  assert.equal(answer, 'after');
  assert.equal(pen.exitCode, null);
});
