// The relay: bytes both ways with backpressure, half-close passed on, counters updated. Client
// bytes go to the server as they are, or through the HTTP pipeline when one is given.
import type { Client, ClientTable } from '../balancer/client-table';
import type { Server, ServerTable } from '../balancer/server-table';
import type { FastClose } from '../config/settings';
import type { Endpoint } from './endpoint';
import type { HttpPipe } from './http';

/** Whose byte counters the relay adds to, and the tables that keep them. */
export interface RelayEnds {
  server: Server;
  client: Client;
  servers: ServerTable;
  clients: ClientTable;
  /** this connection's own byte counts */
  tally: { bytesIn: number; bytesOut: number };
}

/** Writes bytes[from, to) to the server; false when the server socket is full. */
export type ToServer = (bytes: Buffer, from: number, to: number) => boolean;

/** Builds the HTTP pipeline of a connection around plain writes to the server. */
export type HttpPipeline = (toServer: ToServer) => HttpPipe;

export interface RelayOptions {
  fastClose: FastClose;
  /** closes both sides after this long without a byte either way; 0 = never */
  idleMs: number;
  /** called with each chunk read from the client (request logging); undefined = off */
  onClientChunk: ((chunk: Buffer) => void) | undefined;
  /** the HTTP pipeline, which client bytes go through instead of straight to the server */
  http: HttpPipeline | undefined;
  /** called once when both sides are closed */
  onClose: () => void;
}

/** Relays between a client (down) and a connected server (up); returns the HTTP pipeline, when there is one. */
export function relay(down: Endpoint, up: Endpoint, ends: RelayEnds, options: RelayOptions): HttpPipe | undefined {
  const { server, client, servers, clients, tally } = ends;
  const { onClientChunk, fastClose } = options;
  let closed = 0;
  const closeBoth = () => {
    down.flush(); // what was read before the close still goes out
    up.flush();
    down.destroy();
    up.destroy();
  };
  const onClose = () => {
    if (++closed < 2) return closeBoth();
    clearTimeout(idle);
    http?.closed();
    options.onClose();
  };
  down.onend = fastClose === 'down' || fastClose === 'both' ? closeBoth : () => up.end();
  up.onend = fastClose === 'up' || fastClose === 'both' ? closeBoth : () => down.end();
  down.onclose = onClose;
  up.onclose = onClose;
  down.ondrain = () => up.resume();
  up.ondrain = () => down.resume();
  const idle = options.idleMs > 0 ? setTimeout(closeBoth, options.idleMs) : undefined;

  const http = options.http?.((bytes, from, to) => up.write(bytes, from, to));
  const toServer = http?.fromClient ?? ((chunk: Buffer) => up.write(chunk, 0, chunk.length));
  const throughHttp = http?.fromServer;
  down.onchunk = (chunk) => {
    servers.addSent(server, chunk.length);
    clients.addReceived(client, chunk.length);
    tally.bytesIn += chunk.length;
    idle?.refresh();
    if (onClientChunk !== undefined) onClientChunk(chunk);
    return toServer(chunk);
  };
  up.onchunk = (chunk) => {
    servers.addReceived(server, chunk.length);
    clients.addSent(client, chunk.length);
    tally.bytesOut += chunk.length;
    idle?.refresh();
    return throughHttp !== undefined ? throughHttp(chunk) : down.write(chunk, 0, chunk.length);
  };
  down.resume();
  up.resume();
  return http;
}
