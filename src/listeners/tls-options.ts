// pen's TLS options (-E -K -G -A -R -L -Z and the ssl_* commands) → node:tls server options.
// Every file is read and checked here, so a bad one is reported by name before anything changes.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { DEFAULT_CIPHERS, createSecureContext, type SecureVersion, type TlsOptions } from 'node:tls';
import type { TlsProtocol, TlsSettings } from '../config/settings';
import { ConfigError } from '../errors';

const VERSIONS: SecureVersion[] = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];

/** -L → the range of versions offered; documented in README ("TLS"). */
const PROTOCOL_RANGE: Record<TlsProtocol, [SecureVersion, SecureVersion]> = {
  ssl23: ['TLSv1.2', 'TLSv1.3'],
  tls1: ['TLSv1', 'TLSv1'],
  'tls1.1': ['TLSv1.1', 'TLSv1.1'],
  'tls1.2': ['TLSv1.2', 'TLSv1.2'],
  'tls1.3': ['TLSv1.3', 'TLSv1.3'],
};

/**
 * Node's default list with its two ECDSA suites moved first: a TLS 1.2 client that can take the
 * RSA and the ECDSA certificate gets the ECDSA one, whose signature costs a fraction of an RSA one.
 */
const ECDSA_FIRST_CIPHERS = `ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:${DEFAULT_CIPHERS}`;

const NO_VERSION: Record<string, SecureVersion> = { no_tlsv1: 'TLSv1', 'no_tlsv1.1': 'TLSv1.1', 'no_tlsv1.2': 'TLSv1.2' };

function readPem(file: string, what: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${what} ${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? err})`);
  }
  if (!text.includes('-----BEGIN ')) throw new ConfigError(`${what} ${file}: not a PEM file`);
  return text;
}

/** Certificates in a PEM text, checked for syntax and expiry. */
const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

function certificates(text: string, file: string, what: string): X509Certificate[] {
  const blocks = text.match(CERTIFICATE_BLOCK) ?? [];
  if (blocks.length === 0) throw new ConfigError(`${what} ${file}: no certificate in it`);
  return blocks.map((pem) => {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(pem);
    } catch {
      throw new ConfigError(`${what} ${file}: malformed certificate`);
    }
    if (Date.parse(cert.validTo) < Date.now()) throw new ConfigError(`${what} ${file}: certificate expired on ${cert.validTo}`);
    return cert;
  });
}

/** A certificate chain and its key, checked to belong together. */
export function loadKeyPair(certFile: string, keyFile: string): { cert: string; key: string; leaf: X509Certificate } {
  const text = readPem(certFile, 'certificate');
  const [leaf] = certificates(text, certFile, 'certificate');
  const cert = text.match(CERTIFICATE_BLOCK)!.join('\n'); // the chain only, whatever else the file holds
  // the key may sit in the certificate file (pen's -K default): take the key block out of the PEM text
  const key = /-----BEGIN ([A-Z ]*)PRIVATE KEY-----[^-]+-----END \1PRIVATE KEY-----/.exec(readPem(keyFile, 'key'))?.[0];
  let privateKey;
  try {
    privateKey = createPrivateKey(key ?? '');
  } catch {
    throw new ConfigError(`key ${keyFile}: no usable private key in it`);
  }
  if (!leaf!.checkPrivateKey(privateKey)) throw new ConfigError(`key ${keyFile}: does not match certificate ${certFile}`);
  return { cert, key: key!, leaf: leaf! };
}

/** The -E chain and the ssl_certificate ones; OpenSSL keeps one per key type, a second would replace the first. */
function loadChains(tls: TlsSettings, certFile: string, keyFile: string): Array<{ cert: string; key: string }> {
  const files = [{ certFile, keyFile }, ...tls.extraCertificates];
  const byKeyType = new Map<string, string>();
  return files.map((f) => {
    const chain = loadKeyPair(f.certFile, f.keyFile);
    const type = chain.leaf.publicKey.asymmetricKeyType ?? 'unknown';
    const other = byKeyType.get(type);
    if (other !== undefined) {
      throw new ConfigError(`ssl_certificate ${f.certFile}: ${other} has a key of the same type (${type}); one certificate per key type is served`);
    }
    byKeyType.set(type, f.certFile);
    return chain;
  });
}

/** CA certificates from -G (a file) and -A (every certificate file in a directory, as OpenSSL's hashed dir). */
function loadCas(tls: TlsSettings): string[] {
  const cas: string[] = [];
  if (tls.caFile) {
    const text = readPem(tls.caFile, 'CA file');
    certificates(text, tls.caFile, 'CA file');
    cas.push(text);
  }
  if (tls.caDir) {
    let names: string[];
    try {
      names = readdirSync(tls.caDir).sort();
    } catch (err) {
      throw new ConfigError(`CA directory ${tls.caDir}: cannot read (${(err as NodeJS.ErrnoException).code ?? err})`);
    }
    for (const name of names) {
      const file = join(tls.caDir, name);
      if (!statSync(file).isFile()) continue;
      const text = readFileSync(file, 'utf8');
      if (!text.includes('-----BEGIN CERTIFICATE-----')) continue; // hashed dirs also hold CRLs and other files
      certificates(text, file, 'CA certificate');
      cas.push(text);
    }
    if (cas.length === 0) throw new ConfigError(`CA directory ${tls.caDir}: no CA certificate in it`);
  }
  return cas;
}

/** The lowest and highest versions left after -L, -Z and `ssl_option no_…`. */
function versionRange(tls: TlsSettings): [SecureVersion, SecureVersion] {
  const [min, max] = tls.compat ? (['TLSv1', 'TLSv1.3'] as const) : PROTOCOL_RANGE[tls.protocol];
  const removed = tls.options.map((o) => NO_VERSION[o]).filter((v) => v !== undefined);
  const allowed = VERSIONS.slice(VERSIONS.indexOf(min), VERSIONS.indexOf(max) + 1).filter((v) => !removed.includes(v));
  if (allowed.length === 0) throw new ConfigError('TLS: the ssl_option settings leave no protocol version to offer');
  return [allowed[0]!, allowed[allowed.length - 1]!];
}

/** Server options for node:tls, every file read and checked now. */
export function buildTlsOptions(tls: TlsSettings, certFile: string, keyFile: string): TlsOptions {
  const chains = loadChains(tls, certFile, keyFile);
  const cas = loadCas(tls);
  const [minVersion, maxVersion] = versionRange(tls);
  // OpenSSL 3 refuses TLS 1.0/1.1 at its default security level: lower it only when they are asked for
  const legacy = minVersion === 'TLSv1' || minVersion === 'TLSv1.1';
  const ciphers = tls.ciphers ?? (legacy ? 'DEFAULT:@SECLEVEL=0' : ECDSA_FIRST_CIPHERS);
  const options: TlsOptions = {
    // OpenSSL picks per client a chain whose key its signature algorithms allow
    cert: chains.map((c) => c.cert), key: chains.map((c) => c.key),
    minVersion, maxVersion, ciphers,
    honorCipherOrder: !tls.options.includes('prefer_client_ciphers'),
    requestCert: cas.length > 0 || tls.requireClientCert,
    rejectUnauthorized: tls.requireClientCert,
    ca: cas.length > 0 ? cas : undefined,
  };
  try {
    createSecureContext(options);
  } catch (err) {
    throw new ConfigError(`TLS: ${(err as Error).message}`);
  }
  return options;
}
