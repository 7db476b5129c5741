'use strict';
// TLS session resumption as openssl s_client sees it: by session ID (pen-edge's session cache), by
// ticket in TLS 1.2 and 1.3, across ssl_reload, and with a stale session after a restart.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { namedBackend, startPen, controlOf } = require('../support/harness');
const { certificateSet } = require('../support/certs');
const { noOpenssl, sClient, sessionLine } = require('../support/openssl');

const KINDS = [
  { name: 'TLS 1.2 by session ID', args: ['-tls1_2', '-no_ticket'], version: 'TLSv1.2' },
  { name: 'TLS 1.2 by ticket', args: ['-tls1_2'], version: 'TLSv1.2' },
  // the server sends TLS 1.3 tickets after the handshake: the reply to our input comes after them
  { name: 'TLS 1.3 by ticket', args: ['-tls1_3'], version: 'TLSv1.3' },
];

/** A full handshake that saves its session in file; the reply from the backend comes through. */
async function saveSession(port, kind, file) {
  const first = await sClient(port, [...kind.args, '-sess_out', file]);
  assert.match(sessionLine(first), new RegExp(`^New, ${kind.version}`), kind.name);
  assert.match(first, /^pong$/m);
}

/** A handshake offering the session in file: its session line (`Reused, …` or `New, …`). */
async function offerSession(port, kind, file) {
  const again = await sClient(port, [...kind.args, '-sess_in', file]);
  assert.match(again, /^pong$/m, kind.name);
  return sessionLine(again);
}

test('sessions resume by session ID (TLS 1.2) and by ticket (TLS 1.2 and 1.3)', { skip: noOpenssl }, async (t) => {
  const certs = await certificateSet(t);
  const be = await namedBackend('pong', t);
  const pen = await startPen(t, ['-E', certs.serverCert, '-K', certs.serverKey, `127.0.0.1:${be.port}`]);
  for (const kind of KINDS) {
    const file = path.join(certs.dir, 'session.pem');
    await saveSession(pen.port, kind, file);
    assert.match(await offerSession(pen.port, kind, file), new RegExp(`^Reused, ${kind.version}`), kind.name);
  }
});

test('-L tls1.3: sessions resume by ticket', { skip: noOpenssl }, async (t) => {
  const certs = await certificateSet(t);
  const be = await namedBackend('pong', t);
  const pen = await startPen(t, ['-E', certs.serverCert, '-K', certs.serverKey, '-L', 'tls1.3', `127.0.0.1:${be.port}`]);
  const kind = KINDS.find((k) => k.version === 'TLSv1.3');
  const file = path.join(certs.dir, 'session.pem');
  await saveSession(pen.port, kind, file);
  assert.match(await offerSession(pen.port, kind, file), /^Reused, TLSv1\.3/);
});

test('sessions saved before ssl_reload still resume after it', { skip: noOpenssl }, async (t) => {
  const certs = await certificateSet(t);
  const be = await namedBackend('pong', t);
  const pen = await startPen(t, ['-E', certs.serverCert, '-K', certs.serverKey, `127.0.0.1:${be.port}`], { control: true });
  const files = KINDS.map((_, i) => path.join(certs.dir, `session${i}.pem`));
  for (const [i, kind] of KINDS.entries()) await saveSession(pen.port, kind, files[i]);
  assert.equal(await controlOf(pen)('ssl_reload'), '');
  for (const [i, kind] of KINDS.entries()) {
    assert.match(await offerSession(pen.port, kind, files[i]), new RegExp(`^Reused, ${kind.version}`), kind.name);
  }
});

test('a session from before a restart gets a full handshake, and the new process serves on', { skip: noOpenssl }, async (t) => {
  const certs = await certificateSet(t);
  const be = await namedBackend('pong', t);
  const args = ['-E', certs.serverCert, '-K', certs.serverKey, `127.0.0.1:${be.port}`];
  const before = await startPen(t, args);
  const files = KINDS.map((_, i) => path.join(certs.dir, `session${i}.pem`));
  for (const [i, kind] of KINDS.entries()) await saveSession(before.port, kind, files[i]);
  before.child.kill('SIGTERM');
  await before.child.exited;
  const after = await startPen(t, args);
  for (const [i, kind] of KINDS.entries()) {
    assert.match(await offerSession(after.port, kind, files[i]), new RegExp(`^New, ${kind.version}`), kind.name);
  }
  assert.equal(after.child.exitCode, null);
});
