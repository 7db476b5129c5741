// Opening a listening socket on [host:]port, [v6]:port or a unix socket path.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';
import { parseListenAddress } from '../config/address';
import { SystemError } from '../errors';
import { SocketEndpoint, type Endpoint } from '../pipelines/endpoint';
import { HandleEndpoint, handlesUsable, internalBinding, type ListeningHandle } from '../pipelines/handle-endpoint';
import { debug } from '../reports/diag';

export interface ListenOptions {
  /** pen's -q */
  backlog: number;
  /** every worker thread binds its own socket at the address (SO_REUSEPORT) and the kernel spreads clients */
  reusePort: boolean;
  /** a descriptor of a unix socket already listening at the address, shared by the worker threads */
  fd?: number;
}

/** Binds an already created server (plain or TLS) where address says. */
export async function bind(server: Server, address: string, what: string, { backlog, reusePort, fd }: ListenOptions): Promise<Server> {
  const where = parseListenAddress(address, what);
  if (fd !== undefined) {
    await new Promise<void>((resolve) => server.listen({ fd, backlog }, resolve));
    return server;
  }
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
  // the copies stop with the server, not a turn later at its 'close': a client that came in between would be reset
  const closeServer = server.close.bind(server);
  server.close = (done?: (err?: Error) => void) => {
    open = false;
    for (const copy of copies) copy.close();
    copies.length = 0;
    return closeServer(done);
  };
  await copyHandle(handle, EXTRA_ACCEPTORS, (copy) => {
    const accept = handle.onconnection;
    copy.onconnection = (status, client) => accept.call(handle, status, client); // net's finds its server through `this`
    if (open && copy.listen(backlog) === 0) copies.push(copy);
    else copy.close();
  });
}

/** A handle received from a helper process: a descriptor of its own. */
interface ReceivedHandle extends AcceptingHandle {
  fd: number;
}

/** Hands n copies of handle to onCopy, each on a new descriptor; fewer (or none) when the helper fails or is slow. */
async function copyHandle(handle: object, n: number, onCopy: (copy: ReceivedHandle) => void): Promise<void> {
  let copier: ChildProcess;
  try {
    copier = spawn(process.execPath, ['-e', COPIER], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'], env: {} });
  } catch {
    return;
  }
  copier.on('message', (_: unknown, copy: ReceivedHandle | undefined) => {
    if (copy !== undefined) onCopy(copy);
  });
  copier.send(n, handle as unknown as Server, () => {}); // a raw handle goes as one
  await helperDone(copier);
}

function helperDone(helper: ChildProcess): Promise<void> {
  return new Promise<void>((resolve) => {
    const giveUp = setTimeout(() => helper.kill(), COPIES_WAIT_MS);
    const done = () => {
      clearTimeout(giveUp);
      resolve();
    };
    helper.once('error', done);
    helper.once('close', done);
  });
}

// A helper process binds the unix socket and sets it listening, then sends it back and exits
// without closing it (closing would remove the file): so no thread of ours polls the original.
const BINDER = "const s = require('net').createServer(); s.on('error', (e) => process.send({ error: e.code || e.message }, () => process.exit(1))); " +
  's.listen({ path: process.argv[1], backlog: Number(process.argv[2]) }, () => process.send({}, s._handle, () => process.exit(0)));';

/** Copies of a held socket made in advance, for workers that replace dead ones (see HeldSocket.reserve). */
const SPARE_COPIES = 8;

/**
 * A listening socket the main thread holds by a descriptor no event loop polls, for worker
 * threads to listen on copies of. Copies come from a helper process (Node has no dup()), which a
 * process whose user -u changed may not be allowed to start: so a few are made at start.
 */
abstract class HeldSocket {
  private readonly spares: number[] = [];

  protected constructor(private readonly held: { close(): void }, private readonly what: string) {}

  /** Makes `workers` copies for the workers about to start and SPARE_COPIES for their replacements. */
  async reserve(workers: number): Promise<void> {
    await copyHandle(this.held, workers + SPARE_COPIES, (copy) => this.spares.push(copy.fd));
  }

  /** A new descriptor of the socket, for one worker to listen on (the worker closes it). */
  async copy(): Promise<number> {
    const spare = this.spares.shift();
    if (spare !== undefined) return spare;
    let fd: number | undefined;
    await copyHandle(this.held, 1, (copy) => (fd = copy.fd));
    if (fd === undefined) throw new SystemError(`listen ${this.what}: could not copy the listening socket for a worker`);
    return fd;
  }

  close(): void {
    for (const fd of this.spares.splice(0)) closeSync(fd);
    this.held.close();
  }
}

/**
 * A unix socket that worker threads serve together (SO_REUSEPORT is for TCP and UDP only): one
 * listening socket, held here; each worker listens on a copy, and whichever is free accepts.
 */
export class SharedUnixSocket extends HeldSocket {
  private constructor(private readonly path: string, held: ReceivedHandle) {
    super(held, path);
  }

  static async bind(path: string, backlog: number): Promise<SharedUnixSocket> {
    try {
      unlinkSync(path); // pen removes a stale socket file before binding
    } catch { /* nothing to remove */ }
    const binder = spawn(process.execPath, ['-e', BINDER, path, String(backlog)], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'], env: {} });
    let held: ReceivedHandle | undefined;
    let error = 'the helper process that binds it failed';
    binder.on('message', (m: { error?: string }, handle: ReceivedHandle | undefined) => {
      held = handle;
      if (m.error) error = m.error;
    });
    await helperDone(binder);
    if (held === undefined) throw new SystemError(`listen ${path}: can't bind local address (${error})`);
    return new SharedUnixSocket(path, held);
  }

  /** Closes the socket and removes its file. */
  override close(): void {
    super.close();
    try {
      unlinkSync(this.path);
    } catch { /* already gone */ }
  }
}

/** Node's TCP handle as a listening socket is made of: bound, not polled by any event loop. */
interface TcpServerHandle {
  readonly fd: number;
  bind(host: string, port: number, flags: number): number;
  bind6(host: string, port: number, flags: number): number;
  open(fd: number): number;
  close(): void;
}

interface TcpWrap {
  TCP: new (type: number) => TcpServerHandle;
  constants: { SERVER: number; UV_TCP_IPV6ONLY: number; UV_TCP_REUSEPORT?: number };
}

/** Node's TCP binding, where it has what a held socket is made with. */
function tcpWrap(): TcpWrap | undefined {
  const wrap = internalBinding<TcpWrap>('tcp_wrap');
  return wrap?.TCP === undefined || wrap.constants === undefined ? undefined : (wrap as TcpWrap);
}

/**
 * The TCP socket one worker thread listens on (SO_REUSEPORT), held here, in the main thread, by a
 * descriptor no event loop polls: the worker listens on a copy. When it dies the socket stays,
 * with the clients waiting in its queue, and the worker that replaces it listens on a new copy:
 * it binds nothing, which SO_REUSEPORT would refuse once -u has changed the user (a socket joins
 * a port's group only beside sockets of its own user).
 */
export class HeldTcpSocket extends HeldSocket {
  private constructor(handle: TcpServerHandle, address: string) {
    super(handle, address);
  }

  /** Binds a socket at address for one more worker; undefined where Node's handles cannot (then the worker binds its own). */
  static bind(address: string): HeldTcpSocket | undefined {
    const wrap = tcpWrap();
    const reusePort = wrap?.constants.UV_TCP_REUSEPORT;
    if (wrap === undefined || reusePort === undefined) return undefined;
    const where = parseListenAddress(address, 'listen');
    const handle = new wrap.TCP(wrap.constants.SERVER);
    const err = where.family === 6
      ? handle.bind6(where.host, where.port, reusePort | wrap.constants.UV_TCP_IPV6ONLY)
      : handle.bind(where.host, where.port, reusePort);
    if (err !== 0) {
      handle.close();
      throw new SystemError(`listen ${address}: can't bind local address (${getSystemErrorName(err)})`);
    }
    return new HeldTcpSocket(handle, address);
  }

  /** Holds a socket handed over by the process before (USR2), listening already. */
  static adopt(fd: number): HeldTcpSocket | undefined {
    const wrap = tcpWrap();
    if (wrap === undefined) return undefined;
    const handle = new wrap.TCP(wrap.constants.SERVER);
    if (handle.open(fd) !== 0) return undefined;
    return new HeldTcpSocket(handle, `descriptor ${fd}`);
  }
}
