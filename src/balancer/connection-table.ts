// The connection table: numbered slots (pen's conns[]) bounded by -x / conn_max.
import type { Endpoint } from '../pipelines/endpoint';
import type { Client } from './client-table';
import type { Server } from './server-table';

export interface Connection {
  id: number;
  /** the client */
  down: Endpoint;
  /** the server, once connecting */
  up: Endpoint | undefined;
  client: Client;
  /** the client's port (from a PROXY header when one was given) */
  port: number;
  /** the address the request came from, as X-Forwarded-For reports it */
  seen: string;
  server: Server | undefined;
  /** true once the backend connection is established and counted in server.c */
  counted: boolean;
  /** runs while a backend connection is being made */
  connectTimer: NodeJS.Timeout | undefined;
}

export class ConnectionTable {
  private readonly slots: (Connection | undefined)[] = [];
  private readonly free: number[] = [];
  private used = 0;
  /** highest slot number handed out so far (pen's connections_last) */
  last = 0;

  constructor(public max: number) {}

  get count(): number {
    return this.used;
  }

  /** A free slot for a new connection, or undefined when -x connections are open. */
  open(down: Endpoint, client: Client, port: number, seen: string): Connection | undefined {
    if (this.used >= this.max) return undefined;
    let id = this.free.pop();
    if (id === undefined || id >= this.max) id = this.slots.length;
    const conn: Connection = { id, down, up: undefined, client, port, seen, server: undefined, counted: false, connectTimer: undefined };
    this.slots[id] = conn;
    this.used++;
    if (id > this.last) this.last = id;
    return conn;
  }

  close(conn: Connection): void {
    if (this.slots[conn.id] !== conn) return;
    this.slots[conn.id] = undefined;
    this.free.push(conn.id);
    this.used--;
  }

  get(id: number): Connection | undefined {
    return this.slots[id];
  }

  list(): Connection[] {
    return this.slots.filter((c): c is Connection => c !== undefined);
  }

  grow(max: number): void {
    if (max > this.max) this.max = max;
  }
}
