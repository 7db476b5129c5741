'use strict';
// Helpers for the abuse and stress tests: a process's memory and descriptors, a steady flow of
// clients to count, and many connections opened a few at a time. Every loop is bounded in count
// and in time.
const fs = require('node:fs');
const net = require('node:net');
const { exchange } = require('./harness');

/** Resident memory of a process in KiB (VmRSS from /proc). */
function rssKiB(pid) {
  return Number(/^VmRSS:\s*(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
}

/** How many descriptors a process has open. */
function openDescriptors(pid) {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

/** The client of steadyClients by default: a line of its own, echoed whole. */
const echoed = (i) => {
  const data = `client ${i}\n`;
  return { data, ok: (answer) => answer === data };
};

/**
 * Clients through the balancer at port, `lanes` at a time, each one connection that sends
 * ask(i).data, half-closes and takes what comes until the close; ask(i).ok judges it. They go
 * on until stop() (or `max` clients, or `ms`). stop() resolves with { sent, served, failures (the
 * first few), slowestMs } once the clients under way are done.
 */
function steadyClients(port, { lanes = 4, max = 100_000, ms = 60_000, ask = echoed } = {}) {
  const counts = { sent: 0, served: 0, failures: [], slowestMs: 0 };
  const deadline = Date.now() + ms;
  let stopped = false;
  /** served() calls waiting for a count of served clients: [target, resolve] */
  let waiting = [];
  const settle = (over) => {
    waiting = waiting.filter(([target, resolve]) => (counts.served >= target || over ? resolve(counts.served >= target) : true));
  };
  const lane = async () => {
    while (!stopped && counts.sent < max && Date.now() < deadline) {
      const { data, ok } = ask(counts.sent++);
      const start = Date.now();
      let answer;
      try {
        answer = await exchange(port, { data, end: true });
      } catch (err) {
        answer = `error ${err.code ?? err.message}`;
      }
      counts.slowestMs = Math.max(counts.slowestMs, Date.now() - start);
      if (ok(answer)) {
        counts.served++;
        settle(false);
      } else if (counts.failures.length < 10) { // the first few, to show
        counts.failures.push(`${JSON.stringify(data)} got ${JSON.stringify(answer)}`);
      }
    }
  };
  const running = Promise.all(Array.from({ length: lanes }, lane)).finally(() => settle(true));
  return {
    counts,
    /** resolves with true once n more clients have been served than when called (false if the flow ended first) */
    served(n) {
      return new Promise((resolve) => {
        waiting.push([counts.served + n, resolve]);
        settle(stopped);
      });
    },
    async stop() {
      stopped = true;
      await running;
      return counts;
    },
  };
}

/**
 * Opens `count` connections to port, `wave` at a time (a wave waits until each of its
 * connections is established or closed, so no listen backlog overflows); `onSocket` is given each
 * socket before it connects. Resolves with the sockets.
 */
async function openInWaves(port, count, wave, onSocket) {
  const sockets = [];
  for (let opened = 0; opened < count;) {
    const batch = [];
    for (const end = Math.min(count, opened + wave); opened < end; opened++) {
      const s = net.connect(port, '127.0.0.1');
      s.on('error', () => {});
      onSocket?.(s, opened);
      sockets.push(s);
      batch.push(new Promise((resolve) => s.once('connect', resolve).once('close', resolve)));
    }
    await Promise.all(batch);
  }
  return sockets;
}

/** Resolves with what came back on a socket until it closed. */
function collected(socket) {
  const chunks = [];
  socket.on('data', (c) => chunks.push(c));
  return new Promise((resolve) => socket.once('close', () => resolve(Buffer.concat(chunks).toString('latin1'))));
}

module.exports = { rssKiB, openDescriptors, steadyClients, openInWaves, collected };
