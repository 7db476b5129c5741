'use strict';
// The web endpoint (`web`) from a test's side: HTTP requests to it and through the balancer, an
// HTTP backend, and values read out of Prometheus's text format.
const http = require('node:http');
const { onLoopback } = require('./harness');

/** GET (or `method`) path from 127.0.0.1:port; resolves with { status, headers, body }, rejects when refused or reset. */
function request(port, path, { method = 'GET', localAddress } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, localAddress, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** An HTTP backend answering every request with its name. */
async function httpBackend(t, name) {
  return onLoopback(t, http.createServer((req, res) => {
    req.resume();
    res.end(`${name}\n`);
  }));
}

/** The value of one sample in Prometheus text: `name` with exactly `labels`; undefined when absent. */
function metric(text, name, labels = {}) {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).sort().join(',');
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = (match[2] ?? '').split(',').filter((l) => l !== '').sort().join(',');
    if (found === wanted) return Number(match[3]);
  }
  return undefined;
}

module.exports = { request, httpBackend, metric };
