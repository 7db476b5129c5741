'use strict';
// 9,000 idle relayed connections through pen-edge (npm run test:stress): what each costs in
// memory, and that all are held, two descriptors each. The clients run in a child process and
// the backend in this one, so that pen-edge's descriptors are its own.
//
// VmRSS is read before and after, each time after a full garbage collection (asked of pen-edge's
// inspector): read without one, it also holds the garbage of opening 9,000 connections, which
// the next collection frees, and says as much about when V8 last collected as about pen-edge.
const test = require('node:test');
const assert = require('node:assert/strict');
const { fork } = require('node:child_process');
const { once } = require('node:events');
const net = require('node:net');
const path = require('node:path');
const { onLoopback, startPen, penctl } = require('../support/harness');
const { rssKiB, openDescriptors, INSPECTABLE, inspectorOf } = require('../support/abuse');

const WARM = 100; // opened first and kept: code compiled and pools made before VmRSS is read
const IDLE = 9000;
/** the bound on memory per idle connection after a collection; README, "Limits and guarantees" */
const KIB_PER_CONNECTION = 4;

test(`${IDLE} idle relayed connections: at most ${KIB_PER_CONNECTION} KiB each, two descriptors each, all held`, { timeout: 300_000 }, async (t) => {
  const held = new Set();
  const be = await onLoopback(t, net.createServer((s) => {
    held.add(s);
    s.on('error', () => {}).on('close', () => held.delete(s));
    s.once('data', () => s.write('y')); // the answer that shows the client it got through
  }));
  let clients;
  let exited;
  // both ends reset at once (before pen-edge is stopped), so that 9,000 closes leave few sockets in TIME_WAIT
  t.after(async () => {
    if (clients?.connected) clients.disconnect(); // the child resets its connections and exits
    held.forEach((s) => s.resetAndDestroy());
    await exited;
  });
  const pen = await startPen(t, ['-r', '-x', String(WARM + IDLE + 100), `127.0.0.1:${be.port}`], { control: true, env: INSPECTABLE });
  const inspector = await inspectorOf(pen);

  clients = fork(path.join(__dirname, 'idle-clients.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  exited = once(clients, 'exit');
  /** n more connections from the child; resolves with its counts once they are answered or closed */
  const open = async (n) => {
    clients.send({ port: pen.port, open: n });
    const [counts] = await Promise.race([once(clients, 'message'), exited.then(([code]) => { throw new Error(`the client process exited (${code})`); })]);
    return counts;
  };
  /** pen-edge's VmRSS after a full collection */
  const memory = async () => {
    await inspector.collectGarbage();
    return rssKiB(pen.pid);
  };

  let before, after, descriptors, openMs;
  try {
    assert.deepEqual(await open(WARM), { opened: WARM, answered: WARM, closed: 0 });
    before = await memory();
    const descriptorsBefore = openDescriptors(pen.pid);
    const started = Date.now();
    assert.deepEqual(await open(IDLE), { opened: WARM + IDLE, answered: WARM + IDLE, closed: 0 });
    openMs = Date.now() - started;
    after = await memory();
    descriptors = openDescriptors(pen.pid) - descriptorsBefore;
  } finally {
    inspector.close();
  }

  const servers = (await penctl(`127.0.0.1:${pen.ctl}`, 'servers')).stdout;
  assert.match(servers, new RegExp(`^0 addr 127\\.0\\.0\\.1 port ${be.port} conn ${WARM + IDLE} `));
  assert.equal(held.size, WARM + IDLE, 'the backend holds every connection');
  assert.ok(descriptors >= 2 * IDLE && descriptors <= 2 * IDLE + 10, `pen-edge opened ${descriptors} descriptors for ${IDLE} connections`);
  const perConnection = (after - before) / IDLE;
  t.diagnostic(`${IDLE} idle connections opened in ${openMs} ms, ${descriptors} descriptors; VmRSS ${before} → ${after} KiB: ${perConnection.toFixed(2)} KiB per connection`);
  assert.ok(perConnection <= KIB_PER_CONNECTION, `${perConnection.toFixed(2)} KiB per idle connection`);
});
