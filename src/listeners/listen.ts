// Opening a listening socket on [host:]port, [v6]:port or a unix socket path.
import { unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { parseListenAddress } from '../config/address';
import { SystemError } from '../errors';

/** Binds an already created server (plain or TLS) where address says. */
export async function bind(server: Server, address: string, what: string, backlog: number): Promise<Server> {
  const where = parseListenAddress(address, what);
  if (where.family === 0) {
    try {
      unlinkSync(where.host); // pen removes a stale socket file before binding
    } catch { /* nothing to remove */ }
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const done = () => { server.off('error', reject); resolve(); };
    if (where.family === 0) server.listen({ path: where.host, backlog }, done);
    else server.listen({ host: where.host, port: where.port, backlog, ipv6Only: where.family === 6 }, done);
  }).catch((err: NodeJS.ErrnoException) => {
    throw new SystemError(`${what} ${address}: can't bind local address (${err.code ?? err.message})`);
  });
  return server;
}

export function listen(address: string, what: string, backlog: number, onSocket: (s: Socket) => void): Promise<Server> {
  const server = createServer({ pauseOnConnect: true, noDelay: true, allowHalfOpen: true }, onSocket);
  return bind(server, address, what, backlog);
}
