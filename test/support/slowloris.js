'use strict';
// Slowloris on the HTTP pipeline: `slow` clients each send a request head that never ends, a byte
// every `everyMs`, while steady clients are relayed. Each must be cut off with a 408 once
// http_head_timeout has passed since its connection began (the first head's time counts from
// there), and the other clients served all along.
const assert = require('node:assert/strict');
const net = require('node:net');
const { startPen } = require('./harness');
const { steadyClients, httpBackend, httpRequest, collected } = require('./abuse');

/** how late after http_head_timeout a slow client may be cut off, on a busy 2-core machine */
const LATE_MS = 3000;
/** a head that never ends: the request line, then headers for ever */
const HEAD = 'GET /slow HTTP/1.1\r\nHost: pen-edge.test\r\n';
const headByte = (n) => (n < HEAD.length ? HEAD[n] : 'X-Slow: 1\r\n'[(n - HEAD.length) % 11]);

/** Runs the attack against a pen-edge started with `penArgs` and checks what README promises. */
async function slowloris(t, { slow, headTimeoutS, everyMs, penArgs = [], flowMs }) {
  const be = await httpBackend(t);
  // every slow client holds a connection slot until it is cut off: -x leaves room for the others
  const pen = await startPen(t, ['-H', '-x', String(slow + 500), '-q', String(slow + 500), '-o', `http_head_timeout ${headTimeoutS}`, ...penArgs, `127.0.0.1:${be.port}`]);
  const flow = steadyClients(pen.port, { lanes: 4, ms: flowMs, ask: httpRequest });
  t.after(() => flow.stop());
  assert.ok(await flow.served(20), 'clients are served before the attack');

  const clients = [];
  t.after(() => clients.forEach(({ socket }) => socket.destroy()));
  let servedWhileAllHeld;
  const cutOff = [];
  for (let i = 0; i < slow; i++) {
    const socket = net.connect(pen.port, '127.0.0.1').on('error', () => {});
    const client = { socket, sent: 0, connectedAt: 0, firstByteAt: 0 };
    socket.once('connect', () => { client.connectedAt = Date.now(); });
    cutOff.push(collected(socket).then((reply) => {
      servedWhileAllHeld ??= flow.counts.served;
      const now = Date.now();
      return { afterMs: now - client.firstByteAt, sinceConnectMs: now - client.connectedAt, reply, sent: client.sent };
    }));
    clients.push(client);
  }
  const servedBefore = flow.counts.served;
  const drip = setInterval(() => { // the attack itself: a byte to every open slow client each interval
    for (const client of clients) {
      if (client.socket.destroyed || client.socket.connecting) continue;
      if (client.sent === 0) client.firstByteAt = Date.now();
      client.socket.write(headByte(client.sent++));
    }
  }, everyMs);
  t.after(() => clearInterval(drip));
  const results = await Promise.all(cutOff);
  clearInterval(drip);
  const counts = await flow.stop();

  const earliest = Math.min(...results.map((r) => r.sinceConnectMs));
  const latest = Math.max(...results.map((r) => r.afterMs));
  t.diagnostic(`${counts.served} clients served, ${servedWhileAllHeld - servedBefore} of them while all ${slow} slow clients were held, the slowest in ${counts.slowestMs} ms; ` +
    `slow clients cut off ${earliest} ms after their connection at the earliest and ${latest} ms after their first byte at the latest, having sent ${Math.max(...results.map((r) => r.sent))} bytes at most`);
  const not408 = results.filter((r) => !r.reply.startsWith('HTTP/1.1 408 Request Timeout\r\n'));
  assert.deepEqual(not408.slice(0, 3), [], `${not408.length} slow clients closed without a 408`);
  // the balancer's clock starts when it accepts, a little before this busy client notices it is connected
  assert.ok(earliest >= headTimeoutS * 1000 - everyMs, `no slow client cut off before http_head_timeout (the first ${earliest} ms after its connection)`);
  assert.ok(latest <= headTimeoutS * 1000 + LATE_MS, `every slow client cut off within ${headTimeoutS} s + ${LATE_MS} ms of its first byte (the last after ${latest} ms)`);
  assert.deepEqual(counts.failures, []);
  assert.equal(counts.served, counts.sent, 'no client lost');
  assert.ok(servedWhileAllHeld > servedBefore, `clients served while all ${slow} slow clients were held (${servedWhileAllHeld - servedBefore})`);
  assert.ok(counts.slowestMs < headTimeoutS * 1000, `no client waited for the slow ones to go (slowest ${counts.slowestMs} ms)`);
}

module.exports = { slowloris, LATE_MS };
