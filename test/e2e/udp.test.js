'use strict';
// -U: datagrams balanced per client, replies back through the listening port, failover on refusal.
const test = require('node:test');
const assert = require('node:assert/strict');
const { startPen, penctl, freePort } = require('../support/harness');
const { udpBackend, ask } = require('../support/udp');

test('-U: each client gets its server; replies come back from the listening port', async (t) => {
  const [a, b] = await Promise.all([udpBackend(t, 'a'), udpBackend(t, 'b')]);
  const pen = await startPen(t, ['-U', 'LISTEN', `127.0.0.1:${a}`, `127.0.0.1:${b}`], { control: true });
  const port = pen.port;
  assert.equal(await ask(port, 'one', '127.0.0.2'), 'b:one');
  assert.equal(await ask(port, 'two', '127.0.0.3'), 'a:two');
  assert.equal(await ask(port, 'three', '127.0.0.2'), 'b:three'); // the client table remembers
  const { stdout } = await penctl(`127.0.0.1:${pen.ctl}`, 'servers');
  assert.match(stdout, /^1 addr 127\.0\.0\.1 port \d+ conn \d+ max 0 hard 0 weight 0 prio 0 sx 8 rx 12$/m);
});

test('-U: a server that refuses datagrams is blacklisted and the next one answers', async (t) => {
  const dead = await freePort();
  const b = await udpBackend(t, 'b');
  const { port } = await startPen(t, ['-U', '-h', 'LISTEN', `127.0.0.1:${dead}`, `127.0.0.1:${b}`, `127.0.0.1:${dead}`]);
  assert.equal(await ask(port, 'x', '127.0.0.2'), 'b:x'); // hash → server 0 (dead) first
});

test('-U with -E is refused', async () => {
  const { runPen } = require('../support/harness');
  const r = await runPen(['-f', '-U', '-E', '/x.crt', '127.0.0.1:1', '127.0.0.1:2']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /TLS needs a TCP listener/);
});
