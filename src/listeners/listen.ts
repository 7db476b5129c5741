// Opening a listening socket on [host:]port, [v6]:port or a unix socket path.
import { spawn, type ChildProcess } from 'node:child_process';
import { unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { parseListenAddress } from '../config/address';
import { SystemError } from '../errors';
import { SocketEndpoint, type Endpoint } from '../pipelines/endpoint';
import { HandleEndpoint, handlesUsable, type ListeningHandle } from '../pipelines/handle-endpoint';
import { debug } from '../reports/diag';

export interface ListenOptions {
  /** pen's -q */
  backlog: number;
  /** every worker thread binds its own socket at the address (SO_REUSEPORT) and the kernel spreads clients */
  reusePort: boolean;
}

/** Binds an already created server (plain or TLS) where address says. */
export async function bind(server: Server, address: string, what: string, { backlog, reusePort }: ListenOptions): Promise<Server> {
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
    else server.listen({ host: where.host, port: where.port, backlog, ipv6Only: where.family === 6, ...(reusePort && { reusePort }) }, done);
  }).catch((err: NodeJS.ErrnoException) => {
    throw new SystemError(`${what} ${address}: can't bind local address (${err.code ?? err.message})`);
  });
  return server;
}

/** A listener whose connections come as net.Sockets (TLS, the control port). */
export function listen(address: string, what: string, options: ListenOptions, onSocket: (s: Socket) => void): Promise<Server> {
  const server = createServer({ pauseOnConnect: true, noDelay: true, allowHalfOpen: true }, onSocket);
  return bind(server, address, what, options);
}

/** A listener for clients as net.Sockets (the TLS front end), accepting through several descriptors. */
export async function listenForSockets(address: string, what: string, options: ListenOptions, onSocket: (s: Socket) => void): Promise<Server> {
  const server = await listen(address, what, options, onSocket);
  await addAcceptors(server, handleOf(server), options.backlog);
  return server;
}

/** A listener for plain clients: accepted as bare handles where they can be, else as sockets. */
export async function listenForClients(address: string, what: string, options: ListenOptions, onClient: (client: Endpoint) => void): Promise<Server> {
  const server = await listen(address, what, options, (socket) => onClient(new SocketEndpoint(socket)));
  const handle = handleOf(server);
  if (handlesUsable) {
    handle.onconnection = (status, client) => {
      if (status < 0 || client === undefined) debug(1, () => `accept failed (${status})`); // EMFILE and such: the client waits in the backlog
      else onClient(HandleEndpoint.accepted(client));
    };
  }
  await addAcceptors(server, handle, options.backlog);
  return server;
}

function handleOf(server: Server): AcceptingHandle {
  return (server as unknown as { _handle: AcceptingHandle })._handle;
}

/** A listening handle as Node's tcp_wrap and pipe_wrap make it. */
interface AcceptingHandle extends ListeningHandle {
  listen(backlog: number): number;
  close(): void;
}

// libuv (1.45 on) accepts one connection per listening handle per turn of the event loop. With
// hundreds of busy connections a turn takes milliseconds, so a crowd of new clients waits in the
// backlog for seconds and overflows it (the kernel then drops handshakes, resent after a timeout).
// More handles on copies of the listening socket's descriptor accept one each per turn.
const EXTRA_ACCEPTORS = 31;
const COPIES_WAIT_MS = 5000;
// Node has no dup(): a helper process gets the listening handle over IPC and sends it back, each
// time as a new descriptor (SCM_RIGHTS), then leaves.
const COPIER = "process.on('message', (n, h) => { for (let i = 0; i < n; i++) process.send(i, h); process.disconnect(); });";

/** Has EXTRA_ACCEPTORS copies of the listening socket accept too, until the server closes; with
 *  fewer (or none) when the helper fails or is slow. */
async function addAcceptors(server: Server, handle: AcceptingHandle, backlog: number): Promise<void> {
  const copies: AcceptingHandle[] = [];
  let open = true;
  server.once('close', () => {
    open = false;
    for (const copy of copies) copy.close();
  });
  let copier: ChildProcess;
  try {
    copier = spawn(process.execPath, ['-e', COPIER], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'], env: {} });
  } catch {
    return; // no copies: the one handle accepts alone
  }
  copier.on('message', (_: unknown, copy: AcceptingHandle | undefined) => {
    if (copy === undefined) return;
    const accept = handle.onconnection;
    copy.onconnection = (status, client) => accept.call(handle, status, client); // net's finds its server through `this`
    if (open && copy.listen(backlog) === 0) copies.push(copy);
    else copy.close();
  });
  copier.send(EXTRA_ACCEPTORS, handle as unknown as Server, () => {}); // a raw handle goes as one
  await new Promise<void>((resolve) => {
    const giveUp = setTimeout(() => copier.kill(), COPIES_WAIT_MS);
    const done = () => {
      clearTimeout(giveUp);
      resolve();
    };
    copier.once('error', done);
    copier.once('close', done);
  });
}
