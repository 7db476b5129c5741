'use strict';
// Longer abuse (npm run test:stress): the control port's time limits waited out, a flood of
// silent control connections kept up for 20 s, and slowloris with 2,000 clients. The short
// versions are in test/e2e/abuse.test.js and test/pipelines/http-slowloris.test.js.
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { echoBackend, startPen, penctl } = require('../support/harness');
const { rssKiB, openDescriptors, INSPECTABLE, inspectorOf, steadyClients, silentFlood, collected } = require('../support/abuse');
const { slowloris, LATE_MS } = require('../support/slowloris');

const CONTROL_CONNECTIONS = 32;
const CONTROL_LINE_MS = 10_000;
const SERVERS_REPLY = /^0 addr 127\.0\.0\.1 port \d+ conn \d+ max 0 hard 0 weight 0 prio 0 sx \d+ rx \d+\n$/;

test('control port: a silent client, a line trickled in and a client that keeps sending after its reply are each closed after 10 s', { timeout: 60_000 }, async (t) => {
  const be = await echoBackend(t);
  const pen = await startPen(t, [`127.0.0.1:${be.port}`], { control: true });
  const connect = (options) => {
    const s = net.connect({ port: pen.ctl, host: '127.0.0.1', ...options }).on('error', () => {});
    t.after(() => s.destroy());
    return s;
  };
  const closedAfter = (s, from) => new Promise((resolve) => s.once('close', () => resolve(Date.now() - from())));

  const silentAt = Date.now();
  const silent = connect();
  const trickleAt = Date.now();
  const trickle = connect();
  const drip = setInterval(() => trickle.write('s'), 500); // the attack: a byte every 500 ms, never a newline
  t.after(() => clearInterval(drip));
  const lingering = connect({ allowHalfOpen: true }); // does not close when the reply ends, and goes on sending
  let repliedAt;
  const reply = new Promise((resolve) => lingering.once('end', () => { repliedAt = Date.now(); resolve(); }));
  const lingeringReply = collected(lingering);
  lingering.write('mode\n');
  // after the reply, a byte every 500 ms: read and dropped, and the write after the close is what shows it
  const chatter = setInterval(() => repliedAt && lingering.write('c'), 500);
  t.after(() => clearInterval(chatter));

  const [silentMs, trickleMs, lingeringMs] = await Promise.all([
    closedAfter(silent, () => silentAt),
    closedAfter(trickle, () => trickleAt),
    reply.then(() => closedAfter(lingering, () => repliedAt)),
  ]);
  clearInterval(drip);
  clearInterval(chatter);
  assert.equal(await lingeringReply, 'no hash no roundrobin no stubborn no weight no prio\n');
  for (const [what, ms, late] of [['silent', silentMs, 0], ['trickling', trickleMs, 0], ['sending after its reply', lingeringMs, 1000]]) {
    assert.ok(ms >= CONTROL_LINE_MS - 50 && ms <= CONTROL_LINE_MS + late + LATE_MS, `the ${what} client was closed after ${ms} ms`);
  }
  assert.match((await penctl(`127.0.0.1:${pen.ctl}`, 'servers')).stdout, SERVERS_REPLY);
  t.diagnostic(`closed after ${silentMs} ms (silent), ${trickleMs} ms (trickling), ${lingeringMs} ms after the reply (sending after it)`);
});

test('control port: silent connections as fast as it takes them for 20 s, while clients are relayed: penctl answers (nearly always), descriptors and memory stay bounded', { timeout: 120_000 }, async (t) => {
  const FLOOD_MS = 20_000;
  const be = await echoBackend(t);
  const pen = await startPen(t, [`127.0.0.1:${be.port}`], { control: true, env: INSPECTABLE });
  const ctl = `127.0.0.1:${pen.ctl}`;
  const inspector = await inspectorOf(pen);
  let inspecting = true;
  t.after(() => inspecting && inspector.close()); // before pen-edge is stopped: it waits for its inspector

  const flow = steadyClients(pen.port, { lanes: 4, ms: FLOOD_MS * 3 });
  t.after(() => flow.stop());
  assert.ok(await flow.served(100));
  await inspector.collectGarbage();
  const rssBefore = rssKiB(pen.pid);
  const descriptorsBefore = openDescriptors(pen.pid);

  let flooding = true;
  const asked = (async () => {
    const replies = [];
    while (flooding && replies.length < 1000) replies.push((await penctl(ctl, 'servers')).stdout);
    return replies;
  })();
  let mostDescriptors = 0;
  const until = Date.now() + FLOOD_MS;
  const flood = await silentFlood(pen.ctl, {
    held: CONTROL_CONNECTIONS,
    more: (opened) => Date.now() < until && opened < 500_000,
    onWave: () => { mostDescriptors = Math.max(mostDescriptors, openDescriptors(pen.pid)); },
  });
  t.after(() => flood.sockets.forEach((s) => s.destroy()));
  flooding = false;
  const replies = await asked;

  await inspector.collectGarbage();
  const rssAfter = rssKiB(pen.pid);
  inspector.close();
  inspecting = false;
  const counts = await flow.stop();
  const wrong = replies.filter((r) => r !== '' && !SERVERS_REPLY.test(r));
  const unanswered = replies.filter((r) => r === '').length;
  t.diagnostic(`${flood.opened} silent connections in ${flood.ms} ms; penctl answered ${replies.length - unanswered} of ${replies.length}; ` +
    `${counts.served} clients served, the slowest in ${counts.slowestMs} ms; at most ${mostDescriptors} descriptors (${descriptorsBefore} before); VmRSS ${rssBefore} → ${rssAfter} KiB after a collection`);
  assert.deepEqual(wrong.slice(0, 3), [], 'a penctl reply is right or none');
  // one whose line comes after 32 newer connections is closed for them (README): rarely
  assert.ok(unanswered <= replies.length / 10, `${unanswered} of ${replies.length} penctl commands unanswered`);
  assert.deepEqual(counts.failures, []);
  assert.equal(counts.served, counts.sent, 'no client lost');
  assert.ok(mostDescriptors <= descriptorsBefore + CONTROL_CONNECTIONS + 2 * 4 + 4, `${mostDescriptors} descriptors open at most`);
  assert.ok(rssAfter - rssBefore < 16 * 1024, `VmRSS grew by ${rssAfter - rssBefore} KiB`);
});

test('slowloris: 2,000 clients sending a head a byte every 500 ms each get 408 after http_head_timeout 5; other clients are served throughout', { timeout: 120_000 }, async (t) => {
  await slowloris(t, { slow: 2000, headTimeoutS: 5, everyMs: 500, flowMs: 100_000 });
});
