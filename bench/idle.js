'use strict';
// Idle connections: how much memory a balancer holds for each relayed connection that is open
// and silent. The client is this process: each connection makes one request, so it is relayed
// all the way to a backend (which keeps it alive), then stays quiet.

const net = require('node:net');
const { HOST, rssKiB, withTimeout } = require('./processes');

const REQUEST = 'GET / HTTP/1.1\r\nHost: bench\r\n\r\n';
const WARM = 100; // opened first and kept open: code paths compiled, pools made, before RSS is read
const IN_FLIGHT = 200; // connections being opened at once
const OPEN_MS = 60_000; // for all of one contender's connections

// One connection through the balancer with one request on it; resolves once the answer is in.
function openRelayed(port, sockets, run) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, HOST);
    sockets.push(sock);
    sock.on('error', reject); // after the answer too: a late error must not go unhandled
    sock.once('close', () => reject(new Error('a connection closed before its answer')));
    sock.once('connect', () => sock.write(REQUEST));
    sock.once('data', () => {
      run.answered++;
      resolve();
    });
  });
}

// Opens `count` relayed connections, IN_FLIGHT at a time, into `sockets`, counting the answered
// ones in run.answered; opens no more once run.stopped is set.
function openMany(port, count, sockets, run) {
  let next = 0;
  const opener = async () => {
    while (next < count && !run.stopped) {
      next++;
      await openRelayed(port, sockets, run);
    }
  };
  return Promise.all(Array.from({ length: Math.min(IN_FLIGHT, count) }, opener));
}

// RSS of the balancer before and after `count` more idle connections. Every socket is reset
// at the end, whatever happens.
async function measureIdle(target, count) {
  const { pid } = target.child;
  const sockets = [];
  const run = { stopped: false, answered: 0 };
  try {
    await withTimeout(openMany(target.port, WARM, sockets, run), OPEN_MS, `opening ${WARM} warm-up connections`);
    const before = rssKiB(pid);
    await withTimeout(openMany(target.port, count, sockets, run), OPEN_MS, `opening ${count} idle connections`);
    const after = rssKiB(pid);
    const closed = sockets.filter((s) => s.readyState !== 'open').length;
    const notes = closed ? [`${closed} connections closed while idle`] : [];
    return { before, after, perConnection: (after - before) / count, failed: notes.length > 0, notes };
  } catch (err) {
    return { failed: true, notes: [`${err.message} (${run.answered} of ${WARM + count} answered)`] };
  } finally {
    run.stopped = true;
    for (const s of sockets) s.resetAndDestroy();
  }
}

module.exports = { measureIdle };
