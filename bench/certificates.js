'use strict';
// Throwaway self-signed certificates for the TLS scenarios, made once per run in the temp dir.

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

// Returns the file names (haproxy wants cert and key in one file), or a string saying why there are none.
function makeCertificate(openssl, dir) {
  if (!openssl) return 'openssl not found';
  const [cert, key, combined] = ['cert.pem', 'key.pem', 'combined.pem'].map((f) => path.join(dir, f));
  const r = spawnSync(openssl, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-days', '2', '-subj', '/CN=localhost', '-keyout', key, '-out', cert], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) return `openssl failed: ${(r.error?.message ?? r.stderr).trim()}`;
  fs.writeFileSync(combined, fs.readFileSync(cert, 'utf8') + fs.readFileSync(key, 'utf8'));
  return { cert, key, combined };
}

module.exports = { makeCertificate };
