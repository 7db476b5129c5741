'use strict';
// ssl_certificate: an ECDSA chain served beside the RSA one (or the other way round); OpenSSL picks
// per client the one its signature algorithms allow. Bad files, reload, write and SNI beside it.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const tls = require('node:tls');
const { X509Certificate } = require('node:crypto');
const { namedBackend, startPen, runPen, freePort, controlOf } = require('../support/harness');
const { certificateSet } = require('../support/certs');
const { noOpenssl, sClient } = require('../support/openssl');

/** What s_client saw of the server's certificate: `SIGNATURE-TYPE BITS CN`, e.g. `ECDSA 256 localhost`. */
async function certificateSeen(port, args) {
  const output = await sClient(port, args);
  const type = /^Peer signature type: (\S+)$/m.exec(output)?.[1];
  const bits = /^Server public key is (\d+) bit$/m.exec(output)?.[1];
  const cn = /^subject=.*CN = ([^,\n]+)$/m.exec(output)?.[1];
  return type && bits && cn ? `${type} ${bits} ${cn}` : output;
}

/** An RSA-2048 certificate for -E/-K, and the set's ECDSA P-256 one for ssl_certificate. */
async function rsaAndEcdsa(t) {
  const certs = await certificateSet(t);
  const rsa = await certs.makeRsa('localhost');
  return { certs, rsaArgs: ['-E', certs.write('rsa.crt', rsa.cert), '-K', certs.write('rsa.key', rsa.private)] };
}

test('RSA and ECDSA side by side: RSA-only clients get RSA, the others ECDSA, in TLS 1.2 and 1.3', { skip: noOpenssl }, async (t) => {
  const { certs, rsaArgs } = await rsaAndEcdsa(t);
  const be = await namedBackend('pong', t);
  const pen = await startPen(t, [...rsaArgs, '-o', `ssl_certificate ${certs.serverCert} ${certs.serverKey}`, `127.0.0.1:${be.port}`]);
  assert.equal(await certificateSeen(pen.port, ['-tls1_2', '-sigalgs', 'RSA+SHA256']), 'RSA 2048 localhost');
  assert.equal(await certificateSeen(pen.port, ['-tls1_3', '-sigalgs', 'rsa_pss_rsae_sha256']), 'RSA-PSS 2048 localhost');
  assert.equal(await certificateSeen(pen.port, ['-tls1_2', '-sigalgs', 'ECDSA+SHA256']), 'ECDSA 256 localhost');
  // a client taking both gets ECDSA: OpenSSL's signature order in TLS 1.3, our cipher order in TLS 1.2
  assert.equal(await certificateSeen(pen.port, ['-tls1_3']), 'ECDSA 256 localhost');
  assert.equal(await certificateSeen(pen.port, ['-tls1_2']), 'ECDSA 256 localhost');
});

test('ssl_certificate beside SNI: a name from ssl_sni_path gets its own certificate, others the pair', { skip: noOpenssl }, async (t) => {
  const { certs, rsaArgs } = await rsaAndEcdsa(t);
  const be = await namedBackend('pong', t);
  const sni = await certs.sniDirectory('a.example');
  const pen = await startPen(t, [...rsaArgs, '-o', `ssl_certificate ${certs.serverCert} ${certs.serverKey}`, '-o', `ssl_sni_path ${sni}`, `127.0.0.1:${be.port}`]);
  assert.equal(await certificateSeen(pen.port, ['-servername', 'a.example']), 'ECDSA 256 a.example');
  assert.equal(await certificateSeen(pen.port, ['-tls1_2', '-sigalgs', 'RSA+SHA256']), 'RSA 2048 localhost');
  assert.equal(await certificateSeen(pen.port, []), 'ECDSA 256 localhost');
});

test('ssl_certificate on the control port: checked at once, served after ssl_reload, re-read then, saved by write', async (t) => {
  const { certs, rsaArgs } = await rsaAndEcdsa(t);
  const be = await namedBackend('pong', t);
  const pen = await startPen(t, [...rsaArgs, `127.0.0.1:${be.port}`], { control: true });
  const control = controlOf(pen);
  /** The serial number of the certificate a client accepting only ECDSA gets, or its handshake error. */
  const ecdsaSerial = () => new Promise((resolve) => {
    const s = tls.connect({ port: pen.port, host: '127.0.0.1', servername: 'localhost', rejectUnauthorized: false, sigalgs: 'ECDSA+SHA256' });
    s.on('secureConnect', () => { resolve(s.getPeerCertificate().serialNumber); s.destroy(); });
    s.on('error', (err) => resolve(err.code));
  });
  const serialOf = (pem) => new X509Certificate(pem).serialNumber;
  // the client's handshake_failure alert; OpenSSL 3.5 (Node 24) names it SSL/TLS where 3.0 said SSLV3
  const REFUSED = /^ERR_SSL_(SSLV3|SSL\/TLS)_ALERT_HANDSHAKE_FAILURE$/;
  assert.match(await ecdsaSerial(), REFUSED);
  assert.equal(await control(`ssl_certificate ${certs.serverCert} ${certs.server2Key}`),
    `ssl_certificate: key ${certs.server2Key}: does not match certificate ${certs.serverCert}\n`);
  const ecCert = certs.write('ec.crt', certs.server.cert);
  const ecKey = certs.write('ec.key', certs.server.private);
  assert.equal(await control(`ssl_certificate ${ecCert} ${ecKey}`), '');
  assert.equal(await control('ssl_reload'), '');
  assert.equal(await ecdsaSerial(), serialOf(certs.server.cert));

  fs.writeFileSync(ecCert, certs.server2.cert);
  fs.writeFileSync(ecKey, certs.server2.private);
  assert.equal(await control('ssl_reload'), '');
  assert.equal(await ecdsaSerial(), serialOf(certs.server2.cert));
  fs.writeFileSync(ecCert, 'garbage');
  assert.equal(await control('ssl_reload'), `ssl_reload: certificate ${ecCert}: not a PEM file; the previous certificates stay in use\n`);

  const file = path.join(certs.dir, 'pen.cfg');
  assert.equal(await control('write', file), '');
  assert.match(fs.readFileSync(file, 'utf8'), new RegExp(`^no ssl_certificate\nssl_certificate ${ecCert} ${ecKey}$`, 'm'));
  assert.equal(await control('no ssl_certificate'), '');
  assert.equal(await control('ssl_reload'), '');
  assert.match(await ecdsaSerial(), REFUSED);
});

test('bad ssl_certificate files: one line naming the file, exit 1', async (t) => {
  const certs = await certificateSet(t);
  const listen = `127.0.0.1:${await freePort()}`;
  const main = ['-E', certs.serverCert, '-K', certs.serverKey];
  const cases = [
    [[...main, '-o', `ssl_certificate ${path.join(certs.dir, 'missing.crt')}`], /ssl_certificate: certificate .*missing\.crt: cannot read \(ENOENT\)/],
    [[...main, '-o', `ssl_certificate ${certs.serverCert} ${certs.server2Key}`], /ssl_certificate: key .*server2\.key: does not match certificate .*server\.crt/],
    [[...main, '-o', `ssl_certificate ${certs.expiredCert} ${certs.expiredKey}`], /ssl_certificate: certificate .*expired\.crt: certificate expired on/],
    [[...main, '-o', `ssl_certificate ${certs.server2Cert} ${certs.server2Key}`], /ssl_certificate .*server2\.crt: .*server\.crt has a key of the same type \(ec\); one certificate per key type is served/],
    [['-o', `ssl_certificate ${certs.serverCert} ${certs.serverKey}`], /ssl_certificate: serves beside the -E or ssl_auto certificate/],
    [[...main, '-o', 'ssl_certificate'], /ssl_certificate: expected CERT \[KEY\]/],
  ];
  for (const [args, message] of cases) {
    const r = await runPen(['-f', ...args, listen, '127.0.0.1:80']);
    assert.equal(r.code, 1, args.join(' '));
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  }
});
