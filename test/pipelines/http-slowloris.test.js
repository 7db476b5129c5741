'use strict';
// Slowloris on the HTTP pipeline (-H, issue #14): 500 clients each sending a request head one
// byte at a time. Each is cut off with a 408 once http_head_timeout has passed since its first
// byte (README, HTTP), and the other clients are served all along.
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { startPen } = require('../support/harness');
const { steadyClients, httpBackend, httpRequest } = require('../support/abuse');

const SLOW = 500;
const HEAD_TIMEOUT_S = 2;
const BYTE_EVERY_MS = 200;
/** how late after http_head_timeout a slow client may be cut off, on a busy 2-core machine */
const LATE_MS = 3000;
/** a head that never ends: the request line, then headers for ever */
const HEAD = 'GET /slow HTTP/1.1\r\nHost: pen-edge.test\r\n';
const headByte = (n) => (n < HEAD.length ? HEAD[n] : 'X-Slow: 1\r\n'[(n - HEAD.length) % 11]);

test(`slowloris: ${SLOW} clients sending a head a byte every ${BYTE_EVERY_MS} ms each get 408 after http_head_timeout ${HEAD_TIMEOUT_S}; other clients are served throughout`, { timeout: 60_000 }, async (t) => {
  const be = await httpBackend(t);
  // every slow client holds a connection slot until it is cut off: -x leaves room for the others
  const pen = await startPen(t, ['-H', '-x', String(SLOW + 200), '-o', `http_head_timeout ${HEAD_TIMEOUT_S}`, `127.0.0.1:${be.port}`]);
  const flow = steadyClients(pen.port, {
    lanes: 4,
    ms: 40_000,
    ask: httpRequest,
  });
  t.after(() => flow.stop());
  assert.ok(await flow.served(20), 'clients are served before the attack');

  const slow = [];
  t.after(() => slow.forEach(({ socket }) => socket.destroy()));
  let servedWhileAllHeld;
  const cutOff = [];
  for (let i = 0; i < SLOW; i++) {
    const socket = net.connect(pen.port, '127.0.0.1').on('error', () => {});
    const client = { socket, sent: 0, firstByteAt: 0, reply: '' };
    socket.on('data', (d) => { client.reply += d; });
    cutOff.push(new Promise((resolve) => socket.once('close', () => {
      servedWhileAllHeld ??= flow.counts.served;
      resolve({ afterMs: Date.now() - client.firstByteAt, reply: client.reply, sent: client.sent });
    })));
    slow.push(client);
  }
  const servedBefore = flow.counts.served;
  // the attack itself: a byte to every open slow client each interval, until all are closed
  const drip = setInterval(() => {
    for (const client of slow) {
      if (client.socket.destroyed || client.socket.connecting) continue;
      if (client.sent === 0) client.firstByteAt = Date.now();
      client.socket.write(headByte(client.sent++));
    }
  }, BYTE_EVERY_MS);
  t.after(() => clearInterval(drip));
  const results = await Promise.all(cutOff);
  clearInterval(drip);
  const counts = await flow.stop();

  const not408 = results.filter((r) => !r.reply.startsWith('HTTP/1.1 408 Request Timeout\r\n'));
  assert.deepEqual(not408.slice(0, 3), [], `${not408.length} slow clients closed without a 408`);
  const early = results.filter((r) => r.afterMs < HEAD_TIMEOUT_S * 1000 - BYTE_EVERY_MS);
  assert.deepEqual(early.slice(0, 3), [], 'no slow client cut off before http_head_timeout');
  const latest = Math.max(...results.map((r) => r.afterMs));
  assert.ok(latest <= HEAD_TIMEOUT_S * 1000 + LATE_MS, `every slow client cut off within ${HEAD_TIMEOUT_S} s + ${LATE_MS} ms of its first byte (the last after ${latest} ms)`);
  assert.deepEqual(counts.failures, []);
  assert.equal(counts.served, counts.sent, 'no client lost');
  assert.ok(servedWhileAllHeld > servedBefore, `clients served while all ${SLOW} slow clients were held (${servedWhileAllHeld - servedBefore})`);
  assert.ok(counts.slowestMs < HEAD_TIMEOUT_S * 1000, `no client waited for the slow ones to go (slowest ${counts.slowestMs} ms)`);
  t.diagnostic(`${counts.served} clients served, ${servedWhileAllHeld - servedBefore} of them while all ${SLOW} slow clients were held, the slowest in ${counts.slowestMs} ms; ` +
    `slow clients cut off ${Math.min(...results.map((r) => r.afterMs))}–${latest} ms after their first byte, having sent ${Math.max(...results.map((r) => r.sent))} bytes at most`);
});
