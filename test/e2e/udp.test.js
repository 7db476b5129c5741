'use strict';
// -U: datagrams balanced per client, replies back through the listening port, failover on refusal.
const test = require('node:test');
const assert = require('node:assert/strict');
const dgram = require('node:dgram');
const { once } = require('node:events');
const { startPen, penctl, freePort } = require('../support/harness');

async function udpBackend(t, name) {
  const s = dgram.createSocket('udp4');
  s.on('message', (msg, from) => s.send(`${name}:${msg}`, from.port, from.address));
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  t.after(() => s.close());
  return s.address().port;
}

async function ask(port, text, address = '127.0.0.1') {
  const c = dgram.createSocket('udp4');
  c.bind(0, address);
  await once(c, 'listening');
  try {
    for (let attempt = 0; attempt < 20; attempt++) { // UDP may lose a datagram while a server is tried: ask again
      c.send(text, port, '127.0.0.1');
      const reply = await Promise.race([once(c, 'message').then(([m]) => m.toString()), new Promise((r) => setTimeout(r, 500, undefined))]);
      if (reply !== undefined) return reply;
    }
    throw new Error('no reply');
  } finally {
    c.close();
  }
}

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
