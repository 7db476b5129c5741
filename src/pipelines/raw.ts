// The relay: bytes both ways with backpressure, half-close passed on, counters updated. Client
// bytes go to the server as they are, or through the HTTP pipeline when one is given.
import type { Socket } from 'node:net';
import type { FastClose } from '../config/settings';
import type { HttpPipe } from './http';
import { readerFor, writerFor } from './socket-io';

/** What the relay updates and reports; plain data owned by the balancer. */
export interface RelayEnds {
  /** counters of the server: sx = bytes sent to it, rx = bytes received from it */
  server: { sx: number; rx: number };
  /** counters of the client: crx = bytes received from it, csx = bytes sent to it */
  client: { csx: number; crx: number };
}

/** Writes bytes[from, to) to the server; false when the server socket is full. */
export type ToServer = (bytes: Buffer, from: number, to: number) => boolean;

/** What the relay gives the HTTP pipeline of a connection. */
export interface RelayHooks {
  /** plain writes to the server */
  toServer: ToServer;
  /** reads the client again after the pipeline paused it */
  resumeClient(): void;
  /** hands what was relayed to the client so far to its socket, before the pipeline writes to it */
  flushClient(): void;
}

/** Builds the HTTP pipeline of a connection. */
export type HttpPipeline = (relay: RelayHooks) => HttpPipe;

export interface RelayOptions {
  fastClose: FastClose;
  /** closes both sockets after this long without a byte either way; 0 = never */
  idleMs: number;
  /** called with each chunk read from the client (request logging); undefined = off */
  onClientChunk: ((chunk: Buffer) => void) | undefined;
  /** the HTTP pipeline, which client bytes go through instead of straight to the server */
  http: HttpPipeline | undefined;
  /** called once when both sockets are gone */
  onClose: () => void;
}

/** Relays between an accepted client socket (down) and a connected server socket (up). */
export function relayRaw(down: Socket, up: Socket, ends: RelayEnds, options: RelayOptions): void {
  const { server, client } = ends;
  const { onClientChunk, fastClose } = options;
  let closed = 0;
  const closeBoth = () => {
    clientWriter.flush(); // what was read before the close still goes out
    serverWriter.flush();
    down.destroy();
    up.destroy();
  };
  const onClose = () => {
    if (++closed === 2) {
      clearTimeout(idle);
      fromClient.release();
      fromServer.release();
      options.onClose();
    } else {
      closeBoth();
    }
  };
  down.on('end', () => (fastClose === 'down' || fastClose === 'both' ? closeBoth() : serverWriter.end()));
  up.on('end', () => (fastClose === 'up' || fastClose === 'both' ? closeBoth() : clientWriter.end()));
  down.on('error', closeBoth);
  up.on('error', closeBoth);
  down.on('close', onClose);
  up.on('close', onClose);
  const idle = options.idleMs > 0 ? setTimeout(closeBoth, options.idleMs) : undefined;

  const serverWriter = writerFor(up, () => fromClient.resume());
  const clientWriter = writerFor(down, () => fromServer.resume());
  const plain: ToServer = (bytes, from, to) => serverWriter.write(bytes, from, to);
  const http = options.http?.({ toServer: plain, resumeClient: () => fromClient.resume(), flushClient: () => clientWriter.flush() });
  const toServer = http?.fromClient ?? ((chunk: Buffer) => plain(chunk, 0, chunk.length));
  const watchServer = http?.fromServer;
  const fromClient = readerFor(down, (chunk) => {
    server.sx += chunk.length;
    client.crx += chunk.length;
    idle?.refresh();
    if (onClientChunk !== undefined) onClientChunk(chunk);
    return toServer(chunk);
  });
  const fromServer = readerFor(up, (chunk) => {
    server.rx += chunk.length;
    client.csx += chunk.length;
    idle?.refresh();
    if (watchServer !== undefined) watchServer(chunk);
    return clientWriter.write(chunk, 0, chunk.length);
  });
}
