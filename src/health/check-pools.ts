// The health checks' HTTP connections to the servers: one undici pool per server, of one
// connection kept open between checks.
import { Pool, buildConnector } from 'undici';
import type { Server } from '../balancer/server-table';
import type { Settings } from '../config/settings';
import { isTarget, targetOf, type Target } from '../pipelines/server-pool';

/** A pool of one connection to server: TCP, TLS verified against the server's CA, or a unix socket. */
function checkPool(server: Server, settings: Settings): Pool {
  const host = server.family === 6 ? `[${server.host}]` : server.host;
  const origin = server.family === 0 ? 'http://localhost' : `${server.tls ? 'https' : 'http'}://${host}:${server.port}`;
  const tls = server.tls ? { ca: server.tls.ca, servername: server.tls.servername } : {};
  const socketPath = server.family === 0 ? server.host : undefined;
  return new Pool(origin, {
    connections: 1,
    localAddress: settings.source,
    headersTimeout: settings.httpAnswerTimeout * 1000,
    bodyTimeout: settings.idleTimeout * 1000,
    // built for each connect, so that the connect timeout is the -t of the moment (`timeout N`)
    connect: (connectOptions, callback) => buildConnector({ ...tls, socketPath, timeout: settings.timeout * 1000, noDelay: true })(connectOptions, callback),
  });
}

/** One pool per server, made on first use, made again when the server's address or limits change. */
export class CheckPools {
  private readonly pools = new Map<number, { target: Target; pool: Pool }>();

  constructor(private readonly settings: Settings) {}

  for(server: Server): Pool {
    const kept = this.pools.get(server.index);
    if (kept && isTarget(kept.target, server)) return kept.pool;
    void kept?.pool.close(); // its requests finish first
    const pool = checkPool(server, this.settings);
    this.pools.set(server.index, { target: targetOf(server), pool });
    return pool;
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map(({ pool }) => pool.destroy()));
    this.pools.clear();
  }
}
