'use strict';
// Helpers for the abuse and stress tests: a process's memory and descriptors, a full garbage
// collection asked of a pen, a steady flow of clients to count, an HTTP backend, and a flood of
// silent connections. Every loop is bounded in count and in time.
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const { once } = require('node:events');
const { WebSocket } = require('undici');
const { exchange, stderrMatching } = require('./harness');

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
 * An HTTP backend answering every request `served URL`, closed after the test, with a listen
 * backlog for the thousands of connections pen-edge opens to it at once (one per client, slow
 * clients too).
 */
async function httpBackend(t) {
  const server = http.createServer((req, res) => res.end(`served ${req.url}\n`));
  server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 });
  await once(server, 'listening');
  t.after(() => server.close());
  server.port = server.address().port;
  return server;
}

/** A request for steadyClients' `ask` that httpBackend answers, on a connection of its own. */
const httpRequest = (i) => ({
  data: `GET /${i} HTTP/1.1\r\nHost: pen-edge.test\r\nConnection: close\r\n\r\n`,
  ok: (answer) => new RegExp(`^HTTP/1\\.1 200 OK\r\n[^]*\r\n\r\nserved /${i}\n$`).test(answer),
});

/** Node options that open the inspector on a loopback port of its choosing, for inspectorOf. */
const INSPECTABLE = { NODE_OPTIONS: '--inspect=127.0.0.1:0' };

/**
 * The inspector of a pen started with env INSPECTABLE: collectGarbage() resolves once a full
 * garbage collection is done, so that VmRSS shows what is held, not what is yet to be collected.
 * close() before the pen is stopped: Node waits for a connected inspector before it exits.
 */
async function inspectorOf(pen) {
  const url = /Debugger listening on (ws:\/\/\S+)\n/.exec(await stderrMatching(pen.child, /Debugger listening on ws:\/\/\S+\n/))[1];
  const ws = new WebSocket(url);
  await once(ws, 'open');
  const replies = new Map(); // id of a call → its resolve
  ws.addEventListener('message', (event) => {
    const { id } = JSON.parse(event.data);
    replies.get(id)?.();
    replies.delete(id);
  });
  let calls = 0;
  return {
    collectGarbage() {
      const id = ++calls;
      return new Promise((resolve) => {
        replies.set(id, resolve);
        ws.send(JSON.stringify({ id, method: 'HeapProfiler.collectGarbage' }));
      });
    },
    close: () => ws.close(),
  };
}

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
 * Connections to a control port that never send, `wave` at a time, while more() says so. The port
 * holds at most `held` of them, closing the oldest for newer ones, so each wave waits until all
 * but the newest `held` are closed: the flood goes as fast as the port takes it, and a port that
 * held them instead would stall it. onWave() is called after each wave. Resolves with
 * { opened, ms, sockets } (the sockets still open, to destroy).
 */
async function silentFlood(port, { held, wave = 25, more, onWave = () => {} }) {
  const sockets = new Set();
  let opened = 0;
  let closed = 0;
  let wake = () => {};
  const started = Date.now();
  while (more(opened)) {
    for (let i = 0; i < wave; i++, opened++) {
      const s = net.connect(port, '127.0.0.1').on('error', () => {});
      sockets.add(s);
      s.once('close', () => {
        sockets.delete(s);
        closed++;
        wake();
      });
    }
    while (closed < opened - held) await new Promise((resolve) => { wake = resolve; });
    onWave(opened);
  }
  return { opened, ms: Date.now() - started, sockets };
}

/** Resolves with what came back on a socket until it closed. */
function collected(socket) {
  const chunks = [];
  socket.on('data', (c) => chunks.push(c));
  return new Promise((resolve) => socket.once('close', () => resolve(Buffer.concat(chunks).toString('latin1'))));
}

module.exports = { rssKiB, openDescriptors, httpBackend, httpRequest, INSPECTABLE, inspectorOf, steadyClients, silentFlood, collected };
