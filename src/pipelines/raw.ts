// The relay: bytes both ways with backpressure, half-close passed on, counters updated. Client
// bytes go to the server as they are, or through the HTTP pipeline when one is given.
import type { Socket } from 'node:net';
import type { FastClose } from '../config/settings';

/** What the relay updates and reports; plain data owned by the balancer. */
export interface RelayEnds {
  /** counters of the server: sx = bytes sent to it, rx = bytes received from it */
  server: { sx: number; rx: number };
  /** counters of the client: crx = bytes received from it, csx = bytes sent to it */
  client: { csx: number; crx: number };
}

export interface RelayOptions {
  fastClose: FastClose;
  /** called with each chunk read from the client (request logging); undefined = off */
  onClientChunk: ((chunk: Buffer) => void) | undefined;
  /** passes client bytes to the server (the HTTP pipeline); undefined = as they are */
  upstream: ((chunk: Buffer) => boolean) | undefined;
  /** called once when both sockets are gone */
  onClose: () => void;
}

/** Relays between an accepted client socket (down) and a connected server socket (up). */
export function relayRaw(down: Socket, up: Socket, ends: RelayEnds, options: RelayOptions): void {
  const { server, client } = ends;
  const { onClientChunk, fastClose } = options;
  const toServer = options.upstream ?? ((chunk: Buffer) => up.write(chunk));
  let closed = 0;
  const closeBoth = () => {
    down.destroy();
    up.destroy();
  };
  const onClose = () => {
    if (++closed === 2) options.onClose();
    else closeBoth();
  };

  down.on('data', (chunk: Buffer) => {
    server.sx += chunk.length;
    client.crx += chunk.length;
    if (onClientChunk !== undefined) onClientChunk(chunk);
    if (!toServer(chunk)) down.pause();
  });
  up.on('data', (chunk: Buffer) => {
    server.rx += chunk.length;
    client.csx += chunk.length;
    if (!down.write(chunk)) up.pause();
  });
  up.on('drain', () => down.resume());
  down.on('drain', () => up.resume());

  down.on('end', () => (fastClose === 'down' || fastClose === 'both' ? closeBoth() : up.end()));
  up.on('end', () => (fastClose === 'up' || fastClose === 'both' ? closeBoth() : down.end()));
  down.on('error', closeBoth);
  up.on('error', closeBoth);
  down.on('close', onClose);
  up.on('close', onClose);
}
