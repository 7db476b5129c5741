'use strict';
// `npm start`: the demo serves HTTPS with X-Forwarded-For and routes by region.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
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
  // in a process group of its own, as in a terminal, where Ctrl-C sends INT to the demo and pen alike
  const demo = spawn(process.execPath, [path.join(ROOT, 'dist', 'process', 'demo.js')], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const exited = once(demo, 'exit');
  t.after(async () => { if (demo.exitCode === null) process.kill(-demo.pid, 'SIGTERM'); await exited; });
  let out = '';
  while (!/Ctrl-C/.test(out)) out += (await once(demo.stdout, 'data'))[0]; // printed once pen serves
  demo.stderr.resume();
  assert.match(out, /^pen-edge demo: /, 'the banner comes first, nothing before it');
  const url = /https:\/\/127\.0\.0\.1:\d+\//.exec(out)[0];
  const us = await get(url, '127.0.0.1');
  assert.match(us, /^backend-us/);
  assert.match(us, /X-Forwarded-For: 127\.0\.0\.1\nX-Forwarded-Proto: https/);
  assert.match(await get(url, '127.0.1.5'), /^backend-eu.*\nX-Forwarded-For: 127\.0\.1\.5/s);
  const pidFile = path.join(ROOT, 'fixtures', 'generated', 'demo.pid');
  assert.ok(fs.existsSync(pidFile));
  process.kill(-demo.pid, 'SIGINT');
  assert.deepEqual(await exited, [0, null]);
  assert.ok(!fs.existsSync(pidFile), 'Ctrl-C leaves no pid file behind');
});
