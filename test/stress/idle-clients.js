'use strict';
// A child process holding idle connections through a balancer, so that its descriptors count
// against its own limit, not the test's or the balancer's. Started with fork(); messages in:
// { port, open: N } opens N more connections, each sending one byte and waiting for the answer
// that shows it reached a backend; messages out: { opened, answered, closed } after each batch.
const net = require('node:net');

const IN_FLIGHT = 200; // connections being opened at once
const OPEN_MS = 120_000; // for one batch

const sockets = [];
let answered = 0;
let closed = 0;

function openOne(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    sockets.push(s);
    s.on('error', () => {});
    s.once('close', () => {
      closed++;
      resolve();
    });
    s.once('connect', () => s.write('x'));
    s.once('data', () => {
      answered++;
      resolve();
    });
  });
}

/** Opens count connections, IN_FLIGHT at a time; resolves when all are answered or closed, or after OPEN_MS. */
async function openMany(port, count) {
  let next = 0;
  let timer;
  const timedOut = new Promise((resolve) => { timer = setTimeout(resolve, OPEN_MS); });
  const opener = async () => {
    while (next < count && timer !== undefined) {
      next++;
      await openOne(port);
    }
  };
  await Promise.race([Promise.all(Array.from({ length: Math.min(IN_FLIGHT, count) }, opener)), timedOut]);
  clearTimeout(timer);
  timer = undefined; // no more are opened
}

process.on('message', async ({ port, open }) => {
  await openMany(port, open);
  process.send({ opened: sockets.length, answered, closed });
});
process.on('disconnect', () => {
  for (const s of sockets) s.resetAndDestroy();
  process.exit(0);
});
