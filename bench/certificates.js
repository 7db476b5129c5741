'use strict';
// Throwaway self-signed certificates for the TLS scenarios, made once per run in the temp dir.

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

// The key types a scenario's `tls` can name, as `openssl req -newkey` arguments.
const KEYS = {
  'p-256': ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'],
  'rsa-2048': ['-newkey', 'rsa:2048'],
};

// Returns the file names (haproxy wants cert and key in one file), or a string saying why there are none.
function makeCertificate(openssl, dir, kind) {
  if (!openssl) return 'openssl not found';
  const [cert, key, combined] = ['cert.pem', 'key.pem', 'combined.pem'].map((f) => path.join(dir, `${kind}-${f}`));
  const r = spawnSync(openssl, ['req', '-x509', ...KEYS[kind], '-nodes',
    '-days', '2', '-subj', '/CN=localhost', '-keyout', key, '-out', cert], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) return `openssl failed: ${(r.error?.message ?? r.stderr).trim()}`;
  fs.writeFileSync(combined, fs.readFileSync(cert, 'utf8') + fs.readFileSync(key, 'utf8'));
  return { cert, key, combined };
}

module.exports = { makeCertificate };
