'use strict';
// UDP on loopback: a backend that answers with its name, and a client that asks until answered.
const dgram = require('node:dgram');
const { once } = require('node:events');

/** A UDP backend answering every datagram with `name:datagram`; resolves with its port. */
async function udpBackend(t, name) {
  const s = dgram.createSocket('udp4');
  s.on('message', (msg, from) => s.send(`${name}:${msg}`, from.port, from.address));
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  t.after(() => s.close());
  return s.address().port;
}

/** Sends text from address until a reply comes (a datagram may be lost while a server is tried). */
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

module.exports = { udpBackend, ask };
