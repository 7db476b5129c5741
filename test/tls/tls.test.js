'use strict';
// The TLS front end: termination, mutual TLS (-G, -A, -R), -L versions, SNI, reload, bad files.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const tls = require('node:tls');
const { once } = require('node:events');
const { echoBackend, readSlowly, sendingBackend, startPen, runPen, freePort, penctl, controlOf, stderrMatching } = require('../support/harness');
const { certificateSet } = require('../support/certs');
const days = (n) => new Date(Date.now() + n * 86400000);

/** Opens a TLS connection, sends data, resolves with { reply, protocol, cert } or rejects with the handshake error. */
function tlsExchange(port, options = {}, data = 'ping') {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ...options });
    let reply = '';
    s.on('secureConnect', () => s.write(data));
    s.on('data', (d) => {
      reply += d;
      if (reply.length >= data.length) {
        resolve({ reply, protocol: s.getProtocol(), cert: s.getPeerCertificate(), socket: s });
        s.end();
      }
    });
    s.on('error', reject);
    s.on('close', () => reject(new Error(`closed after '${reply}'`)));
  });
}

test('TLS termination: the backend gets clear text; a chain and key in one file work too', async (t) => {
  const certs = await certificateSet(t);
  const be = await echoBackend(t);
  const pen = await startPen(t, ['-E', certs.serverCert, '-K', certs.serverKey, `127.0.0.1:${be.port}`]);
  const r = await tlsExchange(pen.port, { ca: certs.ca.cert });
  assert.equal(r.reply, 'ping');
  assert.equal(r.protocol, 'TLSv1.3');
  const combined = await startPen(t, ['-E', certs.combined, `127.0.0.1:${be.port}`]);
  assert.equal((await tlsExchange(combined.port, { ca: certs.ca.cert })).reply, 'ping');
});

test('a large transfer through TLS arrives intact both ways, with the client half-closing', async (t) => {
  const certs = await certificateSet(t);
  const be = await echoBackend(t);
  const pen = await startPen(t, ['-E', certs.serverCert, '-K', certs.serverKey, `127.0.0.1:${be.port}`]);
  const payload = require('node:crypto').randomBytes(8 * 1024 * 1024);
  const s = tls.connect({ port: pen.port, host: '127.0.0.1', servername: 'localhost', ca: certs.ca.cert, allowHalfOpen: true });
  const chunks = [];
  s.on('data', (c) => chunks.push(c));
  await once(s, 'secureConnect');
  s.end(payload);
  await once(s, 'end');
  s.destroy();
  assert.ok(Buffer.concat(chunks).equals(payload));
});

test('a slow TLS reader gets every byte of a large reply in order', async (t) => {
  const crypto = require('node:crypto');
  const certs = await certificateSet(t);
  const payload = crypto.randomBytes(16 * 1024 * 1024);
  const source = await sendingBackend(t, payload);
  const pen = await startPen(t, ['-E', certs.serverCert, '-K', certs.serverKey, `127.0.0.1:${source.port}`]);
  const got = await readSlowly(tls.connect({ port: pen.port, host: '127.0.0.1', servername: 'localhost', ca: certs.ca.cert }));
  assert.equal(got.length, payload.length);
  assert.equal(got.sha256, crypto.createHash('sha256').update(payload).digest('hex'));
});

test('mutual TLS with -G -R: a client certificate signed by the CA is required', async (t) => {
  const certs = await certificateSet(t);
  const be = await echoBackend(t);
  const pen = await startPen(t, ['-E', certs.serverCert, '-K', certs.serverKey, '-G', certs.caFile, '-R', `127.0.0.1:${be.port}`]);
  const good = await tlsExchange(pen.port, { ca: certs.ca.cert, cert: certs.client.cert, key: certs.client.private });
  assert.equal(good.reply, 'ping');
  // each refusal is logged with its reason, in one line
  const refusedWith = async (client, reason) => {
    await assert.rejects(tlsExchange(pen.port, { ca: certs.ca.cert, ...client }));
    await stderrMatching(pen.child, new RegExp(`TLS handshake with 127\\.0\\.0\\.1 failed: ${reason}\n`));
  };
  await refusedWith({}, 'peer did not return a certificate');
  await refusedWith({ cert: certs.stranger.cert, key: certs.stranger.private }, 'client certificate rejected \\(UNABLE_TO_VERIFY_LEAF_SIGNATURE\\)');
  const expired = await certs.makeLeaf('client two', { client: true, notBefore: days(-20), notAfter: days(-10) });
  await refusedWith({ cert: expired.cert, key: expired.private }, 'client certificate rejected \\(CERT_HAS_EXPIRED\\)');
  assert.doesNotMatch(pen.child.stderrText, /\n\n/, 'no blank lines');
});

test('mutual TLS: a session made before a reload changed the trusted CAs does not resume after it', async (t) => {
  const certs = await certificateSet(t);
  const be = await echoBackend(t);
  const caFile = certs.write('trusted.crt', certs.ca.cert);
  const pen = await startPen(t, ['-E', certs.serverCert, '-K', certs.serverKey, '-G', caFile, '-R', `127.0.0.1:${be.port}`], { control: true });
  const sessionOf = async (options) => {
    const r = await tlsExchange(pen.port, { ca: certs.ca.cert, ...options });
    return { reused: r.socket.isSessionReused(), session: r.socket.getSession() };
  };
  const first = await sessionOf({ cert: certs.client.cert, key: certs.client.private });
  assert.equal((await sessionOf({ session: first.session })).reused, true, 'before the reload, the session resumes without a certificate');
  fs.writeFileSync(caFile, certs.stranger.cert); // the client's CA is no longer trusted
  assert.equal(await controlOf(pen)('ssl_reload'), '');
  await assert.rejects(tlsExchange(pen.port, { ca: certs.ca.cert, session: first.session }));
  await assert.rejects(tlsExchange(pen.port, { ca: certs.ca.cert, cert: certs.client.cert, key: certs.client.private }));
});

test('mutual TLS with -A: every CA certificate in a hashed directory is trusted', async (t) => {
  const certs = await certificateSet(t);
  const be = await echoBackend(t);
  const dir = path.join(certs.dir, 'cas');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, `${new (require('node:crypto').X509Certificate)(certs.ca.cert).serialNumber.slice(0, 8).toLowerCase()}.0`), certs.ca.cert);
  fs.writeFileSync(path.join(dir, 'README'), 'not a certificate');
  const pen = await startPen(t, ['-E', certs.serverCert, '-K', certs.serverKey, '-A', dir, '-R', `127.0.0.1:${be.port}`]);
  assert.equal((await tlsExchange(pen.port, { ca: certs.ca.cert, cert: certs.client.cert, key: certs.client.private })).reply, 'ping');
  await assert.rejects(tlsExchange(pen.port, { ca: certs.ca.cert }));
});

for (const [protocol, expected] of [['ssl23', 'TLSv1.3'], ['tls1.3', 'TLSv1.3'], ['tls1.2', 'TLSv1.2'], ['tls1.1', 'TLSv1.1'], ['tls1', 'TLSv1']]) {
  test(`-L ${protocol} negotiates ${expected}`, async (t) => {
    const certs = await certificateSet(t);
    const be = await echoBackend(t);
    const pen = await startPen(t, ['-E', certs.serverCert, '-K', certs.serverKey, '-L', protocol, `127.0.0.1:${be.port}`]);
    const r = await tlsExchange(pen.port, { ca: certs.ca.cert, minVersion: 'TLSv1', ciphers: 'DEFAULT:@SECLEVEL=0' });
    assert.equal(r.protocol, expected);
  });
}

test('-L tls1.2 refuses a TLS 1.3-only client; ssl_option no_tlsv1.2 narrows ssl23 to TLS 1.3', async (t) => {
  const certs = await certificateSet(t);
  const be = await echoBackend(t);
  const only12 = await startPen(t, ['-E', certs.serverCert, '-K', certs.serverKey, '-L', 'tls1.2', `127.0.0.1:${be.port}`]);
  await assert.rejects(tlsExchange(only12.port, { ca: certs.ca.cert, minVersion: 'TLSv1.3' }));
  const no12 = await startPen(t, ['-E', certs.serverCert, '-K', certs.serverKey, '-o', 'ssl_option no_tlsv1.2', `127.0.0.1:${be.port}`]);
  await assert.rejects(tlsExchange(no12.port, { ca: certs.ca.cert, maxVersion: 'TLSv1.2' }));
});

test('SNI: ssl_sni_path serves each name its own certificate', async (t) => {
  const certs = await certificateSet(t);
  const be = await echoBackend(t);
  const sni = await certs.sniDirectory('a.example', 'b.example');
  const pen = await startPen(t, ['-E', certs.serverCert, '-K', certs.serverKey, '-o', `ssl_sni_path ${sni}`, `127.0.0.1:${be.port}`], { control: true });
  for (const name of ['a.example', 'b.example']) {
    const r = await tlsExchange(pen.port, { ca: certs.ca.cert, servername: name });
    assert.equal(r.cert.subject.CN, name);
  }
  assert.equal((await tlsExchange(pen.port, { ca: certs.ca.cert, servername: 'localhost' })).cert.subject.CN, 'localhost');
  for (const asked of ['A.EXAMPLE', 'a.Example', 'a.example.']) { // host names match in any case, with or without a final dot
    assert.equal((await tlsExchange(pen.port, { ca: certs.ca.cert, servername: asked, checkServerIdentity: () => undefined })).cert.subject.CN, 'a.example', asked);
  }
  // a pair that no longer matches fails the reload, which changes nothing
  fs.writeFileSync(path.join(sni, 'a.example.key'), fs.readFileSync(certs.server2Key));
  assert.match(await controlOf(pen)('ssl_reload'), /a\.example/);
  assert.equal((await tlsExchange(pen.port, { ca: certs.ca.cert, servername: 'a.example' })).cert.subject.CN, 'a.example');
});

test('SNI and OCSP stapling set on the control port are served after ssl_reload', async (t) => {
  const certs = await certificateSet(t);
  const be = await echoBackend(t);
  const sni = await certs.sniDirectory('a.example');
  const ocsp = certs.write('ocsp.der', 'pretend-DER-ocsp-response');
  const pen = await startPen(t, ['-E', certs.serverCert, '-K', certs.serverKey, `127.0.0.1:${be.port}`], { control: true });
  const control = controlOf(pen);
  assert.equal((await tlsExchange(pen.port, { ca: certs.ca.cert, servername: 'a.example', rejectUnauthorized: false })).cert.subject.CN, 'localhost');
  assert.equal(await control(`ssl_sni_path ${sni}`), '');
  assert.equal(await control(`ssl_ocsp_response ${ocsp}`), '');
  assert.equal(await control('ssl_reload'), '');
  const stapled = await new Promise((resolve, reject) => {
    const s = tls.connect({ port: pen.port, host: '127.0.0.1', servername: 'a.example', ca: certs.ca.cert, requestOCSP: true });
    let response;
    s.on('OCSPResponse', (r) => { response = r; });
    s.on('secureConnect', () => { resolve({ response, cn: s.getPeerCertificate().subject.CN }); s.end(); });
    s.on('error', reject);
  });
  assert.equal(stapled.cn, 'a.example');
  assert.equal(stapled.response?.toString(), 'pretend-DER-ocsp-response');
});

test('HUP reloads the certificate; an open connection stays; a broken new file keeps the old one', async (t) => {
  const certs = await certificateSet(t);
  const be = await echoBackend(t);
  const cert = certs.write('live.crt', certs.server.cert);
  const key = certs.write('live.key', certs.server.private);
  const pen = await startPen(t, ['-E', cert, '-K', key, `127.0.0.1:${be.port}`], { control: true });
  const first = await new Promise((resolve, reject) => {
    const s = tls.connect({ port: pen.port, host: '127.0.0.1', servername: 'localhost', ca: certs.ca.cert }, () => resolve(s));
    s.on('error', reject);
  });
  const serial = first.getPeerCertificate().serialNumber;
  fs.writeFileSync(cert, certs.server2.cert);
  fs.writeFileSync(key, certs.server2.private);
  pen.child.kill('SIGHUP');
  let now;
  do now = await tlsExchange(pen.port, { ca: certs.ca.cert }); while (now.cert.serialNumber === serial);
  first.write('still here');
  const [echo] = await once(first, 'data');
  assert.equal(echo.toString(), 'still here');
  first.destroy();
  fs.writeFileSync(cert, 'garbage');
  const reply = await penctl(`127.0.0.1:${pen.ctl}`, 'ssl_reload');
  assert.match(reply.stdout, /^ssl_reload: certificate .*live\.crt: not a PEM file; the previous certificates stay in use\n$/);
  assert.equal((await tlsExchange(pen.port, { ca: certs.ca.cert })).cert.serialNumber, now.cert.serialNumber);
});

test('ssl_auto: no files needed; a self-signed certificate is made once and reused', async (t) => {
  const be = await echoBackend(t);
  const pen = await startPen(t, ['-o', 'ssl_auto localhost,127.0.0.1', `127.0.0.1:${be.port}`]);
  const text = await stderrMatching(pen.child, /fingerprint/);
  const [, file, fp] = /certificate (\S+) for .* fingerprint (\S+)/.exec(text);
  assert.equal((fs.statSync(file.replace(/\.crt$/, '.key')).mode & 0o777), 0o600);
  const r = await tlsExchange(pen.port, { rejectUnauthorized: false });
  assert.equal(r.cert.fingerprint256, fp);
  const again = await startPen(t, ['-o', 'ssl_auto localhost,127.0.0.1', `127.0.0.1:${be.port}`]);
  assert.match(await stderrMatching(again.child, /fingerprint/), new RegExp(`using self-signed .*${fp}`));
});

test('plain HTTP and a truncated handshake on the TLS port do not disturb other clients', async (t) => {
  const certs = await certificateSet(t);
  const be = await echoBackend(t);
  const pen = await startPen(t, ['-E', certs.serverCert, '-K', certs.serverKey, `127.0.0.1:${be.port}`]);
  const net = require('node:net');
  const junk = net.connect(pen.port, '127.0.0.1');
  junk.on('error', () => {});
  const junkClosed = new Promise((r) => junk.on('close', r));
  junk.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  const half = net.connect(pen.port, '127.0.0.1');
  half.on('error', () => {});
  half.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])); // a ClientHello that never finishes
  assert.equal((await tlsExchange(pen.port, { ca: certs.ca.cert })).reply, 'ping');
  await junkClosed;
  half.destroy();
});

test('bad certificate and key files: one line naming the file, exit 1', async (t) => {
  const certs = await certificateSet(t);
  const listen = `127.0.0.1:${await freePort()}`;
  const cases = [
    [['-E', path.join(certs.dir, 'missing.crt')], /certificate .*missing\.crt: cannot read \(ENOENT\)/],
    [['-E', certs.serverCert, '-K', certs.server2Key], /key .*server2\.key: does not match certificate .*server\.crt/],
    [['-E', certs.expiredCert, '-K', certs.expiredKey], /certificate .*expired\.crt: certificate expired on/],
    [['-E', certs.garbage, '-K', certs.serverKey], /certificate .*garbage\.crt: malformed certificate/],
    [['-E', certs.serverCert, '-K', certs.serverKey, '-G', path.join(certs.dir, 'nope.pem')], /CA file .*nope\.pem: cannot read/],
    [['-E', certs.serverCert, '-K', certs.caFile], /key .*ca\.crt: no usable private key/],
  ];
  for (const [args, message] of cases) {
    const r = await runPen(['-f', ...args, listen, '127.0.0.1:80']);
    assert.equal(r.code, 1, args.join(' '));
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  }
});

test('with -H: client certificate results go to the backend as headers; forged ones are dropped; with http2 off ALPN says http/1.1', async (t) => {
  const certs = await certificateSet(t);
  const http = require('node:http');
  const be = http.createServer((req, res) => res.end(JSON.stringify(req.headers)));
  be.listen(0, '127.0.0.1');
  await once(be, 'listening');
  t.after(() => be.close());
  const pen = await startPen(t, ['-H', '-o', 'http2 off', '-E', certs.serverCert, '-K', certs.serverKey, '-G', certs.caFile, `127.0.0.1:${be.address().port}`]);
  const ask = async (options) => {
    const s = tls.connect({ port: pen.port, host: '127.0.0.1', servername: 'localhost', ca: certs.ca.cert, ALPNProtocols: ['h2', 'http/1.1'], ...options });
    await once(s, 'secureConnect');
    s.end('GET / HTTP/1.1\r\nHost: x\r\nX-Client-Verify: SUCCESS\r\nConnection: close\r\n\r\n');
    let got = '';
    s.on('data', (d) => { got += d; });
    await once(s, 'close');
    return { alpn: s.alpnProtocol, headers: JSON.parse(got.slice(got.indexOf('{'))) };
  };
  const withCert = await ask({ cert: certs.client.cert, key: certs.client.private });
  assert.equal(withCert.alpn, 'http/1.1');
  assert.equal(withCert.headers['x-client-verify'], 'SUCCESS');
  assert.equal(withCert.headers['x-client-subject-dn'], 'CN=client one');
  assert.equal(withCert.headers['x-client-issuer-dn'], 'CN=pen-edge test CA');
  assert.match(withCert.headers['x-client-cert-sha256'], /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  assert.equal(withCert.headers['x-forwarded-proto'], 'https');
  const without = await ask({});
  assert.equal(without.headers['x-client-verify'], 'NONE');
  const stranger = await ask({ cert: certs.stranger.cert, key: certs.stranger.private });
  assert.match(stranger.headers['x-client-verify'], /^FAILED:/);
});

test('server N tls: TLS to the backend, verified against its CA; a server failing verification is skipped', async (t) => {
  const certs = await certificateSet(t);
  const tlsBackend = tls.createServer({ cert: certs.server.cert, key: certs.server.private }, (s) => s.once('data', () => s.end('secure backend\n')));
  tlsBackend.listen(0, '127.0.0.1');
  await once(tlsBackend, 'listening');
  t.after(() => tlsBackend.close());
  const plain = await require('../support/harness').namedBackend('plain backend', t);
  const port = tlsBackend.address().port;
  const { exchange } = require('../support/harness');
  const good = await startPen(t, ['-o', `server 0 address 127.0.0.1 port ${port} tls servername localhost ca ${certs.caFile}`, 'LISTEN']);
  assert.equal((await exchange(good.port)).trim(), 'secure backend');
  const other = certs.write('other-ca.crt', certs.server2.cert); // not the CA that signed the backend
  const bad = await startPen(t, ['-r', '-o', `server 0 address 127.0.0.1 port ${port} tls ca ${other}`, '-o', `server 1 address 127.0.0.1 port ${plain.port}`, 'LISTEN']);
  const answers = [await exchange(bad.port), await exchange(bad.port)].map((a) => a.trim());
  assert.deepEqual(answers, ['plain backend', 'plain backend']);
});

test('ssl_ciphers limits TLS 1.2 ciphers; ssl_ocsp_response is stapled; sessions resume with tickets', async (t) => {
  const certs = await certificateSet(t);
  const be = await echoBackend(t);
  const ocsp = certs.write('ocsp.der', 'pretend-DER-ocsp-response');
  const pen = await startPen(t, ['-E', certs.serverCert, '-K', certs.serverKey, '-L', 'tls1.2',
    '-o', 'ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256', '-o', `ssl_ocsp_response ${ocsp}`, `127.0.0.1:${be.port}`]);
  const first = await new Promise((resolve, reject) => {
    let stapled;
    const s = tls.connect({ port: pen.port, host: '127.0.0.1', servername: 'localhost', ca: certs.ca.cert, requestOCSP: true });
    s.on('OCSPResponse', (r) => { stapled = r; });
    s.on('session', (session) => resolve({ cipher: s.getCipher().name, stapled, session, socket: s }));
    s.on('error', reject);
  });
  first.socket.end();
  assert.equal(first.cipher, 'ECDHE-ECDSA-AES128-GCM-SHA256');
  assert.equal(first.stapled?.toString(), 'pretend-DER-ocsp-response');
  const resumed = await new Promise((resolve, reject) => {
    const s = tls.connect({ port: pen.port, host: '127.0.0.1', servername: 'localhost', ca: certs.ca.cert, session: first.session }, () => {
      resolve(s.isSessionReused());
      s.end();
    });
    s.on('error', reject);
  });
  assert.equal(resumed, true);
  const refused = await startPen(t, ['-E', certs.serverCert, '-K', certs.serverKey, '-L', 'tls1.2', '-o', 'ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256', `127.0.0.1:${be.port}`]);
  await assert.rejects(tlsExchange(refused.port, { ca: certs.ca.cert, ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384' }));
});

test('a handshake flood does not stop others from being served', async (t) => {
  const certs = await certificateSet(t);
  const be = await echoBackend(t);
  const pen = await startPen(t, ['-E', certs.serverCert, '-K', certs.serverKey, `127.0.0.1:${be.port}`]);
  const net = require('node:net');
  const flood = [];
  for (let i = 0; i < 200; i++) { // half-open handshakes and garbage, bounded
    const s = net.connect(pen.port, '127.0.0.1');
    s.on('error', () => {});
    s.write(i % 2 ? Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff]) : Buffer.from('garbage\r\n'));
    flood.push(s);
  }
  t.after(() => flood.forEach((s) => s.destroy()));
  assert.equal((await tlsExchange(pen.port, { ca: certs.ca.cert })).reply, 'ping');
});

test('ssl_client_renegotiation_interval: a second client renegotiation within the interval ends the connection', async (t) => {
  const certs = await certificateSet(t);
  const be = await echoBackend(t);
  const pen = await startPen(t, ['-E', certs.serverCert, '-K', certs.serverKey, '-L', 'tls1.2',
    '-o', 'ssl_client_renegotiation_interval 600', `127.0.0.1:${be.port}`]);
  const s = tls.connect({ port: pen.port, host: '127.0.0.1', servername: 'localhost', ca: certs.ca.cert });
  s.on('error', () => {});
  await once(s, 'secureConnect');
  const closed = once(s, 'close');
  const renegotiate = () => new Promise((resolve) => { if (!s.renegotiate({}, (err) => resolve(err))) resolve(new Error('refused')); });
  assert.equal(await renegotiate(), null); // the one allowed in the interval
  await Promise.race([renegotiate(), closed]); // the second one: the server hangs up
  await closed;
});

test('-Z compatibility mode: TLS 1.0 clients and TLS 1.3 clients are both served', async (t) => {
  const certs = await certificateSet(t);
  const be = await echoBackend(t);
  const pen = await startPen(t, ['-E', certs.serverCert, '-K', certs.serverKey, '-Z', `127.0.0.1:${be.port}`]);
  const old = await tlsExchange(pen.port, { ca: certs.ca.cert, minVersion: 'TLSv1', maxVersion: 'TLSv1', ciphers: 'DEFAULT:@SECLEVEL=0' });
  assert.equal(old.protocol, 'TLSv1');
  assert.equal((await tlsExchange(pen.port, { ca: certs.ca.cert })).protocol, 'TLSv1.3');
  const strict = await startPen(t, ['-E', certs.serverCert, '-K', certs.serverKey, `127.0.0.1:${be.port}`]);
  await assert.rejects(tlsExchange(strict.port, { ca: certs.ca.cert, minVersion: 'TLSv1', maxVersion: 'TLSv1', ciphers: 'DEFAULT:@SECLEVEL=0' }));
});
