// The server table: the one place that knows each server's address, limits and counters.
import type { Endpoint } from '../config/address';
import type { HealthCheck } from '../health/checker';

export const NO_SERVER = -1;

export interface Server extends Endpoint {
  index: number;
  /** soft limit on connections for new clients; 0 = none */
  maxc: number;
  /** hard limit for clients returning to this server; 0 = none */
  hard: number;
  weight: number;
  prio: number;
  /** ACL list a client must pass to use this server (0 = permit all by default) */
  acl: number;
  /** second at which the server was blacklisted (pen's `status`); 0 = never */
  blacklistedAt: number;
  /** open connections */
  c: number;
  /** bytes sent to the server */
  sx: number;
  /** bytes received from the server */
  rx: number;
  /** active health check, and whether it is failing (the server is out of rotation while it is) */
  check?: HealthCheck;
  checkFailed: boolean;
  /** PROXY protocol version to send to this server first (undefined = none) */
  proxyProtocol?: 1 | 2;
  /** countries and continents this server is for (`server N geo …`) */
  geo?: { countries: string[]; continents: string[] };
  /** TLS to this server, verified against ca (default: the system's CAs) */
  tls?: { servername?: string; caFile?: string; ca?: string };
}

export function emptyServer(index: number): Server {
  return {
    index, host: '0.0.0.0', port: 0, family: 4,
    maxc: 0, hard: 0, weight: 0, prio: 0, acl: 0, blacklistedAt: 0, c: 0, sx: 0, rx: 0, checkFailed: false,
  };
}

export class ServerTable {
  readonly servers: Server[] = [];
  /** used when no regular server can take a client (-e) */
  emergency: Server | undefined;
  /** where clients refused by client_acl go (-B) */
  abuse: Server | undefined;
  /** seconds a failed server is shunned (-b) */
  blacklistTime = 30;

  get size(): number {
    return this.servers.length;
  }

  /** The server at index, growing the table with empty slots as pen's `server N …` does. */
  slot(index: number): Server {
    while (this.servers.length <= index) this.servers.push(emptyServer(this.servers.length));
    return this.servers[index]!;
  }

  isBlacklisted(s: Server, now: number): boolean {
    return s.checkFailed || now - s.blacklistedAt < this.blacklistTime;
  }

  /** An empty slot or a blacklisted server cannot be chosen. */
  isUnavailable(s: Server, now: number): boolean {
    return (s.family === 4 && s.host === '0.0.0.0') || this.isBlacklisted(s, now);
  }

  blacklist(s: Server, now: number): void {
    s.blacklistedAt = now;
  }
}
