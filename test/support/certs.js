'use strict';
// Certificates made at test time: a CA, server and client certificates signed by it, and broken files.
const fs = require('node:fs');
const path = require('node:path');
const os = require('node:os');
const { generate } = require('selfsigned');

const EC = { keyType: 'ec', algorithm: 'sha256' };
const days = (n) => new Date(Date.now() + n * 86400000);

async function makeCa(name) {
  return generate([{ name: 'commonName', value: name }], {
    ...EC, notAfterDate: days(30), extensions: [{ name: 'basicConstraints', cA: true }, { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true }],
  });
}

/** An RSA-2048 server certificate, self-signed: selfsigned signs only with a CA key of the leaf's type. */
async function makeRsa(name) {
  return generate([{ name: 'commonName', value: name }], {
    keyType: 'rsa', keySize: 2048, algorithm: 'sha256', notAfterDate: days(30),
    extensions: [{ name: 'basicConstraints', cA: false }, { name: 'subjectAltName', altNames: [{ type: 2, value: name }] }],
  });
}

async function makeLeaf(name, ca, { client = false, notBefore, notAfter = days(30), altNames } = {}) {
  return generate([{ name: 'commonName', value: name }], {
    ...EC, ca: { key: ca.private, cert: ca.cert }, notBeforeDate: notBefore, notAfterDate: notAfter,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'extKeyUsage', serverAuth: !client, clientAuth: client },
      ...(client ? [] : [{ name: 'subjectAltName', altNames: altNames ?? [{ type: 2, value: name }, { type: 7, ip: '127.0.0.1' }] }]),
    ],
  });
}

/** Writes a full set into a fresh temp directory and returns the paths and PEMs. */
async function certificateSet(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pen-tls-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const ca = await makeCa('pen-edge test CA');
  const otherCa = await makeCa('someone else');
  const [server, server2, client, stranger, expired] = await Promise.all([
    makeLeaf('localhost', ca),
    makeLeaf('localhost', ca),
    makeLeaf('client one', ca, { client: true }),
    makeLeaf('stranger', otherCa, { client: true }),
    makeLeaf('localhost', ca, { notBefore: days(-20), notAfter: days(-10) }),
  ]);
  const write = (name, text) => { const f = path.join(dir, name); fs.writeFileSync(f, text); return f; };
  return {
    dir,
    ca, client, stranger, server, server2,
    caFile: write('ca.crt', ca.cert),
    serverCert: write('server.crt', server.cert),
    serverKey: write('server.key', server.private),
    server2Cert: write('server2.crt', server2.cert),
    server2Key: write('server2.key', server2.private),
    combined: write('combined.pem', `${server.cert}\n${server.private}`),
    expiredCert: write('expired.crt', expired.cert),
    expiredKey: write('expired.key', expired.private),
    garbage: write('garbage.crt', '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n'),
    makeLeaf: (name, opts) => makeLeaf(name, ca, opts),
    /** A directory for ssl_sni_path with NAME.crt and NAME.key for each name, signed by the CA. */
    async sniDirectory(...names) {
      const sni = path.join(dir, 'sni');
      fs.mkdirSync(sni);
      for (const name of names) {
        const leaf = await makeLeaf(name, ca, { altNames: [{ type: 2, value: name }] });
        fs.writeFileSync(path.join(sni, `${name}.crt`), leaf.cert);
        fs.writeFileSync(path.join(sni, `${name}.key`), leaf.private);
      }
      return sni;
    },
    makeRsa,
    write,
  };
}

module.exports = { certificateSet };
