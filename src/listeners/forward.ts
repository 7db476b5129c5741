// One client connection: client address → ACL → selector → backend connect (timeout, blacklist,
// failover) → raw pipeline. Nothing here chooses a server: the balancer does.
import { isIP } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Balancer } from '../balancer/balancer';
import type { Client } from '../balancer/client-table';
import { serverAddress, type Server } from '../balancer/server-table';
import { peerAddress, unmappedAddress } from '../config/address';
import type { Settings } from '../config/settings';
import { httpPipeline, lastForwardedFor, type Forwarding } from '../pipelines/http';
import { Http2Front } from '../pipelines/h2-front';
import { serverPools } from '../pipelines/server-pool';
import { serverSocket } from '../pipelines/server-socket';
import { errorResponse } from '../pipelines/http-errors';
import { proxyHeader, type ProxiedAddress } from '../pipelines/proxy-protocol';
import { readAhead, readProxyHeader } from './read-ahead';
import { http01Response, http01Token } from '../acme/http01';
import { SocketEndpoint, type Endpoint } from '../pipelines/endpoint';
import { HandleEndpoint, handlesUsable } from '../pipelines/handle-endpoint';
import { relay, type HttpPipeline } from '../pipelines/raw';
import { debug, debugLevel, diag, dump } from '../reports/diag';
import { jsonLine, type RequestSink } from '../reports/request-log';
import type { Connection, ConnectionTable } from '../balancer/connection-table';

const DUMMY_BODY = 'pen-edge dummy target\n';
const DUMMY_REPLY = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${DUMMY_BODY.length}\r\nContent-Type: text/plain\r\n\r\n${DUMMY_BODY}`);

/** `dummy`: pen as a test target — every chunk from the client gets a small HTTP 200, no server is used. */
function answerAsDummy(down: Endpoint): void {
  down.onchunk = () => down.write(DUMMY_REPLY, 0, DUMMY_REPLY.length);
  down.onend = () => down.end();
  down.resume();
}

/** Reads and drops what the client sends, so that closing sends no reset. */
function drain(down: Endpoint): void {
  down.onchunk = () => true;
  down.resume();
}

const nothing = () => {};

/** Whether the client chose HTTP/2 in its TLS handshake. */
const speaksHttp2 = (down: Endpoint) => down.tls?.alpnProtocol === 'h2';

const dn = (name: Record<string, string | string[]> | undefined) =>
  Object.entries(name ?? {}).map(([k, v]) => `${k}=${([] as string[]).concat(v).join('+')}`).join(',').replace(/[^\x20-\x7e]/g, '?');

const NO_CLIENT_CERTIFICATE: Array<[string, string]> = [['X-Client-Verify', 'NONE']];

/** What the TLS handshake proved about the client, as headers for the backend. */
function clientCertificateHeaders(socket: TLSSocket): Array<[string, string]> {
  const cert = socket.getPeerCertificate();
  if (!cert || !cert.raw) return NO_CLIENT_CERTIFICATE;
  return [
    ['X-Client-Verify', socket.authorized ? 'SUCCESS' : `FAILED:${socket.authorizationError}`],
    ['X-Client-Subject-DN', dn(cert.subject as unknown as Record<string, string>)],
    ['X-Client-Issuer-DN', dn(cert.issuer as unknown as Record<string, string>)],
    ['X-Client-Cert-SHA256', cert.fingerprint256],
  ];
}

/** A client waiting for a connection slot (-x): pen stops accepting until one frees. */
interface Waiting {
  down: Endpoint;
  address: string;
  port: number;
  seen: string;
}

export class Forwarder {
  log: RequestSink | undefined;
  /** clients accepted while -x connections were open, served in order as slots free */
  private readonly waiting: Waiting[] = [];
  /** whether admitWaiting is due when the number of connections changes */
  private watching = false;
  /** QUIT came: HTTP connections end between requests */
  private draining = false;
  /** serves HTTP/2 clients; made when the first one comes */
  private h2: Http2Front | undefined;
  /** descriptors clients and their servers may hold (ulimit -n less a reserve); Infinity where unknown */
  descriptorBudget = Infinity;

  constructor(
    private readonly settings: Settings,
    private readonly balancer: Balancer,
    private readonly connections: ConnectionTable,
  ) {}

  /**
   * A new client connection. `origin` is the client a PROXY header named, when the listener read
   * one itself (TLS listeners read it before the handshake).
   */
  readonly accept = (down: Endpoint, origin?: ProxiedAddress): void => {
    if (!this.hasRoom()) {
      debug(1, () => `no descriptors to spare (${this.descriptorBudget} for clients), closing a new client`);
      down.destroy();
      return;
    }
    const { address, port } = down.remote();
    const peer = peerAddress(address);
    if (origin !== undefined) {
      this.admitProxied(down, peer, port, origin);
    } else if (down.tls === undefined && address !== undefined && this.trustsProxyHeader(peer)) {
      readProxyHeader(down, peer, (header) => this.admitProxied(down, peer, port, header));
    } else {
      const trusted = this.settings.trustedProxiesAcl;
      const forwardsFor = trusted !== undefined && this.settings.http && !speaksHttp2(down) && this.balancer.acls.permits(trusted, peer);
      if (forwardsFor || this.answersHttp01(down)) this.readFirstHead(down, peer, port, forwardsFor);
      else this.admit(down, peer, port);
    }
  };

  /** Whether a peer (as peerAddress gives it) must start with a PROXY header (proxy_protocol ACL). */
  readonly trustsProxyHeader = (peer: string): boolean => {
    const acl = this.settings.proxyProtocolAcl;
    return acl !== undefined && this.balancer.acls.permits(acl, peer);
  };

  private admitProxied(down: Endpoint, peer: string, port: number, header: ProxiedAddress): void {
    this.admit(down, header.address ? unmappedAddress(header.address) : peer, header.port ?? port);
  }

  /** Whether a plain HTTP client's first request may be an ACME HTTP-01 validation, answered here (acme_http01_dir). */
  private answersHttp01(down: Endpoint): boolean {
    return this.settings.acmeHttp01Dir !== undefined && this.settings.http && down.tls === undefined;
  }

  /**
   * The first request head, read before the client is admitted: an ACME validation is answered
   * at once; from a trusted proxy (`forwardsFor`: trusted_proxies permits the peer), the real
   * client is the last X-Forwarded-For entry.
   */
  private readFirstHead(down: Endpoint, peer: string, port: number, forwardsFor: boolean): void {
    const limit = this.settings.httpHeadMax;
    readAhead(down, peer, (bytes) => {
      if (bytes.indexOf('\r\n\r\n') >= 0 || bytes.length > limit) return 0; // give everything back
      return undefined;
    }, (bytes) => {
      const head = bytes.toString('latin1', 0, Math.max(0, bytes.indexOf('\r\n\r\n')));
      const token = this.answersHttp01(down) ? http01Token(head) : undefined;
      if (token !== undefined) return this.answerHttp01(down, token);
      if (!forwardsFor) return this.admit(down, peer, port);
      const real = lastForwardedFor(head);
      this.admit(down, real && isIP(real) ? unmappedAddress(real) : peer, port, peer);
    });
  }

  private answerHttp01(down: Endpoint, token: string): void {
    const response = http01Response(this.settings.acmeHttp01Dir!, token);
    debug(1, () => `ACME HTTP-01 validation for token ${token} answered (${response.toString('latin1', 9, 12)})`);
    drain(down);
    down.write(response, 0, response.length);
    down.end();
  }

  /**
   * Whether one more client may be held: every connection holds two descriptors (client and
   * server), every waiting client one, and together they stay within the budget.
   */
  readonly hasRoom = (): boolean => 2 * this.connections.count + this.waiting.length < this.descriptorBudget;

  /** Whether, with `count` connections open and `waiting` clients waiting, one more connection fits (-x and descriptors). */
  private canOpen(count: number, waiting: number): boolean {
    return count < this.connections.max && 2 * (count + 1) + waiting <= this.descriptorBudget;
  }

  /** `address` is the client as routing knows it; `seen` the address added to X-Forwarded-For. */
  private admit(down: Endpoint, address: string, port: number, seen = address): void {
    const count = this.connections.count;
    if (!this.canOpen(count, this.waiting.length)) return this.wait({ down, address, port, seen }, count);
    const now = Math.floor(Date.now() / 1000);
    const route = this.balancer.route(address, port, now);
    if (route.refused && route.candidates.length === 0) {
      debug(1, () => `client ${address} refused by client_acl`);
      return down.destroy();
    }
    const conn = this.connections.open(down, route.client, port, seen);
    if (conn === undefined) return this.wait({ down, address, port, seen }, count); // another thread took the last slot
    this.balancer.traffic.connection(route.client.country);
    this.serve(conn, down, route.candidates, now);
  }

  /**
   * Keeps a client that finds every slot taken (or no descriptors to spare) until one frees, as many
   * as the backlog (-q) holds; `seen` is the number of connections that made it wait.
   */
  private wait(client: Waiting, seen: number): void {
    if (this.waiting.length >= this.settings.listenQueue) {
      debug(1, () => `connection table full (${this.connections.max}) and ${this.waiting.length} clients waiting, closing client ${client.address}`);
      client.down.destroy();
      return;
    }
    debug(1, () => `connection table full (${this.connections.max}), client ${client.address} waits`);
    client.down.onclose = () => this.waiting.splice(this.waiting.indexOf(client), 1);
    this.waiting.push(client);
    this.watchForSlots(seen);
  }

  /**
   * Waiting clients are looked at again once the number of connections is no longer `seen` (at
   * once if it changed meanwhile): when a connection closes (or opens) in any thread.
   */
  private watchForSlots(seen: number): void {
    if (this.watching || this.waiting.length === 0) return;
    this.watching = true;
    this.connections.whenChanged(seen, this.admitWaiting);
  }

  /** A slot may be free: the clients waiting longest go first. */
  private readonly admitWaiting = (): void => {
    this.watching = false;
    let count = this.connections.count;
    while (this.waiting.length > 0 && this.canOpen(count, this.waiting.length - 1)) { // the first waiting client leaves the queue
      const { down, address, port, seen } = this.waiting.shift()!;
      this.admit(down, address, port, seen);
      count = this.connections.count;
    }
    this.watchForSlots(count);
  };

  /** The client has a slot: on to its servers (or the dummy answer). */
  private serve(conn: Connection, down: Endpoint, candidates: Server[], now: number): void {
    down.onclose = () => this.finish(conn); // until the relay takes over
    down.onend = nothing; // a client that half-closes still gets its answer
    if (this.settings.dummy) return answerAsDummy(down);
    if (speaksHttp2(down)) return this.serveHttp2(conn, candidates, now);
    this.tryNext(conn, candidates, 0, now, 503);
  }

  /** An HTTP/2 client: its requests go to its server one by one, over HTTP/1.1. */
  private serveHttp2(conn: Connection, candidates: Server[], now: number): void {
    this.h2 ??= new Http2Front(this.settings, this.balancer, this.connections, serverPools(this.settings));
    const logging = this.log !== undefined && !this.jsonLog;
    this.h2.serve({
      conn, candidates, forwarding: this.forwarding(conn),
      onRequest: (server, method, path) => {
        this.countRequest();
        if (logging) this.log?.write(conn.client.address, server?.host ?? '-', Buffer.from(`${method} ${path} HTTP/2.0`, 'latin1'));
      },
      onExchange: this.jsonLog ? (exchange) => this.log?.line(jsonLine({ ...this.who(conn, conn.server), ...exchange })) : undefined,
    }, now);
    if (this.draining) conn.http?.finish();
  }

  /** Tries candidates from `from`; `failure` is the HTTP status to answer with when none is left. */
  private tryNext(conn: Connection, candidates: Server[], from: number, now: number, failure: number): void {
    const { balancer, settings } = this;
    for (let i = from; i < candidates.length; i++) {
      const server = candidates[i]!;
      if (!balancer.canTry(server, conn.client, now)) continue;
      const fail = (why: string, status: number) => {
        clearTimeout(conn.connectTimer);
        if (conn.up !== up) return; // the client left first: not the server's fault
        up.destroy();
        debug(1, () => `blacklisting server ${server.index} because of ${why}`);
        const later = Math.floor(Date.now() / 1000);
        balancer.servers.blacklist(server, later);
        conn.up = undefined;
        conn.server = undefined;
        if (conn.down.destroyed) return;
        this.tryNext(conn, candidates, settings.stubborn ? candidates.length : i + 1, later, status);
      };
      const up: Endpoint = this.connectTo(server, (error) => {
        if (error !== undefined) return fail(`connect error ${error}`, 502);
        clearTimeout(conn.connectTimer);
        this.established(conn, server);
      });
      conn.up = up;
      conn.server = server;
      conn.connectTimer = setTimeout(() => fail('connect timeout', 504), settings.timeout * 1000);
      return;
    }
    if (settings.http) {
      balancer.traffic.httpError(failure);
      diag(`HTTP ${failure} to ${conn.client.address}: no server could take the request`);
      drain(conn.down);
      const response = errorResponse(failure);
      if (this.jsonLog) this.log!.line(jsonLine({ ...this.who(conn, undefined), method: '-', path: '-', status: failure, bytes: response.length, ms: 0 }));
      conn.down.write(response, 0, response.length);
      conn.down.end();
    } else {
      conn.down.destroy();
    }
  }

  /** Connects to the server (unix, TCP, or TLS verified against the server's CA); `done` gets
   *  undefined once connected, or what went wrong. */
  private connectTo(server: Server, done: (error: string | undefined) => void): Endpoint {
    const s = this.settings;
    if (handlesUsable && !server.tls) {
      return HandleEndpoint.connect(server.host, server.port, server.family, { source: s.source, keepAlive: s.keepalive }, done);
    }
    const socket = serverSocket(server, { source: s.source, allowHalfOpen: true, keepAlive: s.keepalive });
    const connectedEvent = server.tls ? 'secureConnect' : 'connect';
    const onError = (err: NodeJS.ErrnoException) => {
      socket.off(connectedEvent, onConnected);
      done(err.code ?? err.message);
    };
    const onConnected = () => {
      socket.off('error', onError);
      done(undefined);
    };
    socket.once('error', onError);
    socket.once(connectedEvent, onConnected);
    return new SocketEndpoint(socket);
  }

  private established(conn: Connection, server: Server): void {
    const { down, up } = conn as Connection & { up: Endpoint };
    this.connections.connected(conn, server);
    this.balancer.remember(server, conn.client);
    if (server.proxyProtocol) {
      const local = down.local();
      const header = proxyHeader(server.proxyProtocol, conn.client.address, conn.port, unmappedAddress(local.address), local.port);
      up.write(header, 0, header.length);
    }
    conn.http = relay(down, up, { server, client: conn.client, servers: this.balancer.servers, clients: this.balancer.clients, tally: conn }, {
      fastClose: this.settings.tcpFastclose,
      idleMs: this.settings.idleTimeout * 1000,
      onClientChunk: this.chunkObserver(conn.client, server),
      http: this.settings.http ? this.httpPipeline(down, up, conn, server) : undefined,
      onClose: () => this.finish(conn),
    });
    if (this.draining) conn.http?.finish();
  }

  /** QUIT: HTTP connections end between requests from now on; the others run until they end. */
  drain(): void {
    this.draining = true;
    for (const conn of this.connections.mineOpen()) conn.http?.finish();
  }

  /** What the headers added to the connection's requests say. */
  private forwarding(conn: Connection): Forwarding {
    const s = this.settings;
    const tls = conn.down.tls;
    return {
      forwarded: s.forwarded, clientAddress: conn.seen, rfc7239: s.forwardedRfc7239, tlsPort: tls?.localPort,
      // a client is asked for a certificate only with -G or -A: without them there is none to read
      identity: tls === undefined ? [] : s.tls.caFile || s.tls.caDir ? clientCertificateHeaders(tls) : NO_CLIENT_CERTIFICATE,
    };
  }

  private httpPipeline(down: Endpoint, up: Endpoint, conn: Connection, server: Server): HttpPipeline {
    const s = this.settings;
    const seen = conn.seen;
    return httpPipeline(down, up, {
      ...this.forwarding(conn),
      headMax: s.httpHeadMax, lineMax: Math.min(8192, s.httpHeadMax), headTimeoutMs: s.httpHeadTimeout * 1000, answerTimeoutMs: s.httpAnswerTimeout * 1000,
      onExchange: this.jsonLog ? (exchange) => this.log?.line(jsonLine({ ...this.who(conn, server), ...exchange })) : undefined,
      onRequest: this.countRequest,
      onErrorAnswer: (status) => this.balancer.traffic.httpError(status),
    }, (status, reason) => diag(`HTTP ${status} to ${seen}: ${reason}`));
  }

  private readonly countRequest = (): void => this.balancer.traffic.request();

  /** Whether the log takes JSON lines (log_format json) rather than pen's. */
  private get jsonLog(): boolean {
    return this.log !== undefined && this.settings.logFormat === 'json';
  }

  /** Who a JSON log line is about. */
  private who(conn: Connection, server: Server | undefined): { client: string; country: string | null; server: string | null } {
    return { client: conn.seen, country: conn.client.country ?? null, server: server ? serverAddress(server) : null };
  }

  /** pen's log and -ddd dumps of client bytes; undefined (nothing on the hot path) when both are off. */
  private chunkObserver(client: Client, server: Server): ((chunk: Buffer) => void) | undefined {
    const dumping = debugLevel() >= 3;
    const logging = this.log !== undefined && !this.jsonLog;
    if (!logging && !dumping) return undefined;
    const ascii = this.settings.ascii;
    return (chunk) => {
      if (logging) this.log?.write(client.address, server.host, chunk); // the log of the moment: HUP may have reopened it since the connection began
      if (dumping) dump(chunk, ascii);
    };
  }

  private finish(conn: Connection): void {
    if (this.jsonLog && !this.settings.http) { // with -H the log has a line per request instead
      this.log!.line(jsonLine({ ...this.who(conn, conn.server), bytes_in: conn.bytesIn, bytes_out: conn.bytesOut, ms: Date.now() - conn.opened }));
    }
    clearTimeout(conn.connectTimer);
    conn.down.destroy();
    conn.up?.destroy();
    conn.up = undefined;
    this.connections.close(conn);
  }
}
