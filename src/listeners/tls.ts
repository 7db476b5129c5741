// The TLS front end: terminates TLS (node:tls, OpenSSL) and hands the clear-text socket on.
// Certificates, keys, CA files and the SNI directory are re-read on reload; open connections stay.
// Sessions kept for resumption and the ticket keys live in a TlsSessionStore (tls-sessions.ts).
// A plain listener accepts each connection (reading a trusted peer's PROXY header first) and
// hands it to the TLS server.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { Server, Socket } from 'node:net';
import { join } from 'node:path';
import tls = require('node:tls'); // the module object itself: its renegotiation limits are settable properties
import type { TrafficCounters } from '../balancer/traffic-counters';
import { peerAddress } from '../config/address';
import type { TlsSettings } from '../config/settings';
import { ConfigError, messageOf } from '../errors';
import { diag } from '../reports/diag';
import { listenForSockets, type ListenOptions } from './listen';
import { readClientHelloFromSocket, readProxyHeaderFromSocket } from './read-ahead';
import type { ProxiedAddress } from '../pipelines/proxy-protocol';
import { buildTlsOptions, loadKeyPair } from './tls-options';
import { resumableById, type TlsSessionStore } from './tls-sessions';
import { ACME_TLS_ALPN, NO_CHALLENGES, type AcmeChallenges } from '../acme/challenges';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

type OnSocket = (s: Socket, origin?: ProxiedAddress) => void;

const peerKey = (s: Socket) => `${s.remoteAddress} ${s.remotePort}`;

/**
 * Who a TLS socket's peer is, for diagnostics. After a reset the TLS socket no longer knows; the
 * plain socket under it (`_parent`) remembers the address read when it was accepted.
 */
function clientOf(socket: tls.TLSSocket): string {
  const address = socket.remoteAddress ?? (socket as unknown as { _parent?: Socket })._parent?.remoteAddress;
  return address === undefined ? 'unix client' : peerAddress(address);
}

/** Why a handshake failed, in one line: the client certificate's verification error, else OpenSSL's reason. */
function failureOf(err: Error & { reason?: string }, socket: tls.TLSSocket): string {
  // Node ends a connection whose certificate fails verification without an error of its own: the reason is kept here
  if (socket.authorizationError) return `client certificate rejected (${String(socket.authorizationError)})`;
  return err.reason ?? err.message.trim();
}

export class TlsFrontEnd {
  /** the plain listening socket; TLS starts on each connection it accepts */
  listener: Server | undefined;
  /** rebuilt on every reload: which per-handshake hooks it has is fixed when it is made */
  private server: tls.Server;
  /** ssl_sni_path's certificates by name, all read at start and on every reload */
  private sniContexts = new Map<string, tls.SecureContext>();
  private ocsp: Buffer | undefined;
  private ticketKeys: Buffer | undefined;
  /** PROXY headers read before the handshake, by the peer's address and port */
  private readonly origins = new Map<string, ProxiedAddress>();
  /** ACME TLS-ALPN-01 answers, by domain */
  private challenges = new Map<string, tls.SecureContext>();
  /** while there are any: the server for clients that offer acme-tls/1 (ACME's validators), with an ALPN callback */
  private challengeServer: tls.Server | undefined;
  private challengeGeneration = NO_CHALLENGES.generation;

  /** `tlsSettings` gives the settings as they are now (a worker's are replaced on every change) */
  private constructor(private options: tls.TlsOptions, private readonly tlsSettings: () => TlsSettings, private files: TlsFiles,
    private readonly protocols: () => readonly string[], private readonly sessions: TlsSessionStore, private readonly onSocket: OnSocket,
    private readonly traffic: TrafficCounters) {
    this.loadExtras();
    this.server = this.createServer(options);
    this.sessions.watchTicketKeys((keys) => {
      this.ticketKeys = keys;
      this.server.setTicketKeys(keys);
    });
  }

  /**
   * Listens at address. A peer `trustsProxyHeader` names starts with a PROXY header, read from
   * the plain connection before the handshake; the client it names goes to onSocket with the socket.
   * Handshakes, done and failed, are counted in `traffic`.
   */
  static async open(address: string, listenOptions: ListenOptions, settings: () => TlsSettings, files: TlsFiles, protocols: () => readonly string[],
    sessions: TlsSessionStore, onSocket: OnSocket, trustsProxyHeader: (peer: string) => boolean, hasRoom: () => boolean,
    traffic: TrafficCounters): Promise<TlsFrontEnd> {
    const front = new TlsFrontEnd(buildTlsOptions(settings(), files.certFile, files.keyFile), settings, files, protocols, sessions, onSocket, traffic);
    front.listener = await listenForSockets(address, 'listen', listenOptions, (raw) => {
      if (!hasRoom()) return void raw.destroy(); // no descriptor to spare for a handshake
      const peer = peerAddress(raw.remoteAddress);
      if (raw.remoteAddress === undefined || !trustsProxyHeader(peer)) return front.handshake(raw, peer);
      readProxyHeaderFromSocket(raw, peer, (header) => {
        const key = peerKey(raw);
        front.origins.set(key, header);
        raw.once('close', () => front.origins.delete(key)); // a failed handshake never reaches onSocket
        front.handshake(raw, peer);
      });
    });
    return front;
  }

  private createServer(options: tls.TlsOptions): tls.Server {
    const protocols = this.protocols();
    const server = tls.createServer({
      ...options,
      allowHalfOpen: true,
      ALPNProtocols: protocols.length > 0 ? [...protocols] : undefined, // advertised only when we speak HTTP to the client
      sessionTimeout: this.sessions.lifetime,
      sessionIdContext: sessionContext(options),
      // the SNI callback, like the OCSP listener below, stops every handshake for a call into JavaScript
      SNICallback: this.sniContexts.size > 0 ? (name, done) => done(null, this.sniContext(name)) : undefined,
    }, (s) => this.onSecure(s));
    server.on('tlsClientError', (err, socket) => {
      this.traffic.handshake(false);
      diag(`TLS handshake with ${clientOf(socket)} failed: ${failureOf(err, socket)}`);
    });
    const ocsp = this.ocsp;
    if (ocsp) server.on('OCSPRequest', (_cert: Buffer, _issuer: Buffer, done: (err: Error | null, resp?: Buffer) => void) => done(null, ocsp));
    if (options.minVersion !== 'TLSv1.3') { // TLS 1.3 resumes by ticket only: no calls per handshake for a cache
      server.on('newSession', (id, session, done) => {
        if (resumableById(session)) this.sessions.set(id, session, done);
        else done();
      });
      server.on('resumeSession', (id, done) => this.sessions.get(id, (session) => done(null, session ?? null)));
    }
    if (this.ticketKeys) server.setTicketKeys(this.ticketKeys);
    return server;
  }

  /**
   * Starts TLS on a connection. While ACME validates, a ClientHello that offers acme-tls/1 goes to
   * the server that answers the challenge, every other to the usual one, so that a client whose
   * protocols are not ours still gets no ALPN rather than a refusal (which an ALPN callback gives).
   */
  private handshake(raw: Socket, peer: string): void {
    if (this.challengeServer === undefined) return void this.server.emit('connection', raw);
    readClientHelloFromSocket(raw, peer, (hello) => {
      const validator = hello.includes(ACME_TLS_ALPN, 0, 'latin1');
      (validator ? this.challengeServer ?? this.server : this.server).emit('connection', raw);
    });
  }

  /** Answers ACME challenges with these from now on. */
  setChallenges(challenges: AcmeChallenges): void {
    if (challenges.generation === this.challengeGeneration) return;
    this.challengeGeneration = challenges.generation;
    this.challenges = new Map(Object.entries(challenges.tlsAlpn).map(([domain, pair]) => [domain, tls.createSecureContext(pair)]));
    this.challengeServer = this.challenges.size > 0 ? this.createChallengeServer() : undefined;
  }

  /**
   * The server for ACME's validators: a client offering acme-tls/1 for a domain with a pending
   * challenge gets that challenge's certificate, and its connection ends after the handshake.
   */
  private createChallengeServer(): tls.Server {
    const challenges = this.challenges;
    return tls.createServer({
      ...this.options,
      // Node calls it with the handshaking socket as `this`, whose certificate can still be changed
      ALPNCallback(this: tls.TLSSocket, { servername, protocols }) {
        const answer = protocols.includes(ACME_TLS_ALPN) ? challenges.get(servername) : undefined;
        if (answer === undefined) return undefined; // no challenge of ours: refused
        this.setKeyCert(answer);
        return ACME_TLS_ALPN;
      },
    }, (s) => s.destroy());
  }

  private onSecure(s: tls.TLSSocket): void {
    this.traffic.handshake(true);
    if (this.origins.size === 0) return this.onSocket(s); // no PROXY header pending: no key to build
    const key = peerKey(s);
    const origin = this.origins.get(key);
    this.origins.delete(key);
    this.onSocket(s, origin);
  }

  /**
   * Re-reads every file (`files`: a new certificate to serve, from ACME); on any error the running
   * configuration stays and the error is returned.
   */
  reload(files = this.files): string | undefined {
    try {
      const options = buildTlsOptions(this.tlsSettings(), files.certFile, files.keyFile);
      this.loadExtras();
      this.options = options;
      this.files = files;
      this.server = this.createServer(options);
      return undefined;
    } catch (err) {
      return messageOf(err);
    }
  }

  /** The OCSP response and the SNI certificates, read whole: one that cannot be read throws, and nothing changes. */
  private loadExtras(): void {
    const s = this.tlsSettings();
    const sniContexts = s.sniPath ? loadSniDirectory(s.sniPath) : new Map<string, tls.SecureContext>();
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
    this.sniContexts = sniContexts;
  }

  /** The certificate for a client's SNI name, matched as host names are: in any case, with or without a final dot. */
  private sniContext(name: string): tls.SecureContext | undefined {
    return this.sniContexts.get(name.toLowerCase().replace(/\.$/, ''));
  }

  close(): void {
    this.listener?.close();
  }
}

/**
 * ssl_sni_path DIR: DIR/NAME.crt with DIR/NAME.key (and DIR/NAME.ca) for each NAME, by NAME in
 * lower case; a pair that cannot be read or does not match throws, naming its file.
 */
function loadSniDirectory(dir: string): Map<string, tls.SecureContext> {
  const contexts = new Map<string, tls.SecureContext>();
  let files: string[];
  try {
    files = readdirSync(dir);
  } catch (err) {
    throw new ConfigError(`ssl_sni_path ${dir}: cannot read (${(err as NodeJS.ErrnoException).code ?? err})`);
  }
  for (const file of files) {
    if (!file.endsWith('.crt')) continue;
    const name = file.slice(0, -'.crt'.length);
    const { cert, key } = loadKeyPair(join(dir, file), join(dir, `${name}.key`));
    const caFile = join(dir, `${name}.ca`);
    contexts.set(name.toLowerCase(), tls.createSecureContext({ cert, key, ca: existsSync(caFile) ? readFileSync(caFile) : undefined }));
  }
  return contexts;
}

/**
 * The session ID context: the same in every worker thread, so that a session made by one resumes
 * in another (Node derives its own from argv), and different for every client-certificate policy,
 * so that a session made before a reload changed the CAs or -R does not resume after it.
 */
function sessionContext(options: tls.TlsOptions): string {
  const policy = createHash('sha256').update(`pen-edge ${options.requestCert} ${options.rejectUnauthorized}`);
  for (const ca of [options.ca ?? []].flat()) policy.update(ca);
  return policy.digest('hex').slice(0, 32); // OpenSSL takes at most 32 bytes
}
