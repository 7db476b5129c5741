// HTTP/2 clients. A TLS connection that chose h2 (ALPN, with -H) is one client of the balancer:
// it holds one server, chosen and counted as for any connection, and moves to the next candidate
// when that server fails. Its requests go to the server as HTTP/1.1 (h2-exchange.ts). nghttp2 (in
// Node) finds CONTINUATION and SETTINGS/PING floods; the close codes, rapid reset, the stream and
// header limits and the timeouts are this module's.
import http2, { constants, type Http2Session, type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { Balancer } from '../balancer/balancer';
import type { Connection, ConnectionTable } from '../balancer/connection-table';
import type { PerServer } from '../balancer/per-server';
import type { Server } from '../balancer/server-table';
import { unmappedAddress } from '../config/address';
import type { Settings } from '../config/settings';
import { debug, diag } from '../reports/diag';
import type { Exchange } from './http-exchanges';
import type { Forwarding } from './http';
import { H2Exchange, type H2Connection } from './h2-exchange';
import { usualAdditions } from './h2-headers';
import { useStreamTable } from './h2-stream-table';
import { proxyHeader } from './proxy-protocol';
import { ServerPool } from './server-pool';

/** What the forwarder tells about one HTTP/2 client. */
export interface H2Client {
  conn: Connection;
  candidates: Server[];
  forwarding: Forwarding;
  /** a request arrived (counted; pen's log line) */
  onRequest: (server: Server | undefined, method: string, path: string) => void;
  onExchange: ((exchange: Exchange) => void) | undefined;
}

const nothing = () => {};

export class Http2Front {
  private server: http2.Http2Server | undefined;
  /** the client whose connection is being handed to the server (its session is made at once) */
  private arriving: ServedConnection | undefined;
  /** the limits the server was made with (`http2_max_streams` and `http_header_max` may change) */
  private limits = { streams: 0, headers: 0 };

  constructor(private readonly settings: Settings, private readonly balancer: Balancer, private readonly connections: ConnectionTable,
    private readonly pools: PerServer<ServerPool>) {}

  /** Serves the client's TLS connection over HTTP/2. */
  serve(client: H2Client, now: number): void {
    this.arriving = new ServedConnection(client, this.settings, this.balancer, this.connections, this.pools, now);
    this.current().emit('connection', client.conn.down.tls!);
    this.arriving = undefined;
  }

  /** The server, made again when a limit changed: Node applies them as a session starts. */
  private current(): http2.Http2Server {
    const s = this.settings;
    if (this.server && this.limits.streams === s.http2MaxStreams && this.limits.headers === s.httpHeadMax) return this.server;
    this.limits = { streams: s.http2MaxStreams, headers: s.httpHeadMax };
    this.server = http2.createServer({
      maxHeaderListPairs: 256,
      settings: { maxConcurrentStreams: s.http2MaxStreams, maxHeaderListSize: s.httpHeadMax, enablePush: false },
    });
    this.server.on('session', (session: ServerHttp2Session) => this.arriving!.start(session));
    return this.server;
  }
}

/** A header list's size as SETTINGS_MAX_HEADER_LIST_SIZE counts it (RFC 9113 6.5.2): names and values, and 32 per field. */
function headerListSize(raw: string[]): number {
  let size = 0;
  for (const part of raw) size += part.length + 16;
  return size;
}

/** nghttp2's errors that mean the client floods the balancer: NGHTTP2_ERR_FLOODED (SETTINGS and PING answers piling up), _TOO_MANY_CONTINUATIONS */
const FLOODS = new Set([-904, -905]);

type OnGoaway = (code: 'ENHANCE_YOUR_CALM' | 'PROTOCOL_ERROR', why: string) => void;

/**
 * Node closes a session with INTERNAL_ERROR whatever nghttp2 found wrong; the client is told
 * instead that it sent too much (ENHANCE_YOUR_CALM) or broke the protocol (PROTOCOL_ERROR).
 */
function closeWithTheRightCode(session: ServerHttp2Session, onGoaway: OnGoaway): void {
  const destroy = session.destroy.bind(session);
  session.destroy = (error?: Error & { errno?: number }, code?: number) => {
    if (code === undefined && error?.errno !== undefined) {
      const flood = FLOODS.has(error.errno);
      code = flood ? constants.NGHTTP2_ENHANCE_YOUR_CALM : constants.NGHTTP2_PROTOCOL_ERROR;
      onGoaway(flood ? 'ENHANCE_YOUR_CALM' : 'PROTOCOL_ERROR', error.message);
    }
    return destroy(error, code);
  };
}

/**
 * Rapid reset (CVE-2023-44487): a client that resets more streams before their answers than it
 * may have open at once, within RESET_WINDOW_MS, makes the balancer work for nothing; it is sent
 * GOAWAY ENHANCE_YOUR_CALM and closed.
 */
const RESET_WINDOW_MS = 10_000;

class ResetCounter {
  private since = 0;
  private resets = 0;

  constructor(private readonly allowed: number, private readonly onGoaway: OnGoaway) {}

  count(session: Http2Session): void {
    const now = performance.now();
    if (now - this.since > RESET_WINDOW_MS) {
      this.since = now;
      this.resets = 0;
    }
    if (++this.resets <= this.allowed || session.destroyed) return;
    this.onGoaway('ENHANCE_YOUR_CALM', `more than ${this.allowed} streams reset before their answers within ${RESET_WINDOW_MS / 1000} s (rapid reset)`);
    session.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM);
    session.destroy();
  }
}

/** One HTTP/2 client's connection: its session, its server, and its requests. */
class ServedConnection implements H2Connection {
  server: Server | undefined;
  failure = 503;
  readonly forwarding: Forwarding;
  readonly usualHeaders: string;
  readonly bodyTimeoutMs: number;
  readonly onExchange: ((exchange: Exchange) => void) | undefined;
  private readonly resets: ResetCounter;
  private session: ServerHttp2Session | undefined;
  /** connections to servers that take a PROXY header: this client's own, named in it */
  private readonly ownPools = new Map<Server, ServerPool>();

  constructor(private readonly client: H2Client, private readonly settings: Settings, private readonly balancer: Balancer,
    private readonly connections: ConnectionTable, private readonly pools: PerServer<ServerPool>, now: number) {
    this.forwarding = client.forwarding;
    this.usualHeaders = usualAdditions(client.forwarding);
    this.bodyTimeoutMs = settings.httpHeadTimeout * 1000;
    this.onExchange = client.onExchange;
    this.resets = new ResetCounter(settings.http2MaxStreams, this.goingAway);
    this.choose(0, now);
  }

  /**
   * The first candidate from `from` on that can take the client; the connection counts against it,
   * and the client is remembered there at once: a browser's other connections, opened at the same
   * time, then go to the same server.
   */
  private choose(from: number, now: number): void {
    const { candidates, conn } = this.client;
    this.server = candidates.slice(from).find((server) => this.balancer.canTry(server, conn.client, now));
    conn.server = this.server;
    if (!this.server) return;
    this.connections.connected(conn, this.server);
    this.balancer.remember(this.server, conn.client);
  }

  start(session: ServerHttp2Session): void {
    this.session = session;
    useStreamTable(session);
    const { conn } = this.client;
    const s = this.settings;
    conn.http = { finish: () => session.close() };
    // a client that opens no stream is closed as one that sends no HTTP/1.1 request head; later, idle_timeout applies
    session.setTimeout(s.httpHeadTimeout * 1000, () => session.close());
    session.once('stream', () => session.setTimeout(s.idleTimeout * 1000));
    session.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, raw: string[]) => this.request(stream, headers, flags, raw));
    closeWithTheRightCode(session, this.goingAway);
    // a client that ends its side, with GOAWAY or without, opens no more streams: those under way
    // finish (it may still read), then the connection closes; its socket is half-open, as the
    // relay's are, and would otherwise wait for idle_timeout
    conn.down.tls!.once('end', () => session.close());
    session.on('error', (err: Error) => debug(1, () => `HTTP/2 connection from ${conn.seen}: ${err.message}`));
    session.on('frameError', (type: number, code: number) => debug(1, () => `HTTP/2 frame ${type} from ${conn.seen} failed (${code})`));
    session.once('close', () => {
      for (const pool of this.ownPools.values()) pool.close();
    });
  }

  private request(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, raw: string[]): void {
    stream.on('error', nothing); // a reset from the client; the exchange sees the stream close
    const ended = (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    this.client.onRequest(this.server, headers[':method'] ?? '-', headers[':path'] ?? '-');
    const exchange = new H2Exchange(this, stream, headers, ended);
    // the size is announced in SETTINGS, but nghttp2 does not hold clients to it: 431, as over HTTP/1.1
    if (headerListSize(raw) > this.settings.httpHeadMax) return exchange.refuse(431, 'request headers over http_header_max');
    exchange.send();
  }

  private readonly goingAway: OnGoaway = (code, why) => diag(`HTTP/2 connection from ${this.client.conn.seen} closed with ${code}: ${why}`);

  pool(server: Server): ServerPool {
    if (!server.proxyProtocol) return this.pools.for(server);
    let pool = this.ownPools.get(server);
    if (!pool) {
      const { conn } = this.client;
      const local = conn.down.local();
      const header = proxyHeader(server.proxyProtocol, conn.client.address, conn.port, unmappedAddress(local.address), local.port);
      pool = new ServerPool(server, this.settings, header);
      this.ownPools.set(server, pool);
    }
    return pool;
  }

  failed(server: Server, why: string, status: number): void {
    if (server !== this.server) return; // an earlier request already moved the connection on
    debug(1, () => `blacklisting server ${server.index} because of ${why}`);
    const now = Math.floor(Date.now() / 1000);
    this.balancer.servers.blacklist(server, now);
    this.failure = status === 504 ? 504 : 503;
    const { candidates } = this.client;
    this.choose(this.settings.stubborn ? candidates.length : candidates.indexOf(server) + 1, now);
  }

  sent(server: Server, bytes: number): void {
    this.balancer.servers.addSent(server, bytes);
    this.balancer.clients.addReceived(this.client.conn.client, bytes);
    this.client.conn.bytesIn += bytes;
  }

  received(server: Server, bytes: number): void {
    this.balancer.servers.addReceived(server, bytes);
    this.balancer.clients.addSent(this.client.conn.client, bytes);
    this.client.conn.bytesOut += bytes;
  }

  aborted(): void {
    if (this.session) this.resets.count(this.session);
  }

  refused(status: number, reason: string): void {
    this.balancer.traffic.httpError(status);
    diag(`HTTP ${status} to ${this.client.conn.seen}: ${reason}`);
  }
}
