// Reading the first bytes of a new connection before it is admitted: a PROXY protocol header
// (plain and TLS listeners alike), or the first request head (trusted X-Forwarded-For).
import type { Socket } from 'node:net';
import { parseProxyHeader, type ProxiedAddress } from '../pipelines/proxy-protocol';
import { messageOf } from '../errors';
import { diag } from '../reports/diag';

const READ_AHEAD_MS = 10_000; // a peer that never sends what is awaited is dropped

/**
 * Reads until `complete` answers how many bytes it used (it throws to refuse the peer), then
 * gives the rest back to the stream, paused, and calls onDone with everything read.
 */
export function readAhead(socket: Socket, peer: string, complete: (bytes: Buffer) => number | undefined, onDone: (bytes: Buffer) => void): void {
  let buffered = Buffer.alloc(0);
  socket.on('error', () => {});
  socket.setTimeout(READ_AHEAD_MS, () => socket.destroy());
  const onData = (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    let used: number | undefined;
    try {
      used = complete(buffered);
    } catch (err) {
      diag(`${peer}: ${messageOf(err)}; connection closed`);
      socket.destroy();
      return;
    }
    if (used === undefined) return;
    socket.off('data', onData);
    socket.pause();
    socket.setTimeout(0);
    if (buffered.length > used) socket.unshift(buffered.subarray(used));
    onDone(buffered);
  };
  socket.on('data', onData);
  socket.resume();
}

/** A trusted peer starts with a PROXY header naming the real client; anything else is dropped. */
export function readProxyHeader(socket: Socket, peer: string, onHeader: (header: ProxiedAddress) => void): void {
  let header: ProxiedAddress | undefined;
  readAhead(socket, `PROXY protocol from ${peer}`, (bytes) => (header = parseProxyHeader(bytes))?.length, () => onHeader(header!));
}
