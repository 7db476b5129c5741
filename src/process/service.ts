// What one thread serves: the listener (plain, TLS or UDP) and the forwarder behind it. The main
// thread runs one when it serves alone (workers 1); otherwise each worker thread runs one.
import type { Server as NetServer } from 'node:net';
import type { Balancer } from '../balancer/balancer';
import type { ConnectionTable } from '../balancer/connection-table';
import type { Settings } from '../config/settings';
import { Forwarder } from '../listeners/forward';
import { listenForClients, type ListenOptions } from '../listeners/listen';
import { TlsFrontEnd, type TlsFiles } from '../listeners/tls';
import type { TlsSessionStore } from '../listeners/tls-sessions';
import { NO_CHALLENGES, type AcmeChallenges } from '../acme/challenges';
import { UdpListener } from '../listeners/udp';
import { SocketEndpoint } from '../pipelines/endpoint';
import { diag } from '../reports/diag';
import { descriptorBudget, reservedDescriptors } from './descriptors';

/** What ALPN offers: with -H, h2 (unless `http2 off`, or with `dummy`, which answers HTTP/1.1 only) and http/1.1. */
function alpnProtocols(s: Settings): string[] {
  if (!s.http) return [];
  return s.http2 && !s.dummy ? ['h2', 'http/1.1'] : ['http/1.1'];
}

export class Service {
  readonly forwarder: Forwarder;
  private listener: NetServer | undefined;
  private tls: TlsFrontEnd | undefined;
  private udp: UdpListener | undefined;
  private acmeChallenges = NO_CHALLENGES;

  /** reusePort: other threads serve the same address */
  constructor(private readonly settings: Settings, private readonly balancer: Balancer,
    private readonly connections: ConnectionTable, private readonly sessions: TlsSessionStore, private readonly reusePort: boolean) {
    this.forwarder = new Forwarder(settings, balancer, connections);
  }

  /**
   * Listens where the settings say; tls: the certificate, when clients speak TLS; fd: a unix
   * socket the worker threads share, already listening there.
   */
  async open(tls: TlsFiles | undefined, fd?: number): Promise<void> {
    const s = this.settings;
    if (s.udp) this.udp = await UdpListener.open(s.listen!, this.balancer, s, this.reusePort);
    else this.listener = await this.openListener(s.listen!, tls, fd);
    this.forwarder.descriptorBudget = descriptorBudget(this.connections.count, s.workers);
    const most = Math.floor(this.forwarder.descriptorBudget / 2);
    if (most < s.connMax) {
      diag(`-x ${s.connMax}: ulimit -n leaves descriptors for ${most} connections (two each; ${reservedDescriptors(s.workers)} kept for accepting, the control port, the log and health checks): more clients wait`);
    }
  }

  /** Moves the listener to address; the old one closes once the new one listens. */
  async listen(address: string, tls: TlsFiles | undefined, fd?: number): Promise<void> {
    const old = this.listener;
    if (old === undefined) return;
    this.listener = await this.openListener(address, tls, fd);
    old.close();
  }

  private async openListener(address: string, files: TlsFiles | undefined, fd: number | undefined): Promise<NetServer> {
    const s = this.settings;
    const options: ListenOptions = { backlog: s.listenQueue, reusePort: this.reusePort, fd };
    if (!files) return listenForClients(address, 'listen', options, this.forwarder.accept);
    const front = await TlsFrontEnd.open(address, options, () => this.settings.tls, files, () => alpnProtocols(s), this.sessions,
      (socket, origin) => this.forwarder.accept(new SocketEndpoint(socket), origin), this.forwarder.trustsProxyHeader, this.forwarder.hasRoom,
      this.balancer.traffic);
    front.setChallenges(this.acmeChallenges);
    this.tls?.close();
    this.tls = front;
    return front.listener!;
  }

  /** The listening socket's descriptor, to hand to a successor (USR2); undefined for UDP. */
  get listenerFd(): number | undefined {
    return (this.listener as unknown as { _handle?: { fd: number } } | undefined)?._handle?.fd;
  }

  /** Re-reads certificates and keys (`files`: the certificate to serve); returns what went wrong (and changes nothing) on failure. */
  reloadTls(files?: TlsFiles): string | undefined {
    return this.tls?.reload(files);
  }

  /** ACME challenges are answered with these from now on. */
  answerAcme(challenges: AcmeChallenges): void {
    this.acmeChallenges = challenges;
    this.tls?.setChallenges(challenges);
  }

  closeConnection(id: number): void {
    const c = this.connections.get(id);
    c?.down.destroy();
    c?.up?.destroy();
  }

  /** Takes no new clients (QUIT, an upgrade); UDP has no connections to wait for: it stops. */
  stopAccepting(): void {
    this.listener?.close();
    this.tls?.close();
    this.udp?.shutdown();
  }

  /** QUIT: no new clients; open connections run until they end (HTTP ones: between requests). */
  drain(): void {
    this.stopAccepting();
    this.forwarder.drain();
  }

  /** Stops listening and ends this thread's connections. */
  close(): void {
    this.stopAccepting();
    for (const conn of this.connections.mineOpen()) {
      conn.down.destroy();
      conn.up?.destroy();
    }
  }
}
