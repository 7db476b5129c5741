// Reading the first bytes of a new connection before it is admitted: a PROXY protocol header
// (plain and TLS listeners alike), the first request head (trusted X-Forwarded-For), or a TLS
// ClientHello (to see whether it is ACME's validator).
import type { Socket } from 'node:net';
import { SocketEndpoint, type Endpoint } from '../pipelines/endpoint';
import { parseProxyHeader, type ProxiedAddress } from '../pipelines/proxy-protocol';
import { messageOf } from '../errors';
import { diag } from '../reports/diag';

const READ_AHEAD_MS = 10_000; // a peer that never sends what is awaited is dropped

/**
 * Reads until `complete` answers how many bytes it used (it throws to refuse the peer), then
 * puts the rest back, paused, and calls onDone with everything read.
 */
export function readAhead(client: Endpoint, peer: string, complete: (bytes: Buffer) => number | undefined, onDone: (bytes: Buffer) => void): void {
  let buffered = Buffer.alloc(0);
  const timer = setTimeout(() => client.destroy(), READ_AHEAD_MS);
  client.onclose = () => clearTimeout(timer);
  client.onend = () => client.destroy(); // it ended before saying what was awaited
  client.onchunk = (chunk) => {
    buffered = Buffer.concat([buffered, chunk]); // a copy: the chunk is only lent
    let used: number | undefined;
    try {
      used = complete(buffered);
    } catch (err) {
      diag(`${peer}: ${messageOf(err)}; connection closed`);
      client.destroy();
      return false;
    }
    if (used === undefined) return true;
    clearTimeout(timer);
    client.pause();
    if (buffered.length > used) client.unread(buffered.subarray(used));
    onDone(buffered);
    return true; // onDone decides when reading resumes
  };
  client.resume();
}

/** A trusted peer starts with a PROXY header naming the real client; anything else is dropped. */
export function readProxyHeader(client: Endpoint, peer: string, onHeader: (header: ProxiedAddress) => void): void {
  let header: ProxiedAddress | undefined;
  readAhead(client, `PROXY protocol from ${peer}`, (bytes) => (header = parseProxyHeader(bytes))?.length, () => onHeader(header!));
}

/** The same for a socket still to be handed to the TLS server: it reads on once the header is taken. */
export function readProxyHeaderFromSocket(socket: Socket, peer: string, onHeader: (header: ProxiedAddress) => void): void {
  const client = new SocketEndpoint(socket);
  readProxyHeader(client, peer, (header) => {
    client.detach();
    onHeader(header);
  });
}

/** The first TLS record (a ClientHello) of a socket still to be handed to the TLS server, which then reads it all. */
export function readClientHelloFromSocket(socket: Socket, peer: string, onHello: (record: Buffer) => void): void {
  const client = new SocketEndpoint(socket);
  const wholeRecord = (bytes: Buffer) => (bytes.length >= 5 && bytes.length >= 5 + bytes.readUInt16BE(3) ? 0 : undefined); // 0: none used
  readAhead(client, `TLS from ${peer}`, wholeRecord, (bytes) => {
    client.detach();
    onHello(bytes);
  });
}
