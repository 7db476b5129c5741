'use strict';
// Whose cipher order counts in TLS 1.2: the server's by default (as HAProxy), the client's with
// `ssl_option prefer_client_ciphers`; `write` saves the choice.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { namedBackend, startPen, controlOf } = require('../support/harness');
const { certificateSet } = require('../support/certs');
const { noOpenssl, sClient } = require('../support/openssl');

// AES128-SHA256 (RSA key exchange, no forward secrecy) is last in the server's list, first in this client's
const CLIENT = ['-tls1_2', '-cipher', 'AES128-SHA256:ECDHE-RSA-AES128-GCM-SHA256'];

async function cipherOf(port) {
  const output = await sClient(port, CLIENT);
  return /Cipher is (\S+)/.exec(output)?.[1] ?? output;
}

test('the server\'s cipher order counts unless ssl_option prefer_client_ciphers; write saves it', { skip: noOpenssl }, async (t) => {
  const certs = await certificateSet(t);
  const be = await namedBackend('pong', t);
  const rsa = await certs.makeRsa('localhost');
  const tlsArgs = ['-E', certs.write('rsa.crt', rsa.cert), '-K', certs.write('rsa.key', rsa.private)];
  const serverOrder = await startPen(t, [...tlsArgs, `127.0.0.1:${be.port}`]);
  assert.equal(await cipherOf(serverOrder.port), 'ECDHE-RSA-AES128-GCM-SHA256');

  const clientOrder = await startPen(t, [...tlsArgs, '-o', 'ssl_option prefer_client_ciphers', `127.0.0.1:${be.port}`], { control: true });
  assert.equal(await cipherOf(clientOrder.port), 'AES128-SHA256');
  const file = path.join(certs.dir, 'pen.cfg');
  const control = controlOf(clientOrder);
  assert.equal(await control('write', file), '');
  assert.match(fs.readFileSync(file, 'utf8'), /^ssl_option prefer_client_ciphers$/m);
  const copy = await startPen(t, [...tlsArgs, '-F', file]);
  assert.equal(await cipherOf(copy.port), 'AES128-SHA256');

  assert.equal(await control('ssl_option cipher_server_preference'), ''); // still accepted: the server's order again
  assert.equal(await control('ssl_reload'), '');
  assert.equal(await cipherOf(clientOrder.port), 'ECDHE-RSA-AES128-GCM-SHA256');
});
