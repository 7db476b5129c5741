// The TLS front end: terminates TLS (node:tls, OpenSSL) and hands the clear-text socket on.
// Certificates, keys, CA files and the SNI directory are re-read on reload; open connections stay.
// A plain listener accepts each connection (reading a trusted peer's PROXY header first) and
// hands it to the TLS server.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { Server, Socket } from 'node:net';
import { join } from 'node:path';
import tls = require('node:tls'); // the module object itself: its renegotiation limits are settable properties
import { peerAddress } from '../config/address';
import type { TlsSettings } from '../config/settings';
import { ConfigError, messageOf } from '../errors';
import { diag } from '../reports/diag';
import { listen } from './listen';
import { readProxyHeaderFromSocket } from './read-ahead';
import type { ProxiedAddress } from '../pipelines/proxy-protocol';
import { buildTlsOptions, loadKeyPair } from './tls-options';

const TICKET_KEY_ROTATION_MS = 6 * 3600 * 1000;

export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

export class TlsFrontEnd {
  /** the plain listening socket; TLS starts on each connection it accepts */
  listener: Server | undefined;
  private sniCache = new Map<string, tls.SecureContext | null>();
  private ocsp: Buffer | undefined;
  private readonly rotation: NodeJS.Timeout;

  private constructor(private readonly server: tls.Server, private readonly settings: TlsSettings, private readonly files: TlsFiles) {
    this.rotation = setInterval(() => server.setTicketKeys(randomBytes(48)), TICKET_KEY_ROTATION_MS).unref();
    server.on('tlsClientError', (err, socket) => {
      diag(`TLS handshake with ${socket.remoteAddress ?? 'unix client'} failed: ${err.message}`);
    });
    server.on('OCSPRequest', (_cert: Buffer, _issuer: Buffer, done: (err: Error | null, resp?: Buffer) => void) => done(null, this.ocsp));
  }

  /**
   * Listens at address. A peer `trustsProxyHeader` names starts with a PROXY header, read from
   * the plain connection before the handshake; the client it names goes to onSocket with the socket.
   */
  static async open(address: string, backlog: number, settings: TlsSettings, files: TlsFiles, http: boolean,
    onSocket: (s: Socket, origin?: ProxiedAddress) => void, trustsProxyHeader: (peer: string) => boolean): Promise<TlsFrontEnd> {
    const options = buildTlsOptions(settings, files.certFile, files.keyFile);
    const origins = new Map<string, ProxiedAddress>(); // by the peer's address and port
    const peerKey = (s: Socket) => `${s.remoteAddress} ${s.remotePort}`;
    let front: TlsFrontEnd | undefined;
    const server = tls.createServer({
      ...options,
      allowHalfOpen: true,
      ALPNProtocols: http ? ['http/1.1'] : undefined, // advertised only when we speak HTTP to the client
      SNICallback: (name, done) => done(null, front?.sniContext(name)),
    }, (s) => {
      const origin = origins.get(peerKey(s));
      origins.delete(peerKey(s));
      onSocket(s, origin);
    });
    front = new TlsFrontEnd(server, settings, files);
    front.loadExtras();
    front.listener = await listen(address, 'listen', backlog, (raw) => {
      const peer = peerAddress(raw);
      if (raw.remoteAddress === undefined || !trustsProxyHeader(peer)) {
        server.emit('connection', raw);
        return;
      }
      readProxyHeaderFromSocket(raw, peer, (header) => {
        const key = peerKey(raw);
        origins.set(key, header);
        raw.once('close', () => origins.delete(key)); // a failed handshake never reaches onSocket
        server.emit('connection', raw);
      });
    });
    return front;
  }

  /** Re-reads every file; on any error the running configuration stays and the error is returned. */
  reload(): string | undefined {
    try {
      const options = buildTlsOptions(this.settings, this.files.certFile, this.files.keyFile);
      this.loadExtras();
      this.server.setSecureContext(options);
      this.sniCache = new Map();
      return undefined;
    } catch (err) {
      return messageOf(err);
    }
  }

  private loadExtras(): void {
    const s = this.settings;
    if (s.ocspResponse) {
      try {
        this.ocsp = readFileSync(s.ocspResponse);
      } catch (err) {
        throw new ConfigError(`ssl_ocsp_response ${s.ocspResponse}: cannot read (${(err as NodeJS.ErrnoException).code ?? err})`);
      }
    }
    if (s.renegotiationInterval > 0) {
      // Node counts client renegotiations per window; TLS 1.3 has none
      const limits = tls as { -readonly [K in 'CLIENT_RENEG_WINDOW' | 'CLIENT_RENEG_LIMIT']: number };
      limits.CLIENT_RENEG_WINDOW = s.renegotiationInterval;
      limits.CLIENT_RENEG_LIMIT = 1;
    }
  }

  /** ssl_sni_path DIR: DIR/NAME.crt and DIR/NAME.key (and DIR/NAME.ca), loaded on first use. */
  private sniContext(name: string): tls.SecureContext | undefined {
    const dir = this.settings.sniPath;
    if (!dir || !/^[A-Za-z0-9.-]+$/.test(name) || name.includes('..')) return undefined;
    if (!this.sniCache.has(name)) {
      const crt = join(dir, `${name}.crt`);
      let context: tls.SecureContext | null = null;
      if (existsSync(crt)) {
        try {
          const { cert, key } = loadKeyPair(crt, join(dir, `${name}.key`));
          const caFile = join(dir, `${name}.ca`);
          context = tls.createSecureContext({ cert, key, ca: existsSync(caFile) ? readFileSync(caFile) : undefined });
        } catch (err) {
          diag(`ssl_sni_path: ${messageOf(err)}`);
        }
      }
      this.sniCache.set(name, context);
    }
    return this.sniCache.get(name) ?? undefined;
  }

  close(): void {
    clearInterval(this.rotation);
    this.listener?.close();
  }
}
