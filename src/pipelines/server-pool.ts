// The connections a thread keeps to one server for the requests of HTTP/2 clients. A request goes
// to the first connection that is idle or, when pipelining allows, that it can wait on behind the
// requests there; else to a new connection while the server's limit (max, else hard) allows;
// otherwise it waits its turn.
import { PerServer } from '../balancer/per-server';
import type { Server } from '../balancer/server-table';
import type { Settings } from '../config/settings';
import { Failure, loopClock, ServerConnection, type ConnectionOwner, type ServerRequest } from './server-connection';

/**
 * A request joins a busy connection only while the server's answers lately began within this
 * time of their request (a moving average), and the oldest request there has waited less than
 * this: a slow server, or a slow request (a long download), gets no requests queued behind it;
 * they get connections of their own. The time is what the balancer waited on the server, not
 * on its own loop (see ServerConnection.waited), so that a busy balancer does not take a fast
 * server for a slow one and stop pipelining just when it needs it most.
 */
const PIPELINE_WINDOW_MS = 10;

export class ServerPool implements ConnectionOwner {
  private readonly connections: ServerConnection[] = [];
  private readonly waiting: ServerRequest[] = [];
  private retired = false;
  /** how long the server's answers took to begin lately (ms, a moving average); none yet: slow */
  private answerMs = Infinity;
  /** the server's latest answer kept its connection open: requests queued behind one would be sent again */
  private keepsAlive = true;

  constructor(private readonly server: Server, private readonly settings: Settings, private readonly proxyHeader?: Buffer) {}

  send(request: ServerRequest): void {
    if (request.cancelled) return;
    const connection = this.choose(request);
    if (connection === undefined) this.waiting.push(request);
    else connection.send(request);
  }

  /** The first connection that takes the request (so that the last ones fall idle and close when fewer are needed), else a new one. */
  private choose(request: ServerRequest): ServerConnection | undefined {
    const depth = this.depth();
    const clock = loopClock();
    for (const connection of this.connections) if (connection.takes(request, depth, PIPELINE_WINDOW_MS, clock)) return connection;
    if (this.connections.length >= (this.server.maxc || this.server.hard || Infinity)) return undefined;
    const connection = new ServerConnection(this.server, this.settings, this, this.proxyHeader);
    this.connections.push(connection);
    return connection;
  }

  /** How many requests a connection may carry at once: `http2_pipeline` toward a server that answers fast and keeps its connections, else one. */
  private depth(): number {
    return this.answerMs < PIPELINE_WINDOW_MS && this.keepsAlive ? this.settings.http2Pipeline : 1;
  }

  heard(ms: number | undefined, keepsAlive: boolean): void {
    this.keepsAlive = keepsAlive;
    if (ms !== undefined) this.answerMs = this.answerMs === Infinity ? ms : this.answerMs + (ms - this.answerMs) / 8;
  }

  answered(connection: ServerConnection): void {
    if (this.retired && connection.idle) return connection.abandon(Failure.Stale, 'retired');
    const depth = this.depth();
    const clock = loopClock();
    while (this.waiting.length > 0 && (this.waiting[0]!.cancelled || connection.takes(this.waiting[0]!, depth, PIPELINE_WINDOW_MS, clock))) {
      const request = this.waiting.shift()!;
      if (!request.cancelled) connection.send(request);
    }
  }

  gone(connection: ServerConnection): void {
    this.connections.splice(this.connections.indexOf(connection), 1);
    // each to where its client's requests go now: another server, when this one failed the client
    for (const request of this.waiting.splice(0)) request.send();
  }

  /** The pool is replaced (the server changed): idle connections close, busy ones after their answers; returns the requests still waiting. */
  retire(): ServerRequest[] {
    this.retired = true;
    for (const connection of [...this.connections]) if (connection.idle) connection.abandon(Failure.Stale, 'retired');
    return this.waiting.splice(0);
  }

  /** Closes every connection (those of an HTTP/2 client that is gone). */
  close(): void {
    this.retired = true;
    for (const connection of [...this.connections]) connection.abandon(Failure.Broken, 'the pool was closed');
  }
}

/** A thread's pools, one per server; a replaced pool hands its waiting requests to the new one. */
export function serverPools(settings: Settings): PerServer<ServerPool> {
  return new PerServer((server) => new ServerPool(server, settings), (old, made) => {
    for (const request of old.retire()) made.send(request);
  });
}
