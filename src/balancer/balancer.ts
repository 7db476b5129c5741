// The balancer: from a client address to the ordered list of servers to try (pen's server.c).
import type { Settings } from '../config/settings';
import { AclLists } from './acl';
import { ClientTable, type Client, type ClientTableMemory } from './client-table';
import { Scoreboard, type ScoreboardMemory } from './scoreboard';
import { NO_SERVER, ServerTable, type Server } from './server-table';
import { TrafficCounters } from './traffic-counters';
import { Hash } from './selectors/hash';
import { Prio } from './selectors/prio';
import { RoundRobin } from './selectors/roundrobin';
import type { Choice } from './selectors/selector';
import { Weight } from './selectors/weight';
import { Geo } from '../geo/database';

/**
 * Servers for the client's country, then its continent, then all others. Inside each tier the
 * configured selector's order holds: lowest prio first with `prio`, least loaded first with
 * `weight`, else starting from the selector's own pick (hash, round robin).
 */
function geoTiers(servers: ServerTable, client: Client, first: number, s: Settings): Server[] {
  const table = servers.servers;
  const start = first === NO_SERVER ? 0 : first;
  const ordered = table.map((_, i) => table[(start + i) % table.length]!);
  if (s.prio) ordered.sort((a, b) => a.prio - b.prio);
  else if (s.weight) {
    const load = (v: Server) => (v.weight > 0 ? servers.connections(v) / v.weight : Infinity); // weight 0: only as a last resort
    ordered.sort((a, b) => load(a) - load(b));
  }
  const [inCountry, inContinent, elsewhere]: Server[][] = [[], [], []];
  for (const v of ordered) {
    if (v.geo?.countries.includes(client.country!)) inCountry.push(v);
    else if (client.continent !== undefined && v.geo?.continents.includes(client.continent)) inContinent.push(v);
    else elsewhere.push(v);
  }
  return [...inCountry, ...inContinent, ...elsewhere];
}

export interface Route {
  client: Client;
  /** servers to try, in order; empty = none can take the client (HTTP: 503) */
  candidates: Server[];
  /** refused by client_acl: with no -B server, closed without a word, as pen does (HTTP too) */
  refused?: true;
}

/** What the operator configured in the tables, as plain data for another thread (counters are shared already). */
export interface BalancerConfiguration {
  servers: Server[];
  emergency: Server | undefined;
  abuse: Server | undefined;
  acls: unknown[][];
  geoMappings: unknown[];
}

/** The shared memory behind the balancer's tables, made once and handed to every thread. */
export interface BalancerMemory {
  board: ScoreboardMemory;
  clients: ClientTableMemory;
  /** one row of TrafficCounters per thread */
  traffic: SharedArrayBuffer[];
}

export class Balancer {
  readonly servers: ServerTable;
  readonly clients: ClientTable;
  readonly traffic: TrafficCounters;
  readonly acls = new AclLists();
  readonly geo = new Geo();
  private readonly roundRobin = new RoundRobin();
  private readonly hash = new Hash(() => this.settings.roundrobin);
  private readonly weight = new Weight();
  private readonly prio = new Prio();
  private readonly choice: Choice;

  static memory(settings: Settings): BalancerMemory {
    return { board: Scoreboard.memory(), clients: ClientTable.memory(settings.clientsMax), traffic: [] };
  }

  /** Counters for threads 0 … threads-1, made before they start. */
  static addThreads(memory: BalancerMemory, threads: number): void {
    Scoreboard.addRows(memory.board, threads);
    ClientTable.addRows(memory.clients, threads);
    TrafficCounters.addRows(memory.traffic, threads);
  }

  /** thread: 0 for the main thread, 1… for workers (each counts bytes in its own row) */
  constructor(readonly settings: Settings, memory: BalancerMemory, thread: number) {
    this.servers = new ServerTable(new Scoreboard(memory.board, thread));
    this.choice = { table: this.servers, address: '', port: 0, now: 0 };
    this.clients = new ClientTable(memory.clients, thread);
    this.traffic = new TrafficCounters(memory.traffic, thread);
    this.clients.trackingTime = settings.trackingTime;
    this.acls.geo = this.geo.find;
  }

  /** the server chosen last (pen's `current`), across threads */
  get current(): number {
    return this.servers.board.current;
  }

  configuration(): BalancerConfiguration {
    const t = this.servers;
    return { servers: t.servers, emergency: t.emergency, abuse: t.abuse, acls: this.acls.entries(), geoMappings: this.geo.mapEntries() };
  }

  /** Takes over a configuration made by configuration() in another thread. */
  configure(c: BalancerConfiguration): void {
    const t = this.servers;
    t.servers.splice(0, t.servers.length, ...c.servers);
    t.emergency = c.emergency;
    t.abuse = c.abuse;
    this.acls.replaceAll(c.acls);
    this.geo.replaceMappings(c.geoMappings);
    this.applySettings();
  }

  /** Settings that the tables keep their own copy of, after a change. */
  applySettings(): void {
    this.servers.blacklistTime = this.settings.blacklistTime;
    this.clients.grow(this.settings.clientsMax);
    this.clients.trackingTime = this.settings.trackingTime;
  }

  route(address: string, port: number, now: number): Route {
    const client = this.clients.visit(address, now);
    if (this.geo.active && client.connects === 1) this.clients.locate(client, this.geo.find(address));
    const candidates: Server[] = [];
    if (!this.acls.permits(this.settings.clientAcl, address)) {
      if (this.servers.abuse) candidates.push(this.servers.abuse);
      return { client, candidates, refused: true };
    }
    const first = this.initialServer(client, address, port, now);
    const table = this.servers.servers;
    if (this.settings.geoRouting && client.country !== undefined && !this.keepsItsServer(client, now)) {
      candidates.push(...geoTiers(this.servers, client, first, this.settings));
    } else if (first !== NO_SERVER) {
      candidates.push(table[first]!);
      if (this.settings.stubborn) return { client, candidates };
      for (let i = (first + 1) % table.length; i !== first; i = (i + 1) % table.length) candidates.push(table[i]!);
    }
    // pen 0.34.1 closes the client when no initial server is found; its man page promises the emergency server
    if (this.servers.emergency) candidates.push(this.servers.emergency);
    return { client, candidates };
  }

  /** Stickiness wins over geography while the remembered server is up. */
  private keepsItsServer(client: Client, now: number): boolean {
    const s = this.servers.servers[client.server];
    return !this.settings.roundrobin && s !== undefined && !this.servers.isUnavailable(s, now);
  }

  private initialServer(client: Client, address: string, port: number, now: number): number {
    const s = this.settings;
    if (!s.roundrobin && client.server !== NO_SERVER) return client.server;
    const c = this.choice;
    c.address = address;
    c.port = port;
    c.now = now;
    if (s.prio) return this.prio.pick(c);
    if (s.weight) return this.weight.pick(c);
    if (s.hash || s.hashNoSave) return this.hash.pick(c);
    return this.roundRobin.pick(c);
  }

  /** pen's try_server checks before connecting: port, blacklist, limits, the server's ACL. */
  canTry(server: Server, client: Client, now: number): boolean {
    if (server.port === 0 && server.family !== 0) return false;
    if (this.servers.isBlacklisted(server, now)) return false;
    const c = this.servers.connections(server);
    if (server.maxc !== 0 && c >= server.maxc) {
      const returning = client.server === server.index;
      if (!returning || c >= server.hard) return false;
    }
    return this.acls.permits(server.acl, client.address);
  }

  /** A connection to server succeeded: the client returns to it next time (and it is `current`). */
  remember(server: Server, client: Client): void {
    if (server.index < 0) return;
    this.servers.board.current = server.index;
    if (!this.settings.hashNoSave) this.clients.remember(client, server.index);
  }
}
