// /status.json: the server table, connections, clients and countries as JSON, with the
// connections and requests per second of the last minutes, for the dashboard (and scripts).
// Read from the shared tables, so it covers every worker; the rates are sampled once a second
// while the web endpoint is open.
import type { Server, ServerTable } from '../balancer/server-table';
import { isEmptySlot, reportedPort } from '../balancer/server-table';
import { relayedBytes, type ReportTables } from './metrics';

/** seconds of history kept, one sample a second */
export const HISTORY_SECONDS = 300;

export interface ServerStatus {
  index: number;
  address: string;
  port: number;
  /** up, blacklisted, failing (its health check) or empty (a slot `server N` made without an address) */
  state: 'up' | 'blacklisted' | 'failing' | 'empty';
  connections: number;
  connectionsTotal: number;
  max: number;
  hard: number;
  weight: number;
  prio: number;
  /** seconds until the blacklisting ends; 0 when not blacklisted */
  blacklistedFor: number;
  health: 'passing' | 'failing' | 'unchecked';
  sent: number;
  received: number;
}

function serverStatus(table: ServerTable, s: Server, now: number): ServerStatus {
  const since = table.blacklistedAt(s);
  const blacklistedFor = since === 0 ? 0 : Math.max(0, since + table.blacklistTime - now);
  const failing = table.checkFailed(s);
  const state = isEmptySlot(s) ? 'empty' : failing ? 'failing' : blacklistedFor > 0 ? 'blacklisted' : 'up';
  return {
    index: s.index, address: s.host, port: reportedPort(s), state, connections: table.connections(s), connectionsTotal: table.connects(s),
    max: s.maxc, hard: s.hard, weight: s.weight, prio: s.prio, blacklistedFor,
    health: s.check ? (failing ? 'failing' : 'passing') : 'unchecked', sent: table.sent(s), received: table.received(s),
  };
}

/** Per-second rates of a counter over the last HISTORY_SECONDS, newest last. */
class RateHistory {
  readonly rates: number[] = [];
  private last = 0;

  constructor(private readonly read: () => number) {}

  /** Starts afresh: a history with a gap (the endpoint closed meanwhile) would read as one without. */
  begin(): void {
    this.rates.length = 0;
    this.last = this.read();
  }

  sample(seconds: number): void {
    const now = this.read();
    this.rates.push(Math.round(((now - this.last) / seconds) * 10) / 10);
    if (this.rates.length > HISTORY_SECONDS) this.rates.shift();
    this.last = now;
  }
}

export class LiveStatus {
  private readonly connectionRates: RateHistory;
  private readonly requestRates: RateHistory;
  private timer: NodeJS.Timeout | undefined;
  private sampledAt = 0;

  constructor(private readonly tables: ReportTables) {
    const traffic = tables.balancer.traffic;
    this.connectionRates = new RateHistory(() => traffic.connections);
    this.requestRates = new RateHistory(() => traffic.requests);
  }

  /** Samples the rates once a second from now on (again: nothing changes). */
  start(): void {
    if (this.timer) return;
    this.sampledAt = Date.now();
    this.connectionRates.begin();
    this.requestRates.begin();
    this.timer = setInterval(() => {
      const now = Date.now();
      const seconds = (now - this.sampledAt) / 1000;
      this.sampledAt = now;
      this.connectionRates.sample(seconds);
      this.requestRates.sample(seconds);
    }, 1000).unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The status now, as the JSON text /status.json serves. */
  json(): string {
    const { balancer, connections } = this.tables;
    const table = balancer.servers;
    const traffic = balancer.traffic;
    const now = Math.floor(Date.now() / 1000);
    const clientsBy = balancer.clients.countByCountry();
    const connectionsBy = new Map(traffic.countries());
    const countries = [...new Set([...clientsBy.keys(), ...connectionsBy.keys()])].sort()
      .map((country) => ({ country, clients: clientsBy.get(country) ?? 0, connections: connectionsBy.get(country) ?? 0 }));
    return JSON.stringify({
      time: now,
      pid: process.pid,
      workers: balancer.settings.workers,
      connections: { active: connections.count, max: connections.max, total: traffic.connections },
      bytes: relayedBytes(balancer),
      http: { requests: traffic.requests, errors: Object.fromEntries(traffic.httpErrors()) },
      tls: { ok: traffic.handshakes(true), failed: traffic.handshakes(false) },
      clients: { count: balancer.clients.size, max: balancer.clients.max },
      countries,
      servers: table.servers.map((s) => serverStatus(table, s, now)),
      history: { seconds: 1, connections: this.connectionRates.rates, requests: this.requestRates.rates },
    });
  }
}
