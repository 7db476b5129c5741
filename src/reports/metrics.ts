// /metrics: the balancer's counters in Prometheus's text format, through prom-client. Every value
// is read from the shared tables when scraped, so one scrape of the main thread covers every
// worker, and nothing is counted twice: prom-client only formats what the tables hold.
import type * as PromClient from 'prom-client';
import type { Balancer } from '../balancer/balancer';
import type { ConnectionTable } from '../balancer/connection-table';
import { serverAddress, type Server } from '../balancer/server-table';

/** What the web reports read: the shared tables, from the main thread. */
export interface ReportTables {
  balancer: Balancer;
  connections: ConnectionTable;
}

type Labels = Record<string, string>;
/** One value of a metric, and its labels. */
type Sample = [Labels, number];

const NO_LABELS: Labels = {};

/** The servers reported, each with its `server` label: the table's by index, then -e and -B. */
function labelledServers(balancer: Balancer): Array<[string, Server]> {
  const table = balancer.servers;
  const servers = table.servers.map((s): [string, Server] => [String(s.index), s]);
  if (table.emergency) servers.push(['emergency', table.emergency]);
  if (table.abuse) servers.push(['abuse', table.abuse]);
  return servers;
}

/** Bytes relayed, over every server: `in` from clients (sent to servers), `out` to clients. */
export function relayedBytes(balancer: Balancer): { in: number; out: number } {
  const table = balancer.servers;
  const bytes = { in: 0, out: 0 };
  for (const [, s] of labelledServers(balancer)) {
    bytes.in += table.sent(s);
    bytes.out += table.received(s);
  }
  return bytes;
}

export class Metrics {
  private readonly registry: PromClient.Registry;

  constructor({ balancer, connections }: ReportTables) {
    // loaded here, by the first `web`: a balancer without metrics does not pay for loading it at start
    const prom = require('prom-client') as typeof PromClient;
    const registry = new prom.Registry();
    this.registry = registry;
    prom.collectDefaultMetrics({ register: registry });
    // gauges named like counters (promtool objects), each the sum of its labelled twin (nodejs_active_handles{type} …)
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(name);
    const table = balancer.servers;
    const traffic = balancer.traffic;
    const seconds = () => Math.floor(Date.now() / 1000);
    const registers = [registry];
    // each reads its values from the tables when scraped (prom-client calls collect first)
    const gauge = (name: string, help: string, labelNames: string[], read: () => Sample[]) => new prom.Gauge({
      name, help, labelNames, registers,
      collect() {
        this.reset();
        for (const [labels, value] of read()) this.set(labels, value);
      },
    });
    const counter = (name: string, help: string, labelNames: string[], read: () => Sample[]) => new prom.Counter({
      name, help, labelNames, registers,
      collect() {
        this.reset();
        for (const [labels, value] of read()) this.inc(labels, value);
      },
    });
    const one = (value: number): Sample[] => [[NO_LABELS, value]];
    const perServer = (value: (s: Server) => number) => () => labelledServers(balancer).map(([server, s]): Sample => [{ server }, value(s)]);

    gauge('pen_connections_active', 'Client connections open now, in every worker', [], () => one(connections.count));
    counter('pen_connections_total', 'Client connections accepted (UDP: sessions started)', [], () => one(traffic.connections));
    counter('pen_bytes_total', 'Bytes relayed: in from clients, out to clients', ['direction'], () => {
      const bytes = relayedBytes(balancer);
      return [[{ direction: 'in' }, bytes.in], [{ direction: 'out' }, bytes.out]];
    });
    gauge('pen_clients', 'Clients in the client table', [], () => one(balancer.clients.size));
    gauge('pen_server_up', 'Whether the server can be chosen: 0 when blacklisted, failing its health check or an empty slot',
      ['server', 'address'], () => {
        const now = seconds();
        return labelledServers(balancer).map(([server, s]): Sample => [{ server, address: serverAddress(s) }, table.isUnavailable(s, now) ? 0 : 1]);
      });
    gauge('pen_server_connections', 'Connections open to the server now', ['server'], perServer((s) => table.connections(s)));
    counter('pen_server_connections_total', 'Connections made to the server', ['server'], perServer((s) => table.connects(s)));
    counter('pen_tls_handshakes_total', 'TLS handshakes with clients, completed (ok) or failed', ['result'], () => [
      [{ result: 'ok' }, traffic.handshakes(true)],
      [{ result: 'failed' }, traffic.handshakes(false)],
    ]);
    counter('pen_http_requests_total', 'HTTP requests passed on to servers (-H)', [], () => one(traffic.requests));
    counter('pen_http_errors_total', "HTTP errors the balancer answered with itself, by status", ['status'],
      () => traffic.httpErrors().map(([status, n]): Sample => [{ status: String(status) }, n]));
    counter('pen_geo_connections_total', 'Client connections by the country geo found for the client', ['country'],
      () => traffic.countries().map(([country, n]): Sample => [{ country }, n]));
    counter('pen_health_checks_total', 'Active health checks of the server, passed or failed', ['server', 'result'],
      () => labelledServers(balancer).filter(([, s]) => s.check || table.checks(s, true) + table.checks(s, false) > 0).flatMap(([server, s]): Sample[] => [
        [{ server, result: 'passed' }, table.checks(s, true)],
        [{ server, result: 'failed' }, table.checks(s, false)],
      ]));
    gauge('pen_workers', 'Worker threads serving clients (1: the main thread serves alone)', [], () => one(balancer.settings.workers));
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text of every metric, read now. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}
