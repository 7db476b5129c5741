// One client connection: client address → ACL → selector → backend connect (timeout, blacklist,
// failover) → raw pipeline. Nothing here chooses a server: the balancer does.
import { connect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { Balancer } from '../balancer/balancer';
import type { Client } from '../balancer/client-table';
import type { Server } from '../balancer/server-table';
import { peerAddress, unmappedAddress } from '../config/address';
import type { Settings } from '../config/settings';
import { httpPipeline, lastForwardedFor } from '../pipelines/http';
import { errorResponse } from '../pipelines/http-errors';
import { proxyHeader, type ProxiedAddress } from '../pipelines/proxy-protocol';
import { readAhead, readProxyHeader } from './read-ahead';
import { relayRaw, type HttpPipeline } from '../pipelines/raw';
import { debug, debugLevel, diag, dump } from '../reports/diag';
import type { RequestLog } from '../reports/request-log';
import type { Connection, ConnectionTable } from '../balancer/connection-table';

const DUMMY_BODY = 'pen-edge dummy target\n';
const DUMMY_REPLY = `HTTP/1.1 200 OK\r\nContent-Length: ${DUMMY_BODY.length}\r\nContent-Type: text/plain\r\n\r\n${DUMMY_BODY}`;

/** `dummy`: pen as a test target — every chunk from the client gets a small HTTP 200, no server is used. */
function answerAsDummy(down: Socket): void {
  down.on('data', () => down.write(DUMMY_REPLY));
  down.on('end', () => down.end());
  down.resume();
}

const dn = (name: Record<string, string | string[]> | undefined) =>
  Object.entries(name ?? {}).map(([k, v]) => `${k}=${([] as string[]).concat(v).join('+')}`).join(',').replace(/[^\x20-\x7e]/g, '?');

/** What the TLS handshake proved about the client, as header lines for the backend. */
function clientCertificateHeaders(socket: TLSSocket): string[] {
  const cert = socket.getPeerCertificate();
  if (!cert || !cert.raw) return ['X-Client-Verify: NONE'];
  return [
    `X-Client-Verify: ${socket.authorized ? 'SUCCESS' : `FAILED:${socket.authorizationError}`}`,
    `X-Client-Subject-DN: ${dn(cert.subject as unknown as Record<string, string>)}`,
    `X-Client-Issuer-DN: ${dn(cert.issuer as unknown as Record<string, string>)}`,
    `X-Client-Cert-SHA256: ${cert.fingerprint256}`,
  ];
}

export class Forwarder {
  /** the server chosen last (pen's `current`) */
  current = 0;
  log: RequestLog | undefined;

  constructor(
    private readonly settings: Settings,
    private readonly balancer: Balancer,
    private readonly connections: ConnectionTable,
  ) {}

  /**
   * A new client connection. `origin` is the client a PROXY header named, when the listener read
   * one itself (TLS listeners read it before the handshake).
   */
  readonly accept = (down: Socket, origin?: ProxiedAddress): void => {
    const peer = peerAddress(down);
    const trusted = this.settings.trustedProxiesAcl;
    if (origin !== undefined) {
      this.admitProxied(down, peer, origin);
    } else if (!(down as TLSSocket).encrypted && down.remoteAddress !== undefined && this.trustsProxyHeader(peer)) {
      readProxyHeader(down, peer, (header) => this.admitProxied(down, peer, header));
    } else if (trusted !== undefined && this.settings.http && this.balancer.acls.permits(trusted, peer)) {
      this.readForwardedFor(down, peer);
    } else {
      this.admit(down, peer, down.remotePort ?? 0);
    }
  };

  /** Whether a peer (as peerAddress gives it) must start with a PROXY header (proxy_protocol ACL). */
  readonly trustsProxyHeader = (peer: string): boolean => {
    const acl = this.settings.proxyProtocolAcl;
    return acl !== undefined && this.balancer.acls.permits(acl, peer);
  };

  private admitProxied(down: Socket, peer: string, header: ProxiedAddress): void {
    this.admit(down, header.address ? unmappedAddress(header.address) : peer, header.port ?? down.remotePort ?? 0);
  }

  /** trusted_proxies: the real client is the last X-Forwarded-For entry of the first request. */
  private readForwardedFor(down: Socket, peer: string): void {
    const limit = this.settings.httpHeadMax;
    readAhead(down, peer, (bytes) => {
      if (bytes.indexOf('\r\n\r\n') >= 0 || bytes.length > limit) return 0; // give everything back
      return undefined;
    }, (bytes) => {
      const head = bytes.toString('latin1', 0, Math.max(0, bytes.indexOf('\r\n\r\n')));
      const real = lastForwardedFor(head);
      this.admit(down, real && isIP(real) ? unmappedAddress(real) : peer, down.remotePort ?? 0, peer);
    });
  }

  /** `address` is the client as routing knows it; `seen` the address added to X-Forwarded-For. */
  private admit(down: Socket, address: string, port: number, seen = address): void {
    const now = Math.floor(Date.now() / 1000);
    const route = this.balancer.route(address, port, now);
    const conn = this.connections.open(down, route.client, port, seen);
    if (conn === undefined) {
      debug(1, () => `connection table full (${this.connections.max}), closing client ${address}`);
      down.destroy();
      return;
    }
    down.on('error', () => {}); // errors end in 'close', handled below
    const abort = () => this.finish(conn);
    down.once('close', abort);
    if (this.settings.dummy) return answerAsDummy(down);
    this.tryNext(conn, route.candidates, 0, now, abort, 503);
  }

  /** Tries candidates from `from`; `failure` is the HTTP status to answer with when none is left. */
  private tryNext(conn: Connection, candidates: Server[], from: number, now: number, abort: () => void, failure: number): void {
    const { balancer, settings } = this;
    for (let i = from; i < candidates.length; i++) {
      const server = candidates[i]!;
      if (!balancer.canTry(server, conn.client, now)) continue;
      const up = this.connectTo(server);
      conn.up = up;
      conn.server = server;
      const connectedEvent = server.tls ? 'secureConnect' : 'connect';
      const onError = (err: NodeJS.ErrnoException) => fail(`connect error ${err.code ?? err.message}`, 502);
      const onConnected = () => {
        clearTimeout(timer);
        up.off('error', onError);
        conn.down.off('close', abort);
        this.established(conn, server);
      };
      const fail = (why: string, status: number) => {
        clearTimeout(timer);
        if (conn.up !== up) return; // the client left first: not the server's fault
        up.off(connectedEvent, onConnected);
        up.off('error', onError);
        up.on('error', () => {}); // late errors of a socket we gave up on
        up.destroy();
        debug(1, () => `blacklisting server ${server.index} because of ${why}`);
        balancer.servers.blacklist(server, Math.floor(Date.now() / 1000));
        conn.up = undefined;
        conn.server = undefined;
        if (conn.down.destroyed) return;
        this.tryNext(conn, candidates, settings.stubborn ? candidates.length : i + 1, Math.floor(Date.now() / 1000), abort, status);
      };
      const timer = setTimeout(() => fail('connect timeout', 504), settings.timeout * 1000);
      up.once('error', onError);
      up.once(connectedEvent, onConnected);
      return;
    }
    if (settings.http) {
      diag(`HTTP ${failure} to ${conn.client.address}: no server could take the request`);
      conn.down.resume(); // read (and drop) the request so closing sends no reset
      conn.down.end(errorResponse(failure));
    } else {
      conn.down.destroy();
    }
  }

  /** A socket to the server: unix, TCP, or TLS verified against the server's CA. */
  private connectTo(server: Server): Socket {
    const s = this.settings;
    if (server.family === 0) return connect({ path: server.host, allowHalfOpen: true });
    const options = { host: server.host, port: server.port, allowHalfOpen: true, noDelay: true, keepAlive: s.keepalive, localAddress: s.source };
    if (!server.tls) return connect(options);
    const servername = server.tls.servername ?? (isIP(server.host) ? undefined : server.host);
    return tlsConnect({ ...options, servername, ca: server.tls.ca, rejectUnauthorized: true });
  }

  private established(conn: Connection, server: Server): void {
    const { down, up } = conn as Connection & { up: Socket };
    this.balancer.connected(server, conn.client);
    conn.counted = true;
    if (server.proxyProtocol) {
      up.write(proxyHeader(server.proxyProtocol, conn.client.address, conn.port, unmappedAddress(down.localAddress ?? '0.0.0.0'), down.localPort ?? 0));
    }
    if (server.index >= 0) this.current = server.index;
    relayRaw(down, up, { server, client: conn.client }, {
      fastClose: this.settings.tcpFastclose,
      idleMs: this.settings.idleTimeout * 1000,
      onClientChunk: this.chunkObserver(conn.client, server),
      http: this.settings.http ? this.httpPipeline(down, up, conn.seen) : undefined,
      onClose: () => this.finish(conn),
    });
  }

  private httpPipeline(down: Socket, up: Socket, seen: string): HttpPipeline {
    const s = this.settings;
    const encrypted = (down as TLSSocket).encrypted === true;
    return httpPipeline(down, up, {
      forwarded: s.forwarded, headMax: s.httpHeadMax, lineMax: Math.min(8192, s.httpHeadMax), headTimeoutMs: s.httpHeadTimeout * 1000,
      clientAddress: seen, rfc7239: s.forwardedRfc7239, tlsPort: encrypted ? down.localPort : undefined,
      identity: encrypted ? clientCertificateHeaders(down as TLSSocket) : [],
    }, (status, reason) => diag(`HTTP ${status} to ${seen}: ${reason}`));
  }

  /** Logging and -ddd dumps of client bytes; undefined (nothing on the hot path) when both are off. */
  private chunkObserver(client: Client, server: Server): ((chunk: Buffer) => void) | undefined {
    const dumping = debugLevel() >= 3;
    if (!this.log && !dumping) return undefined;
    const ascii = this.settings.ascii;
    return (chunk) => {
      this.log?.write(client.address, server.host, chunk);
      if (dumping) dump(chunk, ascii);
    };
  }

  private finish(conn: Connection): void {
    if (conn.counted) {
      conn.server!.c--;
      conn.counted = false;
    }
    conn.up?.destroy();
    conn.up = undefined;
    this.connections.close(conn);
  }
}
