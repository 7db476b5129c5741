// One end of a relayed connection, the client or the server, whatever carries it: a libuv handle
// driven directly (plain TCP and unix sockets, see handle-endpoint.ts) or a net.Socket through
// its stream API (TLS, and every socket where the handle interface is not used). The relay and
// the HTTP pipeline see only this.
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

/**
 * Called with each chunk read; false pauses reading. The chunk is valid only until the callback
 * returns: it may be written, but anything kept must be copied.
 */
export type OnChunk = (chunk: Buffer) => boolean;

const nothing = () => {};
const accept: OnChunk = () => true;

export abstract class Endpoint {
  /** chunks read, from resume() on */
  onchunk: OnChunk = accept;
  /** the peer ended its side: no more chunks */
  onend: () => void = nothing;
  /** every write that returned false has gone out */
  ondrain: () => void = nothing;
  /** the endpoint is closed, whatever the reason; called once, after the poll that closed it */
  onclose: () => void = nothing;

  abstract readonly destroyed: boolean;
  /** the file descriptor, as pen's reports show it (-1 when there is none) */
  abstract readonly fd: number;
  /** bytes written that the kernel has not taken yet */
  abstract readonly pending: number;
  /** the TLS socket, when the endpoint is one */
  abstract readonly tls: TLSSocket | undefined;
  /** the peer's address (undefined for unix sockets) and port */
  abstract remote(): { address: string | undefined; port: number };
  /** our own address and port on this connection */
  abstract local(): { address: string; port: number };

  /** Delivers chunks to onchunk until paused. */
  abstract resume(): void;
  abstract pause(): void;
  /** Puts bytes back to be delivered first when reading resumes. */
  abstract unread(bytes: Buffer): void;
  /** Writes bytes[from, to); false when part of them is queued: pause the source until ondrain. */
  abstract write(bytes: Buffer, from: number, to: number): boolean;
  /** Hands what was written so far to the kernel now. */
  abstract flush(): void;
  /** Ends our side after what was written; `sent` is called once it has all gone out. */
  abstract end(sent?: () => void): void;
  /** Closes at once; what is not written yet is dropped. */
  abstract destroy(): void;
}

/** bytes[from, to), without making a view when that is all of it. */
export function range(bytes: Buffer, from: number, to: number): Buffer {
  return from === 0 && to === bytes.length ? bytes : bytes.subarray(from, to);
}

/** An endpoint through a net.Socket's stream API (a socket made with allowHalfOpen). */
export class SocketEndpoint extends Endpoint {
  private readonly listeners: Record<'data' | 'end' | 'drain' | 'error' | 'close', (chunk: Buffer) => void> = {
    data: (chunk: Buffer) => {
      if (!this.onchunk(chunk)) this.socket.pause();
    },
    end: () => this.onend(),
    drain: () => this.ondrain(),
    error: () => this.socket.destroy(), // a TLS error (renegotiation flood) is only emitted; close it
    close: () => this.onclose(),
  };

  /** a TLS socket: it encrypts what it is given as it is written */
  private readonly encrypted: boolean;

  constructor(readonly socket: Socket) {
    super();
    this.encrypted = (socket as Socket & { encrypted?: boolean }).encrypted === true;
    socket.pause(); // attaching 'data' must not start the flow before resume()
    for (const [event, listener] of Object.entries(this.listeners)) socket.on(event, listener);
  }

  /** Leaves the socket as it was before, for another owner (the TLS server, after a PROXY header). */
  detach(): void {
    for (const [event, listener] of Object.entries(this.listeners)) this.socket.off(event, listener);
  }

  get destroyed(): boolean {
    return this.socket.destroyed;
  }

  get fd(): number {
    const handle = (this.socket as unknown as { _handle?: { fd?: number } })._handle;
    return typeof handle?.fd === 'number' ? handle.fd : -1;
  }

  get pending(): number {
    return this.socket.writableLength;
  }

  get tls(): TLSSocket | undefined {
    return (this.socket as TLSSocket).encrypted ? (this.socket as TLSSocket) : undefined;
  }

  remote(): { address: string | undefined; port: number } {
    return { address: this.socket.remoteAddress, port: this.socket.remotePort ?? 0 };
  }

  local(): { address: string; port: number } {
    return { address: this.socket.localAddress ?? '0.0.0.0', port: this.socket.localPort ?? 0 };
  }

  resume(): void {
    this.socket.resume();
  }

  pause(): void {
    this.socket.pause();
  }

  unread(bytes: Buffer): void {
    this.socket.unshift(bytes);
  }

  // A TLS stream that is not busy encrypts the bytes at once, so a borrowed chunk may be written
  // as it is; a busy one keeps it queued, and a plain one keeps what the kernel did not take yet
  // (a buffer the caller fills again would change under it): those get a copy. (Corking writes
  // together cost TLS keep-alive a third of its speed.)
  write(bytes: Buffer, from: number, to: number): boolean {
    const chunk = range(bytes, from, to);
    return this.socket.write(this.encrypted && this.socket.writableLength === 0 ? chunk : Buffer.from(chunk));
  }

  flush(): void {}

  end(sent?: () => void): void {
    this.socket.end(sent);
  }

  destroy(): void {
    this.socket.destroy();
  }
}
