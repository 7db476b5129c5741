// UDP mode (-U): each client address and port is a session with one chosen server; datagrams go
// to it from a socket of their own, replies come back to the client from the listening socket.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import type { Balancer } from '../balancer/balancer';
import type { Client } from '../balancer/client-table';
import type { Server } from '../balancer/server-table';
import { parseListenAddress, unmappedAddress } from '../config/address';
import type { Settings } from '../config/settings';
import { SystemError } from '../errors';
import { debug } from '../reports/diag';

const DEFAULT_IDLE_S = 60; // a UDP session with no traffic this long is forgotten (idle_timeout overrides)

interface Session {
  up: Socket;
  server: Server;
  client: Client;
  lastSeen: number;
  /** datagrams that arrived before the server socket finished connecting */
  queued: Buffer[] | undefined;
}

export class UdpListener {
  private readonly sessions = new Map<string, Session>();
  private readonly sweeper: NodeJS.Timeout;

  private constructor(private readonly socket: Socket, private readonly balancer: Balancer, private readonly settings: Settings) {
    socket.on('message', (msg, from) => this.fromClient(msg, from));
    this.sweeper = setInterval(() => this.expire(), 1000).unref();
  }

  /** reusePort: every worker thread binds its own socket, and the kernel keeps each client with one of them */
  static async open(address: string, balancer: Balancer, settings: Settings, reusePort: boolean): Promise<UdpListener> {
    const where = parseListenAddress(address, 'listen', 'udp');
    if (where.family === 0) throw new SystemError(`listen ${address}: UDP mode needs [host:]port, not a unix socket`);
    const type: 'udp4' | 'udp6' = where.family === 6 ? 'udp6' : 'udp4';
    const socket = createSocket(reusePort ? { type, reusePort } as Parameters<typeof createSocket>[0] : { type });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(where.port, where.host, () => { socket.off('error', reject); resolve(); });
    }).catch((err: NodeJS.ErrnoException) => {
      throw new SystemError(`listen ${address}: can't bind local address (${err.code ?? err.message})`);
    });
    return new UdpListener(socket, balancer, settings);
  }

  private fromClient(msg: Buffer, from: RemoteInfo): void {
    const key = `${from.address}|${from.port}`;
    const now = Math.floor(Date.now() / 1000);
    const session = this.sessions.get(key) ?? this.open(key, from, now);
    if (!session) return;
    session.lastSeen = now;
    this.balancer.servers.addSent(session.server, msg.length);
    this.balancer.clients.addReceived(session.client, msg.length);
    if (session.queued) session.queued.push(msg);
    else session.up.send(msg);
  }

  /** A new session: the balancer's first server that can take the client. */
  private open(key: string, from: RemoteInfo, now: number): Session | undefined {
    const address = unmappedAddress(from.address);
    const { client, candidates } = this.balancer.route(address, from.port, now);
    const server = candidates.find((s) => s.family !== 0 && this.balancer.canTry(s, client, now));
    if (!server) {
      debug(1, () => `UDP: no server for ${address}, datagram dropped`);
      return undefined;
    }
    const up = createSocket({ type: server.family === 6 ? 'udp6' : 'udp4' });
    const session: Session = { up, server, client, lastSeen: now, queued: [] };
    up.connect(server.port, server.host, () => {
      for (const msg of session.queued ?? []) up.send(msg);
      session.queued = undefined;
    });
    up.on('message', (reply) => {
      session.lastSeen = Math.floor(Date.now() / 1000);
      this.balancer.servers.addReceived(server, reply.length);
      this.balancer.clients.addSent(client, reply.length);
      this.socket.send(reply, from.port, from.address);
    });
    up.on('error', (err: NodeJS.ErrnoException) => {
      debug(1, () => `UDP: server ${server.index} failed (${err.code ?? err.message}), blacklisted`);
      this.balancer.servers.blacklist(server, Math.floor(Date.now() / 1000));
      this.close(key, session);
    });
    this.balancer.servers.openSession(server);
    this.balancer.traffic.connection(client.country);
    this.balancer.remember(server, client);
    this.sessions.set(key, session);
    return session;
  }

  private close(key: string, session: Session): void {
    if (this.sessions.get(key) !== session) return;
    this.sessions.delete(key);
    this.balancer.servers.closeSession(session.server);
    session.up.close();
  }

  private expire(): void {
    const limit = this.settings.idleTimeout || DEFAULT_IDLE_S;
    const now = Math.floor(Date.now() / 1000);
    for (const [key, s] of this.sessions) if (now - s.lastSeen >= limit) this.close(key, s);
  }

  shutdown(): void {
    clearInterval(this.sweeper);
    for (const [key, s] of this.sessions) this.close(key, s);
    this.socket.close();
  }
}
