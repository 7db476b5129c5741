// Opening a listening socket on [host:]port, [v6]:port or a unix socket path.
import { unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { parseListenAddress } from '../config/address';
import { SystemError } from '../errors';
import { SocketEndpoint, type Endpoint } from '../pipelines/endpoint';
import { HandleEndpoint, handlesUsable, type ListeningHandle } from '../pipelines/handle-endpoint';
import { debug } from '../reports/diag';

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

/** A listener whose connections come as net.Sockets (TLS, the control port). */
export function listen(address: string, what: string, backlog: number, onSocket: (s: Socket) => void): Promise<Server> {
  const server = createServer({ pauseOnConnect: true, noDelay: true, allowHalfOpen: true }, onSocket);
  return bind(server, address, what, backlog);
}

/** A listener for plain clients: accepted as bare handles where they can be, else as sockets. */
export async function listenForClients(address: string, what: string, backlog: number, onClient: (client: Endpoint) => void): Promise<Server> {
  const server = await listen(address, what, backlog, (socket) => onClient(new SocketEndpoint(socket)));
  if (handlesUsable) {
    const handle = (server as unknown as { _handle: ListeningHandle })._handle;
    handle.onconnection = (status, client) => {
      if (status < 0 || client === undefined) debug(1, () => `accept failed (${status})`); // EMFILE and such: the client waits in the backlog
      else onClient(HandleEndpoint.accepted(client));
    };
  }
  return server;
}
