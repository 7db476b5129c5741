// The health checks' HTTP connections to the servers: one undici pool per server, of one
// connection kept open between checks.
import type * as Undici from 'undici';
import type { Pool } from 'undici';
import { PerServer } from '../balancer/per-server';
import type { Server } from '../balancer/server-table';
import type { Settings } from '../config/settings';

/** A pool of one connection to server: TCP, TLS verified against the server's CA, or a unix socket. */
function checkPool(server: Server, settings: Settings): Pool {
  const host = server.family === 6 ? `[${server.host}]` : server.host;
  const origin = server.family === 0 ? 'http://localhost' : `${server.tls ? 'https' : 'http'}://${host}:${server.port}`;
  const tls = server.tls ? { ca: server.tls.ca, servername: server.tls.servername } : {};
  const socketPath = server.family === 0 ? server.host : undefined;
  // loaded by the first check: a balancer without health checks does not pay for it at start
  const { Pool, buildConnector } = require('undici') as typeof Undici;
  return new Pool(origin, {
    connections: 1,
    localAddress: settings.source,
    headersTimeout: settings.httpAnswerTimeout * 1000,
    bodyTimeout: settings.idleTimeout * 1000,
    // built for each connect, so that the connect timeout is the -t of the moment (`timeout N`)
    connect: (connectOptions, callback) => buildConnector({ ...tls, socketPath, timeout: settings.timeout * 1000, noDelay: true })(connectOptions, callback),
  });
}

/** The checks' pools, one per server; a replaced pool closes once its requests finish. */
export function checkPools(settings: Settings): PerServer<Pool> {
  return new PerServer((server) => checkPool(server, settings), (old) => void old.close());
}
