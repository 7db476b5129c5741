// pen's reports: the HTML status page (-w, `status`) and the USR1 text statistics.
import type { Balancer } from '../balancer/balancer';
import type { ConnectionTable, QueuedBytes } from '../balancer/connection-table';
import { reportedPort } from '../balancer/server-table';
import { localTimestamp } from './diag';

export interface ReportSources {
  balancer: Balancer;
  connections: ConnectionTable;
  now: number;
  /** bytes waiting in the connections worker threads hold, asked for when the report is made */
  queued?: QueuedBytes;
}

const header = (cells: string[]) =>
  `<table bgcolor="#c0c0c0">\n<tr>\n${cells.map((c) => `<td bgcolor="#80f080">${c}</td>\n`).join('')}</tr>\n`;
const row = (cells: Array<string | number>) => `<tr>\n${cells.map((c) => `<td>${c}</td>\n`).join('')}</tr>\n`;

export function statusPage({ balancer, connections, now, queued }: ReportSources): string {
  const table = balancer.servers;
  const servers = table.servers;
  let html = '<html>\n<head>\n<title>Pen status page</title>\n</head>\n<body bgcolor="#ffffff"><h1>Pen status page</h1>\n';
  html += `Time ${localTimestamp()}, ${servers.length} servers, ${balancer.current} current<p>\n`;
  // extra columns only where pen-edge features are in use, so a pen configuration gets pen's page
  const checks = servers.some((s) => s.check);
  html += header(['server', 'address', 'status', 'port', 'connections', 'max soft', 'max hard', 'sent', 'received', 'weight', 'prio', ...(checks ? ['health'] : [])]);
  for (const s of servers) {
    const health = s.check ? `${s.check.kind} ${table.checkFailed(s) ? 'failing' : 'passing'}` : '-';
    html += row([s.index, s.host, table.blacklistedAt(s), reportedPort(s), table.connections(s), s.maxc, s.hard, table.sent(s), table.received(s),
      s.weight, s.prio, ...(checks ? [health] : [])]);
  }
  html += '</table>\n<h2>Active clients</h2>';
  html += `Max number of clients: ${balancer.clients.max}<p>`;
  const geo = balancer.geo.active;
  html += header(['client', 'address', 'age(secs)', 'last server', 'connects', 'sent', 'received', ...(geo ? ['country'] : [])]);
  for (const c of balancer.clients.list()) {
    html += row([c.slot, c.address, now - c.last, c.server, c.connects, c.csx, c.crx, ...(geo ? [c.country ?? '-'] : [])]);
  }
  html += '</table>\n<h2>Active connections</h2>';
  html += `Number of connections: ${connections.max} max, ${connections.count} used, ${connections.last} last<p>`;
  html += header(['connection', 'downfd', 'upfd', 'pending data down', 'pending data up', 'client', 'server']);
  for (const c of connections.list(queued)) html += row([c.id, c.downfd, c.upfd, c.pendingDown, c.pendingUp, c.client, c.server ?? -1]);
  return html + '</table>\n</body>\n</html>\n';
}

/** The USR1 statistics, one diagnostic line per entry. */
export function textStats({ balancer, connections, now, queued }: ReportSources): string[] {
  const table = balancer.servers;
  const servers = table.servers;
  const lines = [`Time ${localTimestamp()}, ${servers.length} servers, ${balancer.current} current`];
  for (const s of servers) {
    lines.push(`Server ${s.index} status: address ${s.host} port ${reportedPort(s)} blacklisted ${table.blacklistedAt(s)}, ` +
      `${table.connections(s)} connections (${s.maxc} soft, ${s.hard} hard), ${table.sent(s)} sent, ${table.received(s)} received`);
  }
  lines.push(`Max number of clients: ${balancer.clients.max}`, 'Active clients:');
  for (const c of balancer.clients.list()) {
    lines.push(`Client ${c.slot} status: address ${c.address} last used ${now - c.last} last server ${c.server} ` +
      `connects ${c.connects} sent ${c.csx} received ${c.crx}`);
  }
  lines.push(`Max number of connections: ${connections.max}`, 'Active connections:');
  for (const c of connections.list(queued)) {
    lines.push(`Connection ${c.id} status: downfd = ${c.downfd}, upfd = ${c.upfd}, ` +
      `pending data ${c.pendingDown} down, ${c.pendingUp} up, client ${c.client}, server ${c.server ?? -1}`);
  }
  return lines;
}
