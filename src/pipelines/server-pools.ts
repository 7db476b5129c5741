// HTTP/1.1 connections to the servers kept open between requests (undici pools): the health
// checks' and those of HTTP/2 clients, whose requests are sent to the servers one by one.
import { Pool, buildConnector } from 'undici';
import type { Server } from '../balancer/server-table';
import type { Settings } from '../config/settings';

export interface PoolOptions {
  /** connections kept to the server at most; undefined = the server's own limit (max, else hard), or as many as requests need */
  connections?: number;
  /** written first on every connection (a PROXY header naming the client) */
  proxyHeader?: Buffer;
}

/** A pool of connections to server: TCP, TLS verified against the server's CA, or a unix socket. */
export function serverPool(server: Server, settings: Settings, options: PoolOptions = {}): Pool {
  const host = server.family === 6 ? `[${server.host}]` : server.host;
  const origin = server.family === 0 ? 'http://localhost' : `${server.tls ? 'https' : 'http'}://${host}:${server.port}`;
  const tls = server.tls ? { ca: server.tls.ca, servername: server.tls.servername } : {};
  const socketPath = server.family === 0 ? server.host : undefined;
  const header = options.proxyHeader;
  return new Pool(origin, {
    connections: options.connections ?? (server.maxc || server.hard || null),
    localAddress: settings.source,
    headersTimeout: settings.httpAnswerTimeout * 1000,
    bodyTimeout: settings.idleTimeout * 1000,
    // built for each connect, so that the connect timeout is the -t of the moment (`timeout N`)
    connect: (connectOptions, callback) => buildConnector({ ...tls, socketPath, timeout: settings.timeout * 1000, noDelay: true })(
      connectOptions, header === undefined ? callback : (err, socket) => {
        if (err) return callback(err, null);
        socket!.write(header);
        callback(null, socket!);
      }),
  });
}

/** What a pool connects to and how many connections it may hold: a change to any of it needs a new pool. */
type Target = Pick<Server, 'host' | 'port' | 'maxc' | 'hard' | 'tls'>;

/** Whether server is still the target a pool was made for (by value: worker threads get servers as copies). */
const isTarget = (target: Target, server: Server) => target.host === server.host && target.port === server.port &&
  target.maxc === server.maxc && target.hard === server.hard && (target.tls === undefined) === (server.tls === undefined) &&
  target.tls?.servername === server.tls?.servername && target.tls?.caFile === server.tls?.caFile;

/** One pool per server, made on first use, made again when the server's address or limits change. */
export class ServerPools {
  private readonly pools = new Map<number, { target: Target; pool: Pool }>();

  constructor(private readonly settings: Settings, private readonly options: PoolOptions = {}) {}

  for(server: Server): Pool {
    const kept = this.pools.get(server.index);
    if (kept && isTarget(kept.target, server)) return kept.pool;
    void kept?.pool.close(); // its requests finish first
    const pool = serverPool(server, this.settings, this.options);
    const { host, port, maxc, hard, tls } = server;
    this.pools.set(server.index, { target: { host, port, maxc, hard, tls }, pool });
    return pool;
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map(({ pool }) => pool.destroy()));
    this.pools.clear();
  }
}
