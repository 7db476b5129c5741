// Active health checks: `server N check http PATH [expect STATUS]` (undici, one keep-alive
// connection per server) or `check tcp`, every `health_interval` seconds. A failing server is
// taken out of rotation until a check passes again. Every step of a check gives up after -t.
import { connect } from 'node:net';
import type { Pool } from 'undici';
import type { PerServer } from '../balancer/per-server';
import type { Server, ServerTable } from '../balancer/server-table';
import type { Settings } from '../config/settings';
import { diag } from '../reports/diag';
import { checkPools } from './check-pools';

export interface HealthCheck {
  kind: 'http' | 'tcp';
  path?: string;
  /** the status that means healthy; undefined = any 2xx or 3xx */
  expect?: number;
}

export class HealthChecker {
  private timer: NodeJS.Timeout | undefined;
  private readonly pools: PerServer<Pool>;
  /** servers whose check has not finished yet */
  private readonly checking = new Set<Server>();
  private running = false;

  constructor(private readonly servers: ServerTable, private readonly settings: Settings) {
    this.pools = checkPools(settings);
  }

  start(): void {
    this.running = true;
    this.schedule();
  }

  private schedule(): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.round();
      this.schedule();
    }, this.settings.healthInterval * 1000);
    this.timer.unref();
  }

  /**
   * Starts the check of every server that has one, all at once. A server whose previous check is
   * still running is left out: a slow or hung server delays only its own checks, never the others'.
   */
  private round(): void {
    for (const server of this.servers.servers) {
      if (server.check && !this.checking.has(server)) void this.checkOne(server);
    }
  }

  private async checkOne(server: Server): Promise<void> {
    const check = server.check;
    this.checking.add(server);
    const problem = await this.probe(server).catch((err: Error) => err.message);
    this.checking.delete(server);
    if (server.check !== check) return; // changed or turned off meanwhile: this result is stale
    const failing = problem !== undefined;
    if (failing !== this.servers.checkFailed(server)) {
      diag(failing ? `server ${server.index} health check failed: ${problem}` : `server ${server.index} health check passed`);
    }
    this.servers.setCheckFailed(server, failing);
    this.servers.countCheck(server, !failing);
  }

  /** undefined when healthy, else what was wrong. */
  private async probe(server: Server): Promise<string | undefined> {
    const check = server.check!;
    const ms = this.settings.timeout * 1000;
    if (check.kind === 'tcp') {
      return new Promise((resolve) => {
        const s = server.family === 0 ? connect({ path: server.host }) : connect({ host: server.host, port: server.port });
        s.setTimeout(ms, () => { s.destroy(); resolve('connect timeout'); });
        s.once('connect', () => { s.destroy(); resolve(undefined); });
        s.once('error', (err: NodeJS.ErrnoException) => resolve(`connect error ${err.code ?? err.message}`));
      });
    }
    const { statusCode, body } = await this.pools.for(server).request({ path: check.path!, method: 'GET', headersTimeout: ms, bodyTimeout: ms });
    await body.dump();
    const ok = check.expect === undefined ? statusCode >= 200 && statusCode < 400 : statusCode === check.expect;
    return ok ? undefined : `status ${statusCode}`;
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await Promise.all(this.pools.takeAll().map((pool) => pool.destroy()));
  }
}
