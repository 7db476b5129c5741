// The web endpoint (`web [ADDR:]PORT`), served by the main thread over HTTP: /metrics for
// Prometheus, /status.json, and the dashboard at /. Clients must pass web_acl when it is set.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AclLists } from '../balancer/acl';
import { peerAddress } from '../config/address';
import { messageOf } from '../errors';
import { DASHBOARD_FILES, type WebFile } from '../reports/dashboard';
import { debug, diag } from '../reports/diag';
import type { LiveStatus } from '../reports/live-status';
import type { Metrics } from '../reports/metrics';
import { bind } from './listen';

/** What the endpoint serves besides the dashboard's own files. */
export interface WebReports {
  metrics: Metrics;
  status: LiveStatus;
}

/** Who may connect: clients that ACL list `acl()` permits; everyone while it is undefined. */
export interface WebAccess {
  acls: AclLists;
  acl(): number | undefined;
}

const TEXT = 'text/plain; charset=utf-8';
const HEADERS = {
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  // the page takes its script, style and data from this endpoint and nowhere else
  'Content-Security-Policy': "default-src 'self'",
};

function send(res: ServerResponse, status: number, { type, body }: WebFile, extra: Record<string, string> = {}): void {
  res.writeHead(status, { ...HEADERS, ...extra, 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(body); // nothing goes out after the head of an answer to HEAD
}

async function page(path: string, reports: WebReports): Promise<WebFile | undefined> {
  if (path === '/metrics') return { type: reports.metrics.contentType, body: await reports.metrics.text() };
  if (path === '/status.json') return { type: 'application/json', body: reports.status.json() };
  return DASHBOARD_FILES.get(path);
}

async function answer(req: IncomingMessage, res: ServerResponse, reports: WebReports): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return send(res, 405, { type: TEXT, body: 'only GET and HEAD\n' }, { Allow: 'GET, HEAD' });
  }
  const path = (req.url ?? '/').split('?')[0]!;
  try {
    const found = await page(path, reports);
    if (found) send(res, 200, found);
    else send(res, 404, { type: TEXT, body: `no ${path} here: try /, /metrics or /status.json\n` });
  } catch (err) {
    diag(`web: ${path}: ${messageOf(err)}`);
    send(res, 500, { type: TEXT, body: 'internal error\n' });
  }
}

export class WebEndpoint {
  private constructor(private readonly server: Server) {}

  /** Listens at address (a literal, as lookupListenAddress makes it); rejects with the bind error. */
  static async open(address: string, access: WebAccess, reports: WebReports): Promise<WebEndpoint> {
    const server = createServer((req, res) => void answer(req, res, reports));
    server.on('connection', (socket) => {
      const acl = access.acl();
      const client = peerAddress(socket.remoteAddress);
      if (acl === undefined || access.acls.permits(acl, client)) return;
      debug(1, () => `web: connection from ${client} refused by web_acl`);
      socket.destroy();
    });
    await bind(server, address, 'web', { backlog: 50, reusePort: false });
    return new WebEndpoint(server);
  }

  /** Stops listening; idle keep-alive connections close, a request under way gets its answer. */
  close(): void {
    this.server.close();
  }
}
