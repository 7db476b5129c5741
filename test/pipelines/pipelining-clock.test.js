'use strict';
// Whether a request may wait behind another on a connection to a server is judged by how long
// the balancer waited on the server, not on its own event loop: a busy balancer that reads an
// answer a turn after its request goes on pipelining, however many milliseconds that turn took.
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { once } = require('node:events');
const { ServerConnection, loopClock } = require('../../dist/pipelines/server-connection');
const { defaultSettings } = require('../../dist/config/settings');
const { emptyServer } = require('../../dist/balancer/server-table');

/** A GET as the HTTP/2 side hands it to a connection; it hears nothing back here. */
function get() {
  return {
    requestHead: 'GET / HTTP/1.1\r\nHost: test\r\n\r\n', pipelinable: true, isHead: false, hasBody: false, connection: undefined,
    headWritten() {}, sendBody() {}, informational() {}, head() {}, data: () => true, ended() {}, failed() {},
  };
}

test('pipelining: a request joins one waiting on a fast server by what the balancer waited on it, not by the time its own loop took', async (t) => {
  const server = net.createServer(() => {}); // never answers
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const connection = new ServerConnection({ ...emptyServer(0), host: '127.0.0.1', port: server.address().port }, defaultSettings(),
    { heard() {}, answered() {}, gone() {} }, undefined);
  t.after(() => connection.abandon(0, 'the test is over')); // how its request fails does not matter here

  connection.send(get());
  await new Promise((resolve) => setImmediate(resolve)); // the turn's heads are written
  const sent = loopClock();
  const later = (ms, turns, idle) => ({ now: sent.now + ms, turn: sent.turn + turns, idle: sent.idle + idle });
  const takes = (clock) => connection.takes(get(), 16, 10, clock);

  assert.equal(takes(later(5, 3, 5)), true, 'within 10 ms: fast, whatever the loop did');
  assert.equal(takes(later(50, 0, 0)), true, 'a busy loop took 50 ms over its turn: the server kept nobody waiting');
  assert.equal(takes(later(50, 1, 2)), true, 'one turn later, 2 ms of it idle');
  assert.equal(takes(later(50, 0, 50)), false, 'the loop sat idle 50 ms: it was waiting on the server');
  assert.equal(takes(later(50, 3, 0)), false, 'three turns went by without the answer: the server is slow');
  assert.equal(connection.takes({ ...get(), pipelinable: false }, 16, 10, later(0, 0, 0)), false, 'only GET and HEAD wait behind others');
});
