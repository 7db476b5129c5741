'use strict';
// The client of test/ha/pair.ha.js, run in the client's namespace:
//   node client.js HOST PORT FROM COUNT
// asks http://HOST:PORT/ from address FROM for a page, one new connection at a time, COUNT times
// at most, and prints a JSON line per request: the backend's answer with `at` (ms since the epoch)
// added, or { at, error }. It stops early when its standard input ends, and after a minute anyway.
const http = require('node:http');

const [host, port, from, count] = process.argv.slice(2);
const TIMEOUT_MS = 250; // an answer on one segment takes milliseconds: longer is a connect lost
const PAUSE_MS = 20; // between requests: what is watched is VRRP's timing, which no event announces
const LIMIT_MS = 60000;

let stopped = false;
process.stdin.on('end', () => { stopped = true; }).resume();

/** One request; resolves with its line (never rejects). */
function ask() {
  return new Promise((resolve) => {
    const failed = (err) => resolve({ at: Date.now(), error: err.code ?? err.message });
    const req = http.get({ host, port, localAddress: from, agent: false, timeout: TIMEOUT_MS }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => { body += chunk; });
      res.on('end', () => resolve({ at: Date.now(), ...JSON.parse(body) }));
      res.on('error', failed);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('no answer in time'), { code: 'ETIMEDOUT' })));
    req.on('error', failed);
  });
}

async function main() {
  const deadline = Date.now() + LIMIT_MS;
  for (let i = 0; i < Number(count) && !stopped && Date.now() < deadline; i++) {
    console.log(JSON.stringify(await ask()));
    await new Promise((resolve) => setTimeout(resolve, PAUSE_MS));
  }
  process.stdin.destroy();
}

main();
