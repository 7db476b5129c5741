// Where ACME keeps its files: the account key and, per set of domains, the certificate chain and
// its key (keys mode 0600), reused across restarts; and the HTTP-01 answers while an order runs.
import { X509Certificate, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TlsFiles } from '../listeners/tls';

export interface IssuedCertificate {
  files: TlsFiles;
  leaf: X509Certificate;
}

/** Writes through a temporary file, so a reader never sees half a file. */
function writeWhole(file: string, data: string | Buffer, mode: number): void {
  writeFileSync(`${file}.tmp`, data, { mode });
  chmodSync(`${file}.tmp`, mode); // the umask may have taken bits away
  renameSync(`${file}.tmp`, file);
}

/** The folder under the store where HTTP-01 answers are kept, for a plain HTTP pen-edge to serve (acme_http01_dir). */
export const HTTP01_FOLDER = 'http-01';

export class AcmeStore {
  constructor(readonly dir: string) {}

  /** An HTTP-01 answer: the key authorization for token, readable by the pen-edge that serves it. */
  putHttp01Answer(token: string, keyAuthorization: string): void {
    const folder = join(this.dir, HTTP01_FOLDER);
    mkdirSync(folder, { recursive: true, mode: 0o755 });
    writeWhole(join(folder, token), keyAuthorization, 0o644);
  }

  removeHttp01Answer(token: string): void {
    rmSync(join(this.dir, HTTP01_FOLDER, token), { force: true });
  }

  /** The ACME account's key (ECDSA P-256), made on first use. */
  async accountKey(): Promise<Buffer> {
    const file = join(this.dir, 'account.key');
    if (existsSync(file)) return readFileSync(file);
    const key = Buffer.from(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeWhole(file, key, 0o600);
    return key;
  }

  /** Where the certificate for these domains is kept: named by the first. */
  files(domains: string[]): TlsFiles {
    const base = join(this.dir, domains[0]!.replace(/[^A-Za-z0-9._-]/g, '-'));
    return { certFile: `${base}.crt`, keyFile: `${base}.key` };
  }

  /** The kept certificate, when there is one that names every domain, has not expired and matches its key. */
  issued(domains: string[]): IssuedCertificate | undefined {
    const files = this.files(domains);
    if (!existsSync(files.certFile) || !existsSync(files.keyFile)) return undefined;
    try {
      const leaf = new X509Certificate(readFileSync(files.certFile));
      const covers = domains.every((d) => leaf.checkHost(d) !== undefined);
      const usable = covers && Date.parse(leaf.validTo) > Date.now() && leaf.checkPrivateKey(createPrivateKey(readFileSync(files.keyFile)));
      return usable ? { files, leaf } : undefined;
    } catch {
      return undefined; // unreadable: a new one is asked for
    }
  }

  /** Keeps a new certificate chain and its key; the key first, and each file whole. */
  save(domains: string[], key: Buffer, chain: string): IssuedCertificate {
    const files = this.files(domains);
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeWhole(files.keyFile, key, 0o600);
    writeWhole(files.certFile, chain, 0o644);
    return { files, leaf: new X509Certificate(chain) };
  }
}
