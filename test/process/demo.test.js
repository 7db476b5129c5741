'use strict';
// `npm start`: the demo serves HTTPS with X-Forwarded-For and routes by region.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const https = require('node:https');
const { spawn } = require('node:child_process');
const { once } = require('node:events');
const { ROOT } = require('../support/harness');

function get(url, localAddress) {
  return new Promise((resolve, reject) => {
    https.get(url, { rejectUnauthorized: false, localAddress, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

test('npm start: HTTPS with a generated certificate, X-Forwarded-For, two regions', async (t) => {
  const demo = spawn(process.execPath, [path.join(ROOT, 'dist', 'process', 'demo.js')], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = once(demo, 'exit');
  t.after(async () => { demo.kill('SIGTERM'); await exited; });
  let out = '';
  while (!/Ctrl-C/.test(out)) out += (await once(demo.stdout, 'data'))[0]; // printed once pen serves
  demo.stderr.resume();
  const url = /https:\/\/127\.0\.0\.1:\d+\//.exec(out)[0];
  const us = await get(url, '127.0.0.1');
  assert.match(us, /^backend-us/);
  assert.match(us, /X-Forwarded-For: 127\.0\.0\.1\nX-Forwarded-Proto: https/);
  assert.match(await get(url, '127.0.1.5'), /^backend-eu.*\nX-Forwarded-For: 127\.0\.1\.5/s);
});
