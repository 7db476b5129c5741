// TLS with no files: a self-signed certificate for the given host names, made once with
// `selfsigned` into certs/ and reused on every later start.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import type * as Selfsigned from 'selfsigned';
import type { TlsFiles } from './tls';

export const CERTS_DIR = join(__dirname, '..', '..', 'certs');

export async function defaultCertificate(hosts: string[], dir = CERTS_DIR): Promise<TlsFiles & { fingerprint: string; created: boolean }> {
  const base = join(dir, `auto-${hosts.join('_').replace(/[^A-Za-z0-9._-]/g, '-')}`);
  const certFile = `${base}.crt`;
  const keyFile = `${base}.key`;
  const created = !(existsSync(certFile) && existsSync(keyFile));
  if (created) {
    const notAfter = new Date();
    notAfter.setFullYear(notAfter.getFullYear() + 2);
    // loaded only to make one (once per machine): every later start reads the files
    const { generate } = require('selfsigned') as typeof Selfsigned;
    const pems = await generate([{ name: 'commonName', value: hosts[0]! }], {
      keyType: 'ec',
      algorithm: 'sha256',
      notAfterDate: notAfter,
      extensions: [
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
        { name: 'extKeyUsage', serverAuth: true },
        { name: 'subjectAltName', altNames: hosts.map((h) => (isIP(h) ? { type: 7, ip: h } : { type: 2, value: h })) },
      ],
    });
    mkdirSync(dir, { recursive: true });
    writeFileSync(keyFile, pems.private, { mode: 0o600 });
    chmodSync(keyFile, 0o600);
    writeFileSync(certFile, pems.cert);
  }
  const fingerprint = new X509Certificate(readFileSync(certFile)).fingerprint256;
  return { certFile, keyFile, fingerprint, created };
}
