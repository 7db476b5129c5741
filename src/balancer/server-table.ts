// The server table: the one place that knows each server's address, limits and counters.
import type { Endpoint } from '../config/address';
import type { HealthCheck } from '../health/checker';
import { serverSlot, type Scoreboard } from './scoreboard';

export const NO_SERVER = -1;

/** What the operator set for a server; its live counters are in the scoreboard, at `slot`. */
export interface Server extends Endpoint {
  index: number;
  slot: number;
  /** soft limit on connections for new clients; 0 = none */
  maxc: number;
  /** hard limit for clients returning to this server; 0 = none */
  hard: number;
  weight: number;
  prio: number;
  /** ACL list a client must pass to use this server (0 = permit all by default) */
  acl: number;
  /** active health check (the server is out of rotation while it fails) */
  check?: HealthCheck;
  /** PROXY protocol version to send to this server first (undefined = none) */
  proxyProtocol?: 1 | 2;
  /** countries and continents this server is for (`server N geo …`) */
  geo?: { countries: string[]; continents: string[] };
  /** TLS to this server, verified against ca (default: the system's CAs) */
  tls?: { servername?: string; caFile?: string; ca?: string };
}

export function emptyServer(index: number): Server {
  return {
    index, slot: serverSlot(index), host: '0.0.0.0', port: 0, family: 4, maxc: 0, hard: 0, weight: 0, prio: 0, acl: 0,
  };
}

/** A slot `server N` made without an address: it cannot be chosen. */
export function isEmptySlot(s: Server): boolean {
  return s.family === 4 && s.host === '0.0.0.0';
}

/** Where the server is, as one string: host:port, [v6]:port, or the socket path. */
export function serverAddress(s: Server): string {
  if (s.family === 0) return s.host;
  return s.family === 6 ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`;
}

/** The port as pen reports it (servers, status page, USR1, JSON): 1 for a unix socket, which has none. */
export function reportedPort(s: Server): number {
  return s.family === 0 ? 1 : s.port;
}

export class ServerTable {
  readonly servers: Server[] = [];
  /** used when no regular server can take a client (-e) */
  emergency: Server | undefined;
  /** where clients refused by client_acl go (-B) */
  abuse: Server | undefined;
  /** seconds a failed server is shunned (-b) */
  blacklistTime = 30;

  constructor(readonly board: Scoreboard) {}

  get size(): number {
    return this.servers.length;
  }

  /** The server at index, growing the table with empty slots as pen's `server N …` does. */
  slot(index: number): Server {
    while (this.servers.length <= index) this.servers.push(emptyServer(this.servers.length));
    return this.servers[index]!;
  }

  /** open connections to s, from every thread */
  connections(s: Server): number {
    return this.board.connections(s.slot);
  }

  /** A UDP session to s began: it counts as a connection (and s is no longer blacklisted). */
  openSession(s: Server): void {
    this.board.acquireSession(s.slot);
  }

  closeSession(s: Server): void {
    this.board.releaseSession(s.slot);
  }

  /** second at which s was blacklisted (pen's `status`); 0 = never */
  blacklistedAt(s: Server): number {
    return this.board.blacklistedAt(s.slot);
  }

  checkFailed(s: Server): boolean {
    return this.board.checkFailed(s.slot);
  }

  setCheckFailed(s: Server, failing: boolean): void {
    this.board.setCheckFailed(s.slot, failing);
  }

  /** Counts a health check of s that passed or failed. */
  countCheck(s: Server, passed: boolean): void {
    this.board.countCheck(s.slot, passed);
  }

  /** health checks of s that passed (or failed) so far */
  checks(s: Server, passed: boolean): number {
    return this.board.totalChecks(s.slot, passed);
  }

  /** connections made to s so far, by every thread */
  connects(s: Server): number {
    return this.board.totalConnects(s.slot);
  }

  isBlacklisted(s: Server, now: number): boolean {
    return this.board.checkFailed(s.slot) || now - this.board.blacklistedAt(s.slot) < this.blacklistTime;
  }

  /** An empty slot or a blacklisted server cannot be chosen. */
  isUnavailable(s: Server, now: number): boolean {
    return isEmptySlot(s) || this.isBlacklisted(s, now);
  }

  /** Blacklists s from second `since` on (pen stores the start, and shuns for blacklistTime). */
  blacklist(s: Server, since: number): void {
    this.board.setBlacklistedAt(s.slot, since);
  }

  /** Counts bytes sent to s and received from it (in this thread's row). */
  addSent(s: Server, n: number): void {
    this.board.addSent(s.slot, n);
  }

  addReceived(s: Server, n: number): void {
    this.board.addReceived(s.slot, n);
  }

  /** bytes sent to s and received from it, summed over every thread */
  sent(s: Server): number {
    return this.board.totalSent(s.slot);
  }

  received(s: Server): number {
    return this.board.totalReceived(s.slot);
  }
}
